"""DataCollector: a session's categorized metadata (metadata.json) and last-session settings (config.h5).

Two kinds of data are collected:

* **parameters** of registered owners (:class:`rigbook.collectors.Parametrized`
  objects created with ``tree=collector``). They go into metadata.json and
  into config.h5, from which the next start restores them;
* **static data** added with :meth:`DataCollector.add_static_data`: it belongs
  to one session, goes into metadata.json only and is cleared by
  :meth:`DataCollector.new_session`.

Typical use by the app::

    collector = DataCollector(folder_path=session_folder, instance_number=-1)
    gratings = Parametrized(name="stimulus/protocol/gratings", tree=collector, params=...)
    report = collector.restore_from_saved()       # RestoreReport: show report.summary()
    collector.new_session()                       # at each start of recording
    collector.add_static_data("nacre", "animal/line")
    collector.record_file(folder / "streams" / "tail.arrows")
    collector.end_session()
    collector.save(session_folder)                # metadata.json + config.h5
"""

import datetime
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np
from lightparam import ParameterTree

from rigbook.collectors import provenance
from rigbook.collectors.metadata_json import dumps, is_table, to_json_value
from rigbook.collectors.metadata_layout import CATEGORIES, MetadataTree, join_path, split_name
from rigbook.collectors.restore import (
    UNREADABLE,
    ClampedSetting,
    RestoreReport,
    SkippedSetting,
    apply_setting,
)
from rigbook.storage.atomic import atomic_open
from rigbook.storage.config_store import ConfigStore, StoredSetting, config_path
from rigbook.storage.ids import is_valid_id, validate_id
from rigbook.storage.tables import check_format, format_path, write_table

__all__ = ["CATEGORIES", "METADATA_FORMAT", "ClampedSetting", "DataCollector", "RestoreReport", "SkippedSetting"]

logger = logging.getLogger(__name__)

#: Value of the top-level ``"rigbook_format"`` key of metadata.json.
METADATA_FORMAT = 1
METADATA_FILE = "metadata.json"


#: Keys of ``general`` that the collector fills itself; static data may not use them.
PROVENANCE_KEYS = (
    "start_time",
    "end_time",
    "monotonic_origin",
    "instance_number",
    "software",
    "platform",
    "host",
    "experiment_code",
    "files",
)


def _default_experiment_code():
    # The user's experiment is the script that was started, unless that is Rigbook itself.
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file:
        return None
    main_file = Path(main_file).resolve()
    rigbook_dir = Path(__file__).resolve().parent.parent
    if rigbook_dir in main_file.parents:
        return None
    return main_file


def _convert_datetimes(value):
    if isinstance(value, dict):
        return {k: _convert_datetimes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_convert_datetimes(v) for v in value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, np.datetime64)):
        return to_json_value(value)
    return value


def _without_tables(value):
    if isinstance(value, dict):
        return {k: _without_tables(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_tables(v) for v in value]
    return None if is_table(value) else value


def _check_json(entry, path):
    to_json_value(_without_tables(entry), path)


def _table_shape(table):
    if hasattr(table, "num_rows"):
        return table.num_rows, list(table.column_names)
    return len(table), [c if isinstance(c, str) else str(c) for c in table.columns]


def _file_name_for(parts):
    name = re.sub(r"[^\w.-]+", "_", "_".join(parts)).lstrip(".") or "table"
    return name if is_valid_id(name) else "table"


class DataCollector(ParameterTree):
    """Collects a session's parameters and static data; writes metadata.json and config.h5.

    A :class:`lightparam.ParameterTree`: every :class:`Parametrized` created
    with ``tree=collector`` is registered under its ``name`` (an owner path
    such as ``"stimulus/protocol/gratings"``).

    Parameters
    ----------
    *data_tuples_list : tuple
        ``(entry, name)`` pairs of static data describing the rig. Unlike
        :meth:`add_static_data` entries, they are kept across sessions.
    extra_settings : dict, optional
        More rig-level metadata, ``{name: value}`` with the same name
        conventions; kept across sessions.
    instance_number : int
        ``-1`` for the default instance; instances running side by side use
        different numbers and so different config files.
    folder_path : str or Path, optional
        Default destination of :meth:`save`.
    experiment_code : str or Path, optional
        A file or folder of the user's experiment code whose git commit is
        recorded. Default: the script that was started (``__main__``),
        unless that is Rigbook itself.
    config_folder : str or Path, optional
        Where config files live; default :func:`rigbook.storage.config_store.config_dir`.
    table_format : str
        Format of the files :meth:`save_json_log` writes for tables that have
        none yet (see :meth:`get_clean_dict`); one of ``rigbook.storage.FORMATS``.
    """

    def __init__(
        self,
        *data_tuples_list,
        extra_settings=None,
        instance_number=-1,
        folder_path=None,
        experiment_code=None,
        config_folder=None,
        table_format="csv",
    ):
        super().__init__()
        self.instance_number = instance_number
        self.folder_path = Path(folder_path) if folder_path else None
        self.table_format = check_format(table_format)
        self.config_store = ConfigStore(config_path(instance_number, config_folder))
        self._stored = None
        self._rig_data = {}
        self._static_data = {}
        self._table_files = {}
        self._tables_written = {}
        self._recorded_files = []
        self._end_time = None
        code = experiment_code if experiment_code is not None else _default_experiment_code()
        self.experiment_code = Path(code) if code is not None else None
        self._git = None
        self.new_session()
        for item in data_tuples_list:
            if not isinstance(item, tuple) or len(item) != 2:
                raise TypeError(f"data tuples are (entry, name) pairs, got {item!r}")
            entry, name = item
            _check_json(entry, join_path(split_name(name)))
            self._add_entry(self._rig_data, entry, name)
        for name, value in dict(extra_settings or {}).items():
            _check_json(value, join_path(split_name(name)))
            self._add_entry(self._rig_data, value, name)

    # -- parameter owners -------------------------------------------------------------

    def add(self, parametrized):
        """Register a parameter owner under its ``name`` (replacing one of the same name).

        Raises
        ------
        ValueError
            If the name is not an owner path like ``"stimulus/protocol/gratings"``,
            or its parameters collide with static data in the metadata.
        """
        name = parametrized.name
        if not isinstance(name, str) or not name:
            raise ValueError(f"a parameter owner needs a name like 'stimulus/protocol', got {name!r}")
        for part in name.split("/"):
            validate_id(part, kind=f"part of the parameter owner name {name!r}")
        previous = self.tracked.get(name)
        if previous is not None and previous is not parametrized:
            logger.info("parameter owner %r replaced by a new object", name)
        super().add(parametrized)
        try:
            self._layout()
        except ValueError:
            if previous is None:
                del self.tracked[name]
            else:
                self.tracked[name] = previous
            raise

    add_param_tree = add

    def remove(self, name):
        """Unregister the owner ``name``; its saved settings stay in config.h5."""
        self.tracked.pop(name, None)

    # -- static data ------------------------------------------------------------------

    def add_static_data(self, entry, name="unspecified_entry", file=None):
        """Add data to this session's metadata.

        Parameters
        ----------
        entry : object
            Any value the JSON rules accept (see :mod:`rigbook.collectors.metadata_json`),
            a dict of them, or a table (pandas DataFrame, pyarrow Table).
        name : str
            ``"category/name"`` (nested: ``"animal/screening/image"``) or
            ``"category_name"``; see :mod:`rigbook.collectors.metadata_layout`.
            Adding the same name again replaces the entry.
        file : str or Path, optional
            For a table: the file where the caller saved it (relative to the
            session folder, or absolute). metadata.json then refers to that file.

        Raises
        ------
        TypeError
            If ``entry`` holds a value metadata.json cannot (the message names
            its key path), so the problem shows when the data is added, not
            when the session is saved.
        ValueError
            If ``name`` is malformed, is one the collector fills itself
            (``general/start_time``, ...), or collides with another entry or a
            parameter owner.
        """
        parts = split_name(name)
        _check_json(entry, join_path(parts))
        parts = self._add_entry(self._static_data, entry, name)
        if file is not None:
            if not is_table(entry):
                self._static_data.pop(tuple(parts))
                raise ValueError(f"{name}: file= is only for tables, not for a {type(entry).__name__}")
            self._table_files[join_path(parts)] = Path(file)
        else:
            self._table_files.pop(join_path(parts), None)

    def _add_entry(self, target, entry, name):
        parts = split_name(name)
        if parts[0] == "general" and len(parts) > 1 and parts[1] in PROVENANCE_KEYS:
            raise ValueError(f"{name}: general/{parts[1]} is filled by the DataCollector itself; choose another name")
        key = tuple(parts)
        previous = target.get(key, _MISSING)
        target[key] = entry
        try:
            self._layout()
        except ValueError:
            if previous is _MISSING:
                del target[key]
            else:
                target[key] = previous
            raise
        return parts

    def record_file(self, path):
        """Note a file the session wrote; metadata.json lists it with its size at save time.

        Relative paths are taken relative to the folder metadata.json is saved in.
        Files inside the saved-to session folder are found without this.
        """
        path = Path(path)
        if path not in self._recorded_files:
            self._recorded_files.append(path)

    # -- sessions ---------------------------------------------------------------------

    def new_session(self, t0=None):
        """Start a new session: clear static data, recorded files and times, stamp the start.

        Parameters
        ----------
        t0 : float, optional
            The session's monotonic clock origin (``time.monotonic()`` seconds,
            e.g. the accumulators' ``t0``); default: now.
        """
        now_monotonic = time.monotonic()
        self.monotonic_origin = float(now_monotonic if t0 is None else t0)
        self.start_time = provenance.now_with_timezone() - datetime.timedelta(
            seconds=now_monotonic - self.monotonic_origin
        )
        self._end_time = None
        self._static_data = {}
        self._table_files = {}
        self._tables_written = {}
        self._recorded_files = []
        if self.experiment_code is not None:
            self._git = provenance.git_state(self.experiment_code)

    def end_session(self):
        """Stamp the end time (saving without this uses the time of saving)."""
        self._end_time = provenance.now_with_timezone()

    def set_experiment_code(self, path):
        """Record the git state of the experiment code at ``path`` (None: no code recorded)."""
        self.experiment_code = Path(path) if path is not None else None
        self._git = provenance.git_state(self.experiment_code) if self.experiment_code is not None else None

    # -- metadata ---------------------------------------------------------------------

    def _provenance(self):
        return {
            "start_time": self.start_time,
            "end_time": self._end_time,
            "monotonic_origin": self.monotonic_origin,
            "instance_number": self.instance_number,
            "software": provenance.software_versions(),
            "platform": provenance.platform_info(),
            "host": provenance.host_name(),
            "experiment_code": self._git
            if self._git is not None
            else (
                {"path": str(self.experiment_code), "repository": None, "commit": None, "dirty": None}
                if self.experiment_code
                else None
            ),
        }

    def _layout(self):
        tree = MetadataTree()
        tree.insert(["general"], self._provenance(), "the DataCollector")
        for parts, entry in self._rig_data.items():
            tree.insert(list(parts), entry, f"rig data {join_path(parts)!r}")
        for parts, entry in self._static_data.items():
            tree.insert(list(parts), entry, f"static data {join_path(parts)!r}")
        for owner, parametrized in self.tracked.items():
            tree.insert(split_name(owner), dict(parametrized.params.values), f"parameter owner {owner!r}")
        return tree.root

    def get_clean_dict(self, eliminate_df=False, convert_datetime=False):
        """The session's metadata as a nested dict, first level by category.

        Categories ``general``, ``animal``, ``stimulus``, ``imaging``,
        ``behavior``, ``camera`` are always there; other first-level names
        become further categories. ``general`` holds the provenance:
        ``start_time``, ``end_time`` (None until :meth:`end_session` or
        saving), ``monotonic_origin``, ``instance_number``, ``software``
        (versions of Python, Rigbook and dependencies), ``platform``,
        ``host``, ``experiment_code`` (``path``, ``repository``, ``commit``,
        ``dirty``, ``branch``; None when there is no code to record).

        Parameters
        ----------
        eliminate_df : bool
            Replace each table by a reference ``{"file": <path>, "rows": n,
            "columns": [...]}``. ``file`` is the path given to
            :meth:`add_static_data` or the file :meth:`save_json_log` wrote
            for it (named ``<category>_<name>.<table_format>`` next to
            metadata.json); it is None for a table not saved yet.
        convert_datetime : bool
            Turn datetimes into ISO 8601 strings.

        Raises
        ------
        ValueError
            If two entries claim the same key.
        """
        return self._clean_dict(eliminate_df, convert_datetime, folder=None)

    def _clean_dict(self, eliminate_df, convert_datetime, folder):
        clean = self._layout()
        if eliminate_df:
            clean = self._replace_tables(clean, [], folder)
        if convert_datetime:
            clean = _convert_datetimes(clean)
        return clean

    def _replace_tables(self, value, parts, folder):
        if isinstance(value, dict):
            return {k: self._replace_tables(v, parts + [str(k)], folder) for k, v in value.items()}
        if isinstance(value, list):
            return [self._replace_tables(v, parts + [str(i)], folder) for i, v in enumerate(value)]
        if not is_table(value):
            return value
        key = join_path(parts)
        file = self._table_files.get(key)
        if file is None and folder is not None:
            file = self._write_table(value, key, parts, folder)
        rows, columns = _table_shape(value)
        shown = None
        if file is not None:
            shown = provenance.file_entry(file, folder)["path"] if folder is not None else str(file)
        return {"file": shown, "rows": rows, "columns": columns}

    def _write_table(self, table, key, parts, folder):
        target = self._tables_written.get(key)
        if target is None or target.parent != Path(folder):
            stem = _file_name_for(parts)
            target = format_path(Path(folder) / stem, self.table_format)
            counter = 1
            taken = set(self._tables_written.values())
            while target.exists() or target in taken:
                target = format_path(Path(folder) / f"{stem}_{counter}", self.table_format)
                counter += 1
        # The target is free or this collector's own earlier copy of the table.
        written = write_table(table, target, self.table_format, overwrite=True)
        self._tables_written[key] = written
        return written

    def save_json_log(self, output_path):
        """Write metadata.json, atomically; return its path.

        Parameters
        ----------
        output_path : str or Path
            A folder (created if needed; ``metadata.json`` is written inside
            and every file in it is listed as written by the session) or a
            path ending in ``.json`` (only recorded and table files are listed).

        The file holds ``"rigbook_format": 1`` and the categories of
        :meth:`get_clean_dict` with tables eliminated (written to their own
        file when they have none) and ``general/files``: ``[{"path", "size"}]``
        with paths relative to the metadata's folder.

        Raises
        ------
        TypeError
            If a value cannot go into JSON (the message names its key path);
            nothing is written then.
        """
        output_path = Path(output_path)
        if output_path.suffix.lower() == ".json":
            target, scan = output_path, False
        else:
            target, scan = output_path / METADATA_FILE, True
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = target.parent
        # dumps() converts datetimes itself, following the same rules: no separate pass for them.
        clean = self._clean_dict(eliminate_df=True, convert_datetime=False, folder=folder)
        general = clean["general"]
        if general.get("end_time") is None:
            general["end_time"] = provenance.now_with_timezone().isoformat()
        general["files"] = self._session_files(folder, target, scan)
        text = dumps({"rigbook_format": METADATA_FORMAT, **clean})
        with atomic_open(target, "w", encoding="utf-8") as f:
            f.write(text)
        logger.info("session metadata written to %s", target)
        return target

    def _session_files(self, folder, target, scan):
        entries = provenance.files_in(folder, exclude={target.name}) if scan else []
        listed = {e["path"] for e in entries}
        extra = list(self._recorded_files) + list(self._tables_written.values())
        for path in extra:
            entry = provenance.file_entry(path, folder)
            if entry["path"] not in listed and entry["path"] != target.name:
                entries.append(entry)
                listed.add(entry["path"])
        return entries

    # -- config.h5 --------------------------------------------------------------------

    @property
    def config_path(self):
        """The config file of this instance."""
        return self.config_store.path

    def restore_from_saved(self, owners=None):
        """Set the registered parameters to the values saved in config.h5.

        Each saved value whose path exists and whose type still fits is set
        (numbers outside the limits are clamped); every other one is
        skipped and reported. Never raises for a bad file or value: an
        unreadable file is moved aside and reported.

        Parameters
        ----------
        owners : iterable of str, optional
            Restore only these owners (e.g. one registered after start-up).

        Returns
        -------
        RestoreReport
        """
        existed = self.config_store.exists()
        self._stored = self.config_store.load()
        report = RestoreReport(
            config_path=self.config_path,
            found=existed and self.config_store.problem is None,
            problem=self.config_store.problem,
            moved_to=self.config_store.moved_to,
        )
        wanted = set(owners) if owners is not None else None
        for path, reason in self.config_store.unreadable.items():
            report.skipped.append(SkippedSetting(path, UNREADABLE, reason))
        for owner, settings in self._stored.items():
            if wanted is not None and owner not in wanted:
                continue
            parametrized = self.tracked.get(owner)
            for name, setting in settings.items():
                apply_setting(parametrized, owner, name, setting, report)
        if report.skipped or report.clamped:
            logger.info("%s", report.summary())
        return report

    def deserialize(self, restore_dict):
        """Apply a nested ``{owner parts...: {param: value}}`` dict the way a restore does.

        Unlike lightparam's, nothing is silently dropped: the returned
        :class:`RestoreReport` lists what was applied, clamped and skipped.
        """
        report = RestoreReport(config_path=None, found=True)
        flat = {}

        def walk(node, parts):
            for key, value in node.items():
                owner = "/".join(parts)
                if owner in self.tracked and not isinstance(value, dict):
                    flat.setdefault(owner, {})[key] = value
                elif isinstance(value, dict):
                    walk(value, parts + [key])
                else:
                    flat.setdefault(owner, {})[key] = value

        walk(restore_dict, [])
        for owner, values in flat.items():
            for name, value in values.items():
                apply_setting(self.tracked.get(owner), owner, name, StoredSetting(value, type(value).__name__), report)
        return report

    def get_last_value(self, class_param_key):
        """The value saved in config.h5 for ``"owner/path/param"``.

        Raises
        ------
        KeyError
            If config.h5 holds no such setting (the message names it).
        """
        if self._stored is None:
            self._stored = self.config_store.load()
        owner, _, name = class_param_key.rpartition("/")
        try:
            return self._stored[owner][name].value
        except KeyError:
            raise KeyError(f"no saved value for {class_param_key!r} in {self.config_path}") from None

    def save_config_file(self):
        """Write config.h5 with the current parameter values, atomically; return its path.

        Settings of owners that are not registered in this run are kept as
        they were. A value config.h5 cannot hold is left out with a warning.
        """
        settings = {
            owner: {name: param.value for name, param in parametrized.params.items().items()}
            for owner, parametrized in self.tracked.items()
        }
        path = self.config_store.save(settings, keep_other_owners=True, skip_unstorable=True)
        self._stored = None  # get_last_value reads the file again when asked
        return path

    def save(self, output_path=""):
        """Write metadata.json (see :meth:`save_json_log`) and config.h5; return metadata.json's path.

        ``output_path`` defaults to ``folder_path``.
        """
        destination = output_path or self.folder_path
        if not destination:
            raise ValueError("no output path: pass save(output_path) or create the DataCollector with folder_path")
        try:
            return self.save_json_log(destination)
        finally:
            # The settings are worth keeping even when the metadata could not be written.
            self.save_config_file()


_MISSING = object()
