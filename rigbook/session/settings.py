"""A rig's session settings: where to store, who is recorded, which protocol; per-rig config.h5.

Each rig (by name, and instance number) has its own last-session settings in
its own folder of the user config folder, so a custom rig never restores,
nor reports as not restored, the parameters of another rig.
"""

import hashlib
import json
import logging
import os
import re
from pathlib import Path

from rigbook import resources
from rigbook.collectors import DataCollector
from rigbook.collectors.params import Param, Parametrized
from rigbook.storage import FORMATS
from rigbook.storage.config_store import config_dir

logger = logging.getLogger(__name__)

#: Owner of the session panel's fields in the DataCollector (and config.h5).
SESSION_OWNER = "general/session"
#: Environment variable that overrides the default storage root.
DATA_DIR_VARIABLE = "RIGBOOK_DATA_DIR"


def default_storage_root():
    """The storage root of a first start, absolute.

    ``$RIGBOOK_DATA_DIR`` when set, else ``resources/defaults.json``'s
    ``session.storage_root`` when that is not empty, else ``Rigbook`` in the
    user's documents folder (``~/Documents/Rigbook``; on Windows
    ``C:\\Users\\<you>\\Documents\\Rigbook``).
    """
    configured = os.environ.get(DATA_DIR_VARIABLE) or resources.defaults()["session"]["storage_root"]
    if configured:
        return absolute_root(configured)
    import platformdirs

    return Path(platformdirs.user_documents_dir()) / "Rigbook"


def absolute_root(root):
    """``root`` with ``~`` expanded, made absolute against the current folder."""
    text = str(root).strip()
    if not text:
        raise ValueError("no storage root given")
    return Path(os.path.abspath(os.path.expanduser(text)))


def rig_config_folder(rig_name, base=None):
    """The folder of one rig's config files: ``<config dir>/rigs/<slug>``.

    The slug keeps the rig's name readable and adds a short hash, so two
    names that differ only by characters a file name cannot hold stay apart.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", rig_name).strip("-.") or "rig"
    digest = hashlib.sha256(rig_name.encode("utf-8")).hexdigest()[:8]
    return Path(base if base is not None else config_dir()) / "rigs" / f"{slug[:60]}-{digest}"


def make_collector(rig, instance_number=-1, config_folder=None):
    """The DataCollector of ``rig``, whose config.h5 is the rig's own."""
    return DataCollector(instance_number=instance_number,
                         config_folder=rig_config_folder(rig.name, config_folder))


def session_params(collector, rig):
    """Register and return the ``general/session`` owner with its first-start values."""
    first_start = resources.defaults()["session"]
    return Parametrized(
        name=SESSION_OWNER,
        tree=collector,
        params=dict(
            storage_root=Param(str(default_storage_root()), desc="storage root"),
            subject_id=Param(first_start["subject_id"], desc="subject ID"),
            task_id=Param(first_start["task_id"], desc="task ID"),
            protocol=Param(next(iter(rig.protocols), ""), desc="protocol"),
            formats=Param(",".join(first_start["formats"]), desc="export formats"),
        ),
    )


#: Formats of the whole session (one file per task), beside the per-stream table formats.
SESSION_FORMATS = ("nwb",)
#: Every export format a session can end with.
EXPORT_FORMATS = tuple(FORMATS) + SESSION_FORMATS


def missing_format_support(fmt):
    """What installs support for export format ``fmt``, or None when it is there.

    Looked up without importing anything: a recording must not find out at
    its end that it cannot write the format asked for.
    """
    import importlib.util

    if fmt == "nwb" and importlib.util.find_spec("pynwb") is None:
        return "pip install 'rigbook[nwb]' (or pip install pynwb)"
    return None


def check_formats(formats):
    """The export formats as a list, each checked.

    Raises
    ------
    ValueError
        An unknown format, or one whose library is not installed (the
        message says what to install), before anything is recorded.
    """
    formats = [str(f).strip().lower() for f in formats if str(f).strip()]
    for fmt in formats:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; formats are {', '.join(EXPORT_FORMATS)}")
        missing = missing_format_support(fmt)
        if missing:
            raise ValueError(f"export format {fmt!r} needs a library that is not installed: {missing}")
    return formats


def describe_restore(report):
    """Turn a DataCollector RestoreReport into ``(level, text)`` messages for the user."""
    if report is None:
        return []
    messages = []
    if report.problem:
        messages.append(("error", report.problem))
    for item in report.clamped:
        messages.append(("warning", f"{item.path}: saved value {item.saved!r} is outside the limits "
                                    f"{item.limits!r}; restored as {item.applied!r}"))
    for item in report.skipped:
        level = "info" if item.reason == "unknown path" else "warning"
        detail = item.detail or item.reason
        messages.append((level, f"not restored: {item.path} ({item.reason}): {detail}"))
    messages.append(("info", report.summary()))
    return messages


def parse_assignment(text):
    """``"owner/param=value"`` -> ``(path, value)``; the value is JSON when it parses, else a string.

    ``speed=12.5`` gives a float, ``closed_loop=false`` a bool,
    ``direction=backward`` the string ``"backward"``.
    """
    path, sep, raw = str(text).partition("=")
    path = path.strip()
    if not sep or "/" not in path:
        raise ValueError(f"--set {text!r}: expected owner/param=value, e.g. "
                         "stimulus/protocol/gratings/speed=12.5")
    raw = raw.strip()
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def apply_settings(collector, assignments, source="--set"):
    """Set parameters by path (``{"owner/param": value}``) with the editors' checks.

    Raises
    ------
    ValueError
        An unknown owner or parameter (the message lists the known ones), or a
        value refused by the parameter (wrong type, outside its limits).
    """
    applied = {}
    for path, value in assignments.items():
        owner_name, _, param_name = str(path).rpartition("/")
        owner = collector.tracked.get(owner_name)
        if owner is None:
            known = ", ".join(sorted(collector.tracked))
            raise ValueError(f"{source} {path}: no parameter owner {owner_name!r}; owners are {known}")
        names = list(owner.params.values)
        if param_name not in names:
            raise ValueError(f"{source} {path}: {owner_name} has no parameter {param_name!r}; "
                             f"it has {', '.join(names)}")
        try:
            setattr(owner, param_name, value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source} {path}: {error}") from None
        applied[path] = getattr(owner, param_name)
    return applied


def read_params_file(path):
    """The ``{"owner/param": value}`` of a ``--params FILE.json``; nested dicts are flattened.

    ``{"stimulus/protocol/gratings": {"speed": 5}}`` and
    ``{"stimulus/protocol/gratings/speed": 5}`` say the same.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"--params {path}: cannot be read: {error.strerror or error}") from None
    except ValueError as error:
        raise ValueError(f"--params {path}: not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--params {path}: expected a JSON object of owner/param: value")
    flat = {}

    def walk(prefix, node):
        for key, value in node.items():
            path_ = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, dict):
                walk(path_, value)
            else:
                flat[path_] = value

    walk("", data)
    return flat
