"""config.h5: the settings of the last session, one HDF5 group per parameter owner.

Layout (format 2, readable with plain h5py)::

    config.h5
      attrs: rigbook_config_format = 2, written = "<ISO 8601 time>"
      stimulus/                      groups follow the owner path
        protocol/
          gratings/
            .settings                dataset (), UTF-8 JSON text:
                                     {"speed": {"type": "float", "value": 12.5},
                                      "mode": {"type": "str", "value": "sine"}}

    with h5py.File(path) as f:
        settings = json.loads(f["stimulus/protocol/gratings/.settings"][()])
        speed, kind = settings["speed"]["value"], settings["speed"]["type"]

Each owner's parameters are one JSON object mapping each name to its value
and its type name (see :mod:`rigbook.storage.config_setting`), so a save
costs one dataset per owner, not one per parameter; a group is an owner when
it holds a ``.settings`` dataset. The dataset's name starts
with a dot, which no owner path part can (see :mod:`rigbook.storage.ids`), so
it never clashes with a nested owner. JSON here allows ``NaN``,
``Infinity`` and ``-Infinity`` (Python's ``json`` reads them).

Files of format 1 (one dataset per parameter, written by earlier versions)
are still read (:mod:`rigbook.storage.config_format1`); the next save writes
format 2.

The file lives in :func:`config_dir` (``platformdirs`` user config folder,
or ``$RIGBOOK_CONFIG_DIR``); each app instance number has its own file. Writes
replace the file atomically. A file that cannot be read is moved aside (its
name gets ``.unreadable-<timestamp>``), a warning is logged, and loading
returns nothing, so the defaults apply.
"""

import datetime
import functools
import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np
from h5py import h5a, h5d, h5f, h5g, h5p, h5s, h5t

from rigbook.storage.atomic import atomic_open
from rigbook.storage.config_format1 import read_format1
from rigbook.storage.config_setting import StoredSetting, decode_setting, encode_setting
from rigbook.storage.ids import is_valid_id, validate_id

__all__ = [
    "CONFIG_FORMAT",
    "ConfigStore",
    "StoredSetting",
    "config_dir",
    "config_path",
    "encode_setting",
]

logger = logging.getLogger(__name__)

CONFIG_FORMAT = 2
#: Formats :meth:`ConfigStore.load` reads.
READABLE_FORMATS = (1, 2)
FORMAT_ATTR = "rigbook_config_format"
_STR = h5py.string_dtype("utf-8")
#: Name of the dataset holding an owner's settings, inside the owner's group.
SETTINGS_NAME = ".settings"


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


@functools.lru_cache(maxsize=4096)
def _known_valid(name):
    # The same names are saved again and again: check each once.
    return is_valid_id(name)


def _check_name(name, kind):
    if not (isinstance(name, str) and _known_valid(name)):
        validate_id(name, kind=kind)  # raises, naming it


def _json_text(entries):
    text = json.dumps(entries, ensure_ascii=False, allow_nan=True)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from undecodable file names) cannot be UTF-8: escape everything instead.
        text = json.dumps(entries, ensure_ascii=True, allow_nan=True)
    return text


def _owner_groups(owners):
    # Every group path an owner path makes: "a/b" -> {"a", "a/b"}.
    paths = set()
    for owner in owners:
        parts = owner.split("/") if owner else []
        paths.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return paths


def _check_format(f):
    version = f.attrs.get(FORMAT_ATTR)
    if version is None:
        raise ValueError("not a Rigbook config file (no format attribute)")
    if int(version) not in READABLE_FORMATS:
        raise ValueError(f"config format {int(version)} is not supported (Rigbook reads {READABLE_FORMATS})")
    return int(version)


def _owner_datasets(f):
    # {owner: name of its settings dataset} in a format-2 file.
    datasets = {}
    suffix = "/" + SETTINGS_NAME

    def visit(name):
        if name == SETTINGS_NAME or name.endswith(suffix):
            datasets[name[: -len(suffix)] if name != SETTINGS_NAME else ""] = name

    f.visit(visit)
    return datasets


def _decode_owner(owner, text, settings, unreadable):
    entries = json.loads(text)
    if not isinstance(entries, dict):
        raise ValueError(f"the settings of {owner!r} are not a JSON object")
    decoded = settings.setdefault(owner, {})
    for name, entry in entries.items():
        path = f"{owner}/{name}" if owner else name
        try:
            if not isinstance(entry, dict) or set(entry) != {"type", "value"}:
                raise ValueError(f"expected {{'type': ..., 'value': ...}}, got {entry!r}")
            decoded[name] = decode_setting(entry["type"], entry["value"])
        except Exception as error:  # noqa: BLE001  (one bad entry does not spoil the rest)
            unreadable[path] = f"{type(error).__name__}: {error}"


def _file_image(entries):
    """The bytes of the whole file, built in memory: one write() then, not HDF5's many small ones.

    Built with h5py's low-level API, which costs a third of the high-level one
    for these few objects; the file is the same to any reader.
    """
    access = h5p.create(h5p.FILE_ACCESS)
    access.set_fapl_core(backing_store=False)
    access.set_libver_bounds(h5f.LIBVER_V18, h5f.LIBVER_LATEST)  # compact groups: half the bytes
    fid = h5f.create(b"config.h5", h5f.ACC_TRUNC, fapl=access)
    try:
        text_in_file = h5t.py_create(_STR, logical=True)  # variable-length UTF-8
        text_in_memory = h5t.py_create(_STR)
        scalar = h5s.create(h5s.SCALAR)
        h5a.create(fid, FORMAT_ATTR.encode(), h5t.STD_I64LE, scalar).write(np.array(CONFIG_FORMAT, dtype="<i8"))
        written = datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat()
        h5a.create(fid, b"written", text_in_file, scalar).write(np.array(written, dtype=_STR), mtype=text_in_memory)
        utf8_names = h5p.create(h5p.LINK_CREATE)
        utf8_names.set_char_encoding(h5t.CSET_UTF8)  # owner names may be any Unicode: say so to every reader
        groups = set()
        for owner in entries:
            parts = owner.split("/") if owner else []
            for depth in range(1, len(parts) + 1):
                group = "/".join(parts[:depth])
                if group not in groups:
                    h5g.create(fid, group.encode("utf-8"), lcpl=utf8_names).close()
                    groups.add(group)
        for owner, owner_entries in entries.items():
            name = f"{owner}/{SETTINGS_NAME}" if owner else SETTINGS_NAME
            dataset = h5d.create(fid, name.encode("utf-8"), text_in_file, scalar, lcpl=utf8_names)
            dataset.write(h5s.ALL, h5s.ALL, np.array(_json_text(owner_entries), dtype=_STR), mtype=text_in_memory)
        h5f.flush(fid)
        return fid.get_file_image()
    finally:
        fid.close()


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
        After :meth:`load`: ``{"owner/param": reason}`` for single entries that
        could not be decoded (``{"owner": reason}`` when none of an owner's could).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.problem = None
        self.moved_to = None
        self.unreadable = {}
        self._last_written = None  # (file signature, owners) of this store's last save

    def _signature(self):
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

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
        return self._load()

    def _load(self, skip_owners=()):
        # load(), leaving out the owners in skip_owners (they are not even decoded).
        self.problem = None
        self.moved_to = None
        self.unreadable = {}
        if not self.path.exists():
            return {}
        try:
            return self._read(skip_owners)
        except Exception as error:  # noqa: BLE001  (any failure means: unreadable, use defaults)
            self._move_aside(f"{type(error).__name__}: {error}")
            return {}

    def _read(self, skip_owners):
        settings = {}
        with h5py.File(self.path, "r", locking=False) as f:
            if _check_format(f) == 1:
                stored = read_format1(f, self.unreadable)
                return {owner: params for owner, params in stored.items() if owner not in skip_owners}
            for owner, name in _owner_datasets(f).items():
                if owner in skip_owners:
                    continue
                try:
                    _decode_owner(owner, f[name][()], settings, self.unreadable)
                except Exception as error:  # noqa: BLE001  (one bad owner does not spoil the rest)
                    self.unreadable[owner] = f"{type(error).__name__}: {error}"
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

    def save(self, settings, keep_other_owners=False, skip_unstorable=False):
        """Replace the file with ``settings``, atomically.

        Parameters
        ----------
        settings : dict
            ``{owner_path: {param_name: value or StoredSetting}}``. Owner paths
            use ``/`` between levels (``"stimulus/protocol/gratings"``).
        keep_other_owners : bool
            Keep the settings of owners that are in the file but not in
            ``settings``, as they were (only those are read from the file).
            A file that cannot be read is moved aside, as by :meth:`load`.
        skip_unstorable : bool
            Leave out a value config.h5 cannot hold, with a warning, instead of
            raising TypeError.

        Raises
        ------
        TypeError
            If a value cannot be stored and ``skip_unstorable`` is False
            (nothing is written then).
        ValueError
            If an owner path part or parameter name is not a valid ID (see
            :func:`rigbook.storage.ids.validate_id`), or a parameter has the
            path of an owner.
        """
        for owner in settings:
            for part in owner.split("/") if owner else []:
                _check_name(part, f"part of the parameter owner path {owner!r}")
        entries = {owner: self._encode_owner(owner, params, skip_unstorable) for owner, params in settings.items()}
        if keep_other_owners and not self._holds_only(settings):
            kept = self._load(skip_owners=set(settings))  # an unreadable file is moved aside: nothing to keep
            entries = {**{owner: self._encode_owner(owner, p, True) for owner, p in kept.items()}, **entries}
        self._check_paths(entries)
        image = _file_image(entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._last_written = None
        with atomic_open(self.path, "wb") as f:
            f.write(image)
        self._last_written = (self._signature(), frozenset(entries))
        return self.path

    def _holds_only(self, owners):
        # Whether the file is still the one this store last wrote, holding no owner outside ``owners``:
        # then there is nothing to keep, and it need not be read (the usual save after a save).
        if self._last_written is None:
            return False
        signature, written = self._last_written
        return signature is not None and signature == self._signature() and written <= set(owners)

    @staticmethod
    def _encode_owner(owner, params, skip_unstorable):
        entries = {}
        for name, value in params.items():
            _check_name(name, f"parameter name in owner {owner!r}")
            path = f"{owner}/{name}" if owner else name
            try:
                type_name, plain = encode_setting(value, path)
            except TypeError as error:
                if not skip_unstorable:
                    raise
                logger.warning("%s; it is not saved", error)
                continue
            entries[name] = {"type": type_name, "value": plain}
        return entries

    @staticmethod
    def _check_paths(entries):
        # "owner/param" must name one thing: a parameter cannot sit where an owner's group is.
        groups = _owner_groups(entries)
        for owner, owner_entries in entries.items():
            for name in owner_entries:
                path = f"{owner}/{name}" if owner else name
                if path in groups:
                    raise ValueError(f"parameter {path!r} has the same path as a parameter owner")
