"""config.h5: the settings of the last session, one HDF5 group per parameter owner.

Layout (readable with plain h5py)::

    config.h5
      attrs: rigbook_config_format = 1, written = "<ISO 8601 time>"
      stimulus/                      groups follow the owner path
        protocol/
          gratings/                  attrs: rigbook_owner = True
            speed    dataset ()      attrs: type = "float"
            mode     dataset ()      attrs: type = "str"

    with h5py.File(path) as f:
        speed = f["stimulus/protocol/gratings/speed"][()]
        kind = f["stimulus/protocol/gratings/speed"].attrs["type"]

Each parameter is one dataset holding its value, with the attribute ``type``:
``bool``, ``int`` (int64, or its decimal string when it does not fit),
``float``, ``str`` (UTF-8), ``none`` (an empty dataset), ``tuple`` / ``list``
(a 1-D array of numbers, bools or strings) or ``json`` (JSON text for
anything nested).

The file lives in :func:`config_dir` (``platformdirs`` user config folder,
or ``$RIGBOOK_CONFIG_DIR``); each app instance number has its own file. Writes
replace the file atomically. A file that cannot be read is moved aside (its
name gets ``.unreadable-<timestamp>``), a warning is logged, and loading
returns nothing, so the defaults apply.
"""

import datetime
import json
import logging
import os
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from rigbook.storage.atomic import atomic_path
from rigbook.storage.ids import validate_id

__all__ = [
    "CONFIG_FORMAT",
    "ConfigStore",
    "StoredSetting",
    "config_dir",
    "config_path",
    "encode_setting",
]

logger = logging.getLogger(__name__)

CONFIG_FORMAT = 1
FORMAT_ATTR = "rigbook_config_format"
OWNER_ATTR = "rigbook_owner"
TYPE_ATTR = "type"
_INT64 = np.iinfo(np.int64)
_STR = h5py.string_dtype("utf-8")


class StoredSetting(NamedTuple):
    """One saved parameter: its decoded ``value`` and the ``type`` name it was saved with."""

    value: object
    type: str


def config_dir():
    """The folder of config files: ``$RIGBOOK_CONFIG_DIR`` if set, else the platform's user config folder."""
    override = os.environ.get("RIGBOOK_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("rigbook", appauthor=False))


def config_path(instance_number=-1, folder=None):
    """The config file of one app instance.

    Parameters
    ----------
    instance_number : int
        ``-1`` (the default instance) uses ``config.h5``; ``n >= 0`` uses
        ``config_<n>.h5``, so instances running side by side keep their own settings.
    folder : str or Path, optional
        Default: :func:`config_dir`.
    """
    if isinstance(instance_number, bool) or not isinstance(instance_number, (int, np.integer)):
        raise TypeError(f"instance_number must be an int, not {type(instance_number).__name__}")
    if instance_number < -1:
        raise ValueError(f"instance_number must be -1 or >= 0, not {instance_number}")
    folder = Path(folder) if folder is not None else config_dir()
    name = "config.h5" if instance_number == -1 else f"config_{int(instance_number)}.h5"
    return folder / name


def _plain_text(value):
    # HDF5 variable-length strings hold UTF-8 without NUL; anything else goes as JSON text.
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _homogeneous_array(items, path):
    if all(isinstance(v, (bool, np.bool_)) for v in items):
        return np.array(items, dtype=bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items):
        if all(_INT64.min <= int(v) <= _INT64.max for v in items):
            return np.array([int(v) for v in items], dtype=np.int64)
        return None
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in items):
        return np.array(items, dtype=np.float64)
    if all(isinstance(v, str) and _plain_text(v) for v in items):
        return np.array(items, dtype=_STR)
    return None


def _all_plain(value):
    if isinstance(value, str):
        return _plain_text(value)
    if isinstance(value, dict):
        return all(_all_plain(k) and _all_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_all_plain(v) for v in value)
    return True


def encode_setting(value, path="value"):
    """``(type name, data for h5py)`` for one parameter value.

    Raises
    ------
    TypeError
        If the value cannot be stored (the message names ``path``).
    """
    if isinstance(value, StoredSetting):
        return encode_stored(value, path)
    if value is None:
        return "none", h5py.Empty("f8")
    if isinstance(value, (bool, np.bool_)):
        return "bool", np.bool_(value)
    if isinstance(value, (int, np.integer)):
        value = int(value)
        if _INT64.min <= value <= _INT64.max:
            return "int", np.int64(value)
        return "int", np.array(str(value), dtype=_STR)
    if isinstance(value, (float, np.floating)):
        return "float", np.float64(value)
    if isinstance(value, str) and _plain_text(value):
        return "str", np.array(value, dtype=_STR)
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        array = _homogeneous_array(list(value), path) if len(value) else np.zeros(0)
        if array is not None:
            return kind, array
    try:
        text = json.dumps(value, ensure_ascii=not _all_plain(value), allow_nan=True)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"cannot store setting {path!r} of type {type(value).__name__} in config.h5: {error}"
        ) from None
    return "json", np.array(text, dtype=_STR)


def encode_stored(setting, path):
    """Re-encode a :class:`StoredSetting` read from a file, keeping its saved type."""
    type_name, data = encode_setting(setting.value, path)
    if setting.type in ("tuple", "list") and type_name in ("tuple", "list"):
        type_name = setting.type
    return type_name, data


def decode_setting(dataset):
    """The :class:`StoredSetting` held by one dataset; ValueError if its type is unknown."""
    type_name = dataset.attrs.get(TYPE_ATTR)
    if isinstance(type_name, bytes):
        type_name = type_name.decode()
    raw = dataset[()]
    if type_name == "none":
        return StoredSetting(None, "none")
    if type_name == "bool":
        return StoredSetting(bool(raw), "bool")
    if type_name == "int":
        return StoredSetting(int(raw.decode() if isinstance(raw, bytes) else raw), "int")
    if type_name == "float":
        return StoredSetting(float(raw), "float")
    if type_name == "str":
        return StoredSetting(raw.decode() if isinstance(raw, bytes) else str(raw), "str")
    if type_name in ("tuple", "list"):
        items = [v.decode() if isinstance(v, bytes) else v.item() for v in np.asarray(raw)]
        return StoredSetting(tuple(items) if type_name == "tuple" else items, type_name)
    if type_name == "json":
        return StoredSetting(json.loads(raw.decode() if isinstance(raw, bytes) else raw), "json")
    raise ValueError(f"unknown setting type {type_name!r}")


class ConfigStore:
    """Read and write one config.h5 file.

    Parameters
    ----------
    path : str or Path
        The file, e.g. ``config_path(instance_number)``.

    Attributes
    ----------
    problem : str or None
        After :meth:`load`: why the file could not be read (it was moved aside), else None.
    moved_to : Path or None
        Where the unreadable file was moved.
    unreadable : dict
        After :meth:`load`: ``{"owner/param": reason}`` for single entries that could not be decoded.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.problem = None
        self.moved_to = None
        self.unreadable = {}

    def exists(self):
        """True if the file exists."""
        return self.path.is_file()

    def load(self):
        """Read every stored setting.

        Returns
        -------
        dict
            ``{owner_path: {param_name: StoredSetting}}``; empty if the file
            does not exist or could not be read (then it was moved aside and
            :attr:`problem` says why).
        """
        self.problem = None
        self.moved_to = None
        self.unreadable = {}
        if not self.path.exists():
            return {}
        try:
            return self._read()
        except Exception as error:  # noqa: BLE001  (any failure means: unreadable, use defaults)
            self._move_aside(f"{type(error).__name__}: {error}")
            return {}

    def _read(self):
        settings = {}
        with h5py.File(self.path, "r", locking=False) as f:
            version = f.attrs.get(FORMAT_ATTR)
            if version is None:
                raise ValueError("not a Rigbook config file (no format attribute)")
            if int(version) != CONFIG_FORMAT:
                raise ValueError(f"config format {int(version)} is not supported (expected {CONFIG_FORMAT})")

            def visit(name, node):
                if not isinstance(node, h5py.Dataset):
                    return
                owner, _, param = name.rpartition("/")
                try:
                    settings.setdefault(owner, {})[param] = decode_setting(node)
                except Exception as error:  # noqa: BLE001  (one bad entry does not spoil the rest)
                    self.unreadable[name] = f"{type(error).__name__}: {error}"

            f.visititems(visit)
        return settings

    def _move_aside(self, reason):
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.unreadable-{stamp}")
        counter = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.unreadable-{stamp}-{counter}")
            counter += 1
        try:
            os.replace(self.path, target)
            self.moved_to = target
            where = f"it was moved to {target}"
        except OSError as error:
            where = f"it could not be moved aside either ({error})"
        self.problem = f"the settings file {self.path} could not be read ({reason}); {where}; defaults are used"
        logger.warning("%s", self.problem)

    def save(self, settings):
        """Replace the file with ``settings``, atomically.

        Parameters
        ----------
        settings : dict
            ``{owner_path: {param_name: value or StoredSetting}}``. Owner paths
            use ``/`` between levels (``"stimulus/protocol/gratings"``).

        Raises
        ------
        TypeError
            If a value cannot be stored (nothing is written then).
        ValueError
            If an owner path part or parameter name is not a valid ID (see
            :func:`rigbook.storage.ids.validate_id`), or a parameter has the
            path of a nested owner.
        """
        encoded = {}
        for owner, params in settings.items():
            for part in owner.split("/") if owner else []:
                validate_id(part, kind=f"part of the parameter owner path {owner!r}")
            for name, value in params.items():
                validate_id(name, kind=f"parameter name in owner {owner!r}")
                path = f"{owner}/{name}" if owner else name
                encoded[path] = encode_setting(value, path)
        group_paths = {"/".join(o.split("/")[: i + 1]) for o in settings if o for i in range(len(o.split("/")))}
        clashes = sorted(set(encoded) & group_paths)
        if clashes:
            raise ValueError(f"parameter {clashes[0]!r} has the same path as a parameter owner")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            with h5py.File(tmp, "w", locking=False) as f:
                f.attrs[FORMAT_ATTR] = CONFIG_FORMAT
                f.attrs["written"] = datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat()
                for owner in settings:
                    group = f.require_group(owner) if owner else f
                    group.attrs[OWNER_ATTR] = True
                for path, (type_name, data) in encoded.items():
                    dataset = f.create_dataset(path, data=data)
                    dataset.attrs[TYPE_ATTR] = type_name
        return self.path
