"""HDF5 storage of trajectories with h5py (pypet's HDF5StorageService, without its slowness).

Contract (the Environment and the multiprocessing wrappers rely on it)
----------------------------------------------------------------------
* ``service.store(msg, stuff_to_store, *args, **kwargs)`` and
  ``service.load(msg, stuff_to_load, *args, **kwargs)`` with the messages of
  :mod:`rigbook.trajectory.pypetconstants`: ``TRAJECTORY``, ``SINGLE_RUN``,
  ``LEAF``, ``GROUP``, ``TREE``, ``LIST``, ``DELETE``, ``DELETE_LINK``,
  ``BACKUP``, ``PREPARE_MERGE``, ``MERGE`` (always refused: merging is done
  item by item by the trajectory), ``ACCESS_DATA``, ``OPEN_FILE``,
  ``CLOSE_FILE``, ``FLUSH``. Every call accepts ``trajectory_name=`` (and
  ``filename=``); unknown messages raise :class:`NoSuchServiceError`, missing
  data :class:`DataNotInStorageError`.
* ``store(LIST, [(msg, item, args, kwargs), ...])`` does several operations in
  one file opening.
* ``store(OPEN_FILE, None)`` keeps the file open (``is_open`` is then true)
  until ``store(CLOSE_FILE, None)``; meanwhile per-run rows are buffered and
  written in blocks, so one writer stores thousands of runs quickly. ``FLUSH``
  writes the buffers and flushes the file.
* ``store(SINGLE_RUN, traj_or_payload, store_data=..., store_final=True)``
  stores the new nodes of the current run (``traj.v_idx``) and, with
  ``store_final``, its run information (completed flag, timing). The stuff may
  be the trajectory or ``traj._run_payload()`` (small and picklable).
* ``multiproc_safe`` is False: wrap the service for several processes.
  Pickling the service drops the open h5py handle and its buffers (flush
  first), and the copy never removes the file (``overwrite_file`` acts once,
  when the original is created).

Layout (read it with plain h5py; ``import hdf5plugin`` first for blosc)
-----------------------------------------------------------------------
::

    /                                   attrs: title, rigbook_trajectories (JSON list, order of creation)
    /<trajectory name>/                 attrs: rigbook_format (format version, int), rigbook_version,
                                        name, comment, timestamp, time, python, length,
                                        explored_parameters (JSON list), hdf5_settings (JSON),
                                        dynamic_imports (JSON)
      config/ parameters/ derived_parameters/ results/ <other groups>/
          one HDF5 group per group node (attrs __comment__, __annotations__, __links__)
          and per leaf (attrs __leaf__, __class__, __comment__, __annotations__, __items__):
          numeric scalars and strings are attributes of their native type, arrays are
          datasets, DataFrames are groups with one dataset per column, anything else
          is a tagged-JSON string attribute (codec.py); __items__ (JSON) says which.
          An explored parameter has a column group ``explored_data`` (see h5columns.py).
      _run_data/results/<leaf path relative to its run>/
      _run_data/derived_parameters/<leaf path relative to its run>/
          the leaves of every run_XXXXXXXX, column-wise: attrs __class__, __comment__
          (of the first run) and one column group per item plus ``__meta__``
          (run_idx: the runs having that leaf; values: '' or JSON with the class /
          comment / annotations of runs that differ from the first).
      _runs/                            run information, one row per run: completed,
                                        timestamp, finish_timestamp, time, runtime,
                                        parameter_summary, short_environment_hexsha
      _overview/<table>/                overview tables, one dataset per column, attr ``columns``

For example, result ``z`` of every run of trajectory ``traj``::

    with h5py.File(path, "r") as f:
        runs = f["traj/_run_data/results/z/z/run_idx"][...]   # run index of each row
        z = f["traj/_run_data/results/z/z/values"][...]       # one row per run

Group nodes inside a run (``results.runs.run_00000001.sub``) are not stored
as such: they are re-created from the leaves' paths, without comments or
annotations (put those on the leaves).

Files written by another Rigbook version with the same format number load;
a newer format number is refused unless ``force=True``.
"""

import json
import logging
import os
import time

import h5py
import numpy as np

from rigbook.trajectory import codec, trust
from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.errors import DataNotInStorageError, NoSuchServiceError, VersionMismatchError
from rigbook.trajectory.h5columns import ColumnBuffer, append_column
from rigbook.trajectory.h5links import restore_links, restore_run_links
from rigbook.trajectory.h5runinfo import RunInfoTable
from rigbook.trajectory.records import RunPayload, leaf_record, register_default_service
from rigbook.trajectory.storeload import TreeIO

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_COMPLIBS = ("zlib", "gzip", "lzf", "blosc")
_FLUSH_ROWS = 20000
_FLUSH_SECONDS = 1.0


class HDF5StorageService(TreeIO):
    """Stores trajectories in HDF5 files with h5py; see the module docstring for contract and layout.

    Parameters
    ----------
    filename : str, optional
        HDF5 file. ``None`` means ``./hdf5/<trajectory name>.hdf5``; a folder
        (ending in a separator) means ``<folder>/<trajectory name>.hdf5``.
    file_title : str, optional
        Title attribute of a new file.
    overwrite_file : bool
        Remove an existing file now, when the service is created (pypet's rule).
    complevel : int
        0 (no compression) to 9.
    complib : {'zlib', 'gzip', 'lzf', 'blosc'}
        Compression filter; blosc needs ``import hdf5plugin`` to read. ``'lzo'`` is refused.
    shuffle, fletcher32 : bool
        HDF5 shuffle and checksum filters.
    """

    multiproc_safe = False

    def __init__(self, filename=None, file_title=None, overwrite_file=False, encoding="utf8", complevel=9,
                 complib="zlib", shuffle=True, fletcher32=False, pandas_format="fixed",
                 purge_duplicate_comments=True, summary_tables=True, small_overview_tables=True,
                 large_overview_tables=False, results_per_run=0, derived_parameters_per_run=0,
                 display_time=20, trajectory=None):
        if complib == "lzo":
            raise ValueError("complib 'lzo' is not available in h5py; use 'zlib' (or 'gzip'), 'lzf' or 'blosc'")
        if complib not in _COMPLIBS:
            raise ValueError(f"complib {complib!r} is not one of {', '.join(_COMPLIBS)}")
        if not isinstance(complevel, (int, np.integer)) or isinstance(complevel, bool) or not 0 <= complevel <= 9:
            raise ValueError(f"complevel must be an integer from 0 to 9, got {complevel!r}")
        if pandas_format not in ("fixed", "f", "table", "t"):
            raise ValueError(f"pandas_format must be 'fixed' or 'table', got {pandas_format!r}")
        if encoding.replace("-", "").lower() != "utf8":
            raise ValueError(f"encoding {encoding!r} is not supported: HDF5 strings are stored as UTF-8")
        self._filename = os.fspath(filename) if filename is not None else None
        self.file_title = file_title
        self.overwrite_file = bool(overwrite_file)
        self.encoding = "utf8"
        self.complevel = int(complevel)
        self.complib = complib
        self.shuffle = bool(shuffle)
        self.fletcher32 = bool(fletcher32)
        self.pandas_format = pandas_format
        self.purge_duplicate_comments = bool(purge_duplicate_comments)
        self.summary_tables = bool(summary_tables)
        self.small_overview_tables = bool(small_overview_tables)
        self.large_overview_tables = bool(large_overview_tables)
        self.results_per_run = results_per_run
        self.derived_parameters_per_run = derived_parameters_per_run
        self.display_time = display_time
        self._file = None
        self._keep_open = False
        self._buffer = ColumnBuffer()
        self._leaf_heads = {}
        self._run_info = RunInfoTable()
        self._groups = {}
        self._last_flush = time.monotonic()
        self._filters = self._make_filters()
        if trajectory is not None and self._filename is None:
            self._filename = self._default_filename(trajectory.v_name)
        elif trajectory is not None:
            self._filename = self._resolve(self._filename, trajectory.v_name)
        if trajectory is not None:
            self._add_config_to(trajectory)
        if self.overwrite_file and self._filename is not None:
            self._remove_old_file()

    def _remove_old_file(self):
        # pypet's rule: once, when the service is made; at the first store it would wipe
        # what another service for the same file has stored since.
        if os.path.exists(self._filename):
            logger.info("overwrite_file: removing %s", self._filename)
            os.remove(self._filename)
        self.overwrite_file = False

    def _add_config_to(self, traj):
        """Record the settings as ``config.hdf5.*`` parameters of the trajectory, as pypet does."""
        settings = {
            "complib": self.complib, "complevel": self.complevel, "shuffle": self.shuffle,
            "fletcher32": self.fletcher32, "pandas_format": self.pandas_format, "encoding": self.encoding,
            "purge_duplicate_comments": self.purge_duplicate_comments, "results_per_run": int(self.results_per_run),
            "derived_parameters_per_run": int(self.derived_parameters_per_run),
            "overview.summary_tables": self.summary_tables,
            "overview.small_overview_tables": self.small_overview_tables,
            "overview.large_overview_tables": self.large_overview_tables,
        }
        for name, value in settings.items():
            if f"config.hdf5.{name}" not in traj._flat:
                traj.f_add_config(f"hdf5.{name}", value, comment="Setting of the HDF5StorageService")

    # settings ------------------------------------------------------------------------
    def _make_filters(self):
        filters = {}
        if self.complevel > 0:
            if self.complib in ("zlib", "gzip"):
                filters = {"compression": "gzip", "compression_opts": self.complevel, "shuffle": self.shuffle}
            elif self.complib == "lzf":
                filters = {"compression": "lzf", "shuffle": self.shuffle}
            else:
                import hdf5plugin

                shuffle = hdf5plugin.Blosc.SHUFFLE if self.shuffle else hdf5plugin.Blosc.NOSHUFFLE
                filters = dict(hdf5plugin.Blosc(cname="lz4", clevel=self.complevel, shuffle=shuffle))
        if self.fletcher32:
            filters["fletcher32"] = True
        return filters

    def settings(self):
        """The constructor arguments (what ``hdf5_settings`` in the file records)."""
        return {
            "filename": self._filename, "file_title": self.file_title, "encoding": self.encoding,
            "complevel": self.complevel, "complib": self.complib, "shuffle": self.shuffle,
            "fletcher32": self.fletcher32, "pandas_format": self.pandas_format,
            "purge_duplicate_comments": self.purge_duplicate_comments, "summary_tables": self.summary_tables,
            "small_overview_tables": self.small_overview_tables,
            "large_overview_tables": self.large_overview_tables, "results_per_run": self.results_per_run,
            "derived_parameters_per_run": self.derived_parameters_per_run,
        }

    def for_file(self, filename, **overrides):
        """A new service with these settings for another file (``f_load(filename=...)``, ``f_migrate``).

        ``file_title`` is not carried over, ``overwrite_file`` never is.
        """
        settings = self.settings()
        settings.update(filename=filename, file_title=None)
        settings.update(overrides)
        return type(self)(**settings)

    @property
    def filename(self):
        """Path of the HDF5 file."""
        return self._filename

    @property
    def is_open(self):
        """Whether the file is kept open between calls (``OPEN_FILE`` ... ``CLOSE_FILE``)."""
        return self._keep_open and self._file is not None

    @staticmethod
    def _default_filename(name):
        return os.path.join(".", "hdf5", f"{name}.hdf5")

    @staticmethod
    def _resolve(filename, name):
        if filename.endswith((os.sep, "/")) or os.path.isdir(filename):
            return os.path.join(filename, f"{name}.hdf5")
        return filename

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None
        state["_keep_open"] = False
        # A copy in another process must never truncate the file the original
        # (or another copy) is already writing to.
        state["overwrite_file"] = False
        state["_buffer"] = ColumnBuffer()
        state["_leaf_heads"] = {}
        state["_run_info"] = RunInfoTable()
        state["_groups"] = {}
        return state

    def __repr__(self):
        return f"<HDF5StorageService {self._filename!r}{' (open)' if self.is_open else ''}>"

    # file handling ---------------------------------------------------------------------
    def _open(self, write, trajectory_name=None):
        if self._filename is None:
            if trajectory_name is None:
                raise ValueError("the storage service has no filename and no trajectory name to derive one")
            self._filename = self._default_filename(trajectory_name)
            if self.overwrite_file:
                self._remove_old_file()
        if self._file is not None:
            if write and self._file.mode == "r":
                self._close()
            else:
                return self._file
        if write:
            folder = os.path.dirname(os.path.abspath(self._filename))
            os.makedirs(folder, exist_ok=True)
            try:
                self._file = h5py.File(self._filename, "a", libver=("earliest", "latest"))
            except OSError as error:
                raise OSError(f"cannot open {self._filename!r} for writing: {error}") from error
            if self.file_title is not None and "title" not in self._file.attrs:
                self._file.attrs["title"] = self.file_title
        else:
            if not os.path.exists(self._filename):
                raise DataNotInStorageError(f"file {self._filename!r} does not exist")
            try:
                self._file = h5py.File(self._filename, "r")
            except OSError as error:
                raise DataNotInStorageError(f"cannot read {self._filename!r} as HDF5: {error}") from error
        return self._file

    def _flush_buffer(self):
        if self._file is None:
            return
        if self._buffer:
            self._buffer.flush(self._file, self._filters)
        if self._run_info.pending:
            self._run_info.flush(self._file)

    def _close(self):
        if self._file is None:
            return
        try:
            if self._file.mode != "r":
                self._flush_buffer()
        finally:
            self._buffer.clear()
            self._leaf_heads.clear()
            self._run_info.clear()
            self._groups.clear()
            self._file.close()
            self._file = None

    def _done(self):
        """End of one call: write buffers; close unless kept open.

        While the file is kept open, buffered rows are written (and the file
        flushed) at least every ``_FLUSH_SECONDS``, so a killed writer loses
        at most that much.
        """
        if self._keep_open:
            now = time.monotonic()
            if self._buffer.rows >= _FLUSH_ROWS or now - self._last_flush >= _FLUSH_SECONDS:
                self._flush_buffer()
                self._file.flush()
                self._last_flush = now
            return
        self._close()

    def _traj_group(self, name, index=None, create=False):
        f = self._file
        if name is None:
            names = self._trajectory_names()
            if not names:
                raise DataNotInStorageError(f"file {self._filename!r} holds no trajectory")
            try:
                name = names[index]
            except (IndexError, TypeError):
                raise DataNotInStorageError(
                    f"no trajectory at index {index!r} in {self._filename!r} ({len(names)} trajectories)") from None
        cached = self._groups.get(name)
        if cached is not None:
            return cached
        if name in f and "rigbook_format" in f[name].attrs:
            self._groups[name] = f[name]
            return f[name]
        if not create:
            raise DataNotInStorageError(
                f"trajectory {name!r} is not in {self._filename!r}; it holds {self._trajectory_names()}")
        if name in f:
            raise ValueError(f"{name!r} in {self._filename!r} is not a Rigbook trajectory; choose another name")
        group = f.create_group(name)
        group.attrs["rigbook_format"] = FORMAT_VERSION
        names = self._trajectory_names()
        f.attrs["rigbook_trajectories"] = json.dumps(names + [name] if name not in names else names)
        return group

    def _trajectory_names(self):
        f = self._file
        present = [n for n in f if isinstance(f[n], h5py.Group) and "rigbook_format" in f[n].attrs]
        listed = json.loads(f.attrs.get("rigbook_trajectories", "[]"))
        ordered = [n for n in listed if n in present]
        rest = sorted((n for n in present if n not in ordered), key=lambda n: float(f[n].attrs.get("timestamp", 0)))
        return ordered + rest

    # dispatch ---------------------------------------------------------------------------
    def store(self, msg, stuff_to_store, *args, **kwargs):
        """Store ``stuff_to_store`` as message ``msg`` says (see the module docstring)."""
        if msg == pc.OPEN_FILE:
            self._open(True, kwargs.get("trajectory_name"))
            self._keep_open = True
            return None
        if msg == pc.CLOSE_FILE:
            self._keep_open = False
            self._close()
            return None
        if msg == pc.FLUSH:
            if self._file is not None:
                self._flush_buffer()
                self._file.flush()
            return None
        filename = kwargs.pop("filename", None)
        if filename is not None and filename != self._filename:
            self._close()
            self._keep_open = False
            self._filename = filename
        name = kwargs.pop("trajectory_name", None) or getattr(stuff_to_store, "v_trajectory_name", None)
        handler = self._STORE_HANDLERS.get(msg)
        if handler is None:
            raise NoSuchServiceError(f"store does not understand message {msg!r}")
        self._open(True, name)
        try:
            return getattr(self, handler)(stuff_to_store, name, *args, **kwargs)
        finally:
            self._done()

    def load(self, msg, stuff_to_load, *args, allow_pickle=False, **kwargs):
        """Load into ``stuff_to_load`` as message ``msg`` says (see the module docstring).

        Pickled items load only if this user's Rigbook signed them, or with
        ``allow_pickle=True`` (see :mod:`rigbook.trajectory.trust`).
        """
        filename = kwargs.pop("filename", None)
        if filename is not None and filename != self._filename:
            self._close()
            self._keep_open = False
            self._filename = filename
        name = kwargs.pop("trajectory_name", None)
        handler = self._LOAD_HANDLERS.get(msg)
        if handler is None:
            raise NoSuchServiceError(f"load does not understand message {msg!r}")
        if self._file is not None:
            self._flush_buffer()
        self._open(False, name)
        try:
            with trust.allowing_pickles(allow_pickle):
                return getattr(self, handler)(stuff_to_load, name, *args, **kwargs)
        finally:
            self._done()

    _STORE_HANDLERS = {
        pc.TRAJECTORY: "_store_trajectory", pc.SINGLE_RUN: "_store_single_run", pc.LEAF: "_store_leaf",
        pc.GROUP: "_store_group", pc.TREE: "_store_tree", pc.LIST: "_store_list", pc.DELETE: "_delete",
        pc.DELETE_LINK: "_delete_link", pc.BACKUP: "_backup", pc.PREPARE_MERGE: "_prepare_merge",
        pc.MERGE: "_merge", pc.ACCESS_DATA: "_access_data",
    }
    _LOAD_HANDLERS = {
        pc.TRAJECTORY: "_load_trajectory", pc.LEAF: "_load_leaf", pc.GROUP: "_load_group",
        pc.TREE: "_load_tree", pc.LIST: "_load_list",
    }

    def _store_list(self, jobs, name, *args, **kwargs):
        self._run_jobs(self._delete_run_leaf_jobs_together(jobs, name), name, self._STORE_HANDLERS, "store")

    def _load_list(self, jobs, name, *args, **kwargs):
        self._run_jobs(self._load_run_leaf_jobs_together(jobs, name), name, self._LOAD_HANDLERS, "load")

    def _run_jobs(self, jobs, name, handlers, verb):
        """Run each ``(msg, item[, args[, kwargs]])`` of a LIST with the handler for ``msg``."""
        for job in jobs:
            msg, item = job[0], job[1]
            job_args = job[2] if len(job) > 2 else ()
            job_kwargs = dict(job[3]) if len(job) > 3 else {}
            handler = handlers.get(msg)
            if handler is None or msg == pc.LIST:
                raise NoSuchServiceError(f"{verb} does not understand message {msg!r} in a LIST")
            job_name = job_kwargs.pop("trajectory_name", None) or name
            getattr(self, handler)(item, job_name, *job_args, **job_kwargs)

    # trajectory-level messages -------------------------------------------------------------
    def _check_format(self, tgroup, force):
        version = int(tgroup.attrs.get("rigbook_format", 0))
        if version > FORMAT_VERSION and not force:
            raise VersionMismatchError(
                f"trajectory {tgroup.name[1:]!r} uses storage format {version}, this Rigbook reads up to "
                f"{FORMAT_VERSION}; update Rigbook or pass force=True")

    def _write_meta(self, tgroup, traj):
        attrs = tgroup.attrs
        attrs["__links__"] = json.dumps({name: target.v_full_name for name, target in traj._links.items()})
        attrs["rigbook_format"] = FORMAT_VERSION
        attrs["rigbook_version"] = traj.v_version
        attrs["name"] = traj.v_name
        attrs["comment"] = traj.v_comment
        attrs["timestamp"] = traj.v_timestamp
        attrs["time"] = traj.v_time
        attrs["python"] = traj.v_python
        attrs["length"] = traj._length
        attrs["explored_parameters"] = json.dumps(list(traj._explored_parameters))
        attrs["hdf5_settings"] = json.dumps({k: v for k, v in self.settings().items() if k != "filename"})
        attrs["dynamic_imports"] = json.dumps(
            [d if isinstance(d, str) else f"{d.__module__}.{d.__qualname__}" for d in traj._dynamic_imports])
        attrs["environment_hexsha"] = traj.v_environment_hexsha or ""
        attrs["environment_name"] = traj.v_environment_name or ""

    def _store_trajectory(self, traj, name, only_init=False, store_data=pc.STORE_DATA, max_depth=None, **kwargs):
        if store_data == pc.STORE_NOTHING:
            return
        exists = name in self._file and "rigbook_format" in self._file[name].attrs
        if exists and not traj._traj_stored:
            raise RuntimeError(
                f"a trajectory named {name!r} already exists in {self._filename!r}; load it, or give this one "
                "another name (f_migrate(new_name=...), or in_store=True if it is the same trajectory)")
        tgroup = self._traj_group(name, create=True)
        self._write_meta(tgroup, traj)
        self._run_info.write_all(tgroup, traj)
        for node in traj._explored_parameters.values():
            self._write_explored(tgroup, node)
        traj._set_stored_state(stored=True, explored_length=traj._length)
        if only_init:
            return
        if store_data == pc.OVERWRITE_DATA:
            nodes = [n for n in traj._flat.values()]
        else:
            nodes = list(traj._unstored.values())
            if store_data == pc.STORE_DATA:
                seen = {id(n) for n in nodes}
                nodes += [n for n in traj._flat.values() if n._stored and n._is_leaf and id(n) not in seen
                          and not n._full_name.startswith(("results.runs.run_", "derived_parameters.runs.run_"))]
        if max_depth is not None:
            # pypet: nodes deeper than max_depth below the root wait for a later store.
            nodes = [n for n in nodes if n.v_depth <= max_depth]
        self._store_nodes(tgroup, traj, nodes, store_data)
        self._flush_buffer()
        if self.small_overview_tables or self.summary_tables:
            self._write_overviews(tgroup, traj)

    def _write_explored(self, tgroup, node):
        record = leaf_record(node)
        path = node.v_full_name.replace(".", "/")
        group = tgroup.require_group(path)
        group.attrs["__leaf__"] = True
        group.attrs["__class__"] = record["class"]
        if "explored_data" in group:
            del group["explored_data"]
        values = record["range"]
        if values is not None:  # None: a custom _store keeps its range in items of its own
            append_column(group, "explored_data", list(range(len(values))), values, self._filters)

    def _store_single_run(self, stuff, name, store_data=pc.STORE_DATA, store_final=False, **kwargs):
        if isinstance(stuff, RunPayload):
            payload = stuff
            store_final = store_final or payload.store_final
        else:
            payload = stuff._run_payload(store_final=store_final)
        tgroup = self._traj_group(name or payload.trajectory_name)
        for record in payload.groups:
            self._write_group_record(tgroup, record)
        for record in payload.records:
            self._write_record(tgroup, record, store_data)
        if store_final and payload.run_information is not None:
            self._run_info.queue(tgroup, payload.run_information)

    def _prepare_merge(self, traj, name, changed_parameters=None, old_length=None, **kwargs):
        tgroup = self._traj_group(name)
        self._write_meta(tgroup, traj)
        self._run_info.write_all(tgroup, traj)
        for node in traj._explored_parameters.values():
            self._write_explored(tgroup, node)

    def _merge(self, traj, name, **kwargs):
        raise ValueError("Rigbook merges trajectories item by item (f_merge); the in-file MERGE message is not used")

    def _backup(self, traj, name, backup_filename=None, **kwargs):
        self._flush_buffer()
        tgroup = self._traj_group(name)
        if backup_filename is None:
            folder = os.path.dirname(os.path.abspath(self._filename))
            backup_filename = os.path.join(folder, f"backup_{name}.hdf5")
        if os.path.abspath(backup_filename) == os.path.abspath(self._filename):
            raise ValueError("the backup file must differ from the trajectory's own file")
        with h5py.File(backup_filename, "a") as target:
            if name in target:
                raise ValueError(f"{backup_filename!r} already holds a trajectory named {name!r}")
            self._file.copy(tgroup, target, name=name)
            listed = json.loads(target.attrs.get("rigbook_trajectories", "[]"))
            target.attrs["rigbook_trajectories"] = json.dumps(listed + [name])
        return backup_filename

    def _access_data(self, path, name, item_name=None, request=None, args=(), kwargs=None, **extra):
        tgroup = self._traj_group(name)
        node = tgroup[path.replace(".", "/")]
        if item_name is not None:
            node = node[item_name]
        if request is None:
            return node[...] if isinstance(node, h5py.Dataset) else node
        return getattr(node, request)(*args, **(kwargs or {}))

    def _load_trajectory(self, traj, name, trajectory_index=None, as_new=False, load_parameters=pc.LOAD_DATA,
                         load_derived_parameters=pc.LOAD_SKELETON, load_results=pc.LOAD_SKELETON,
                         load_other_data=pc.LOAD_SKELETON, force=False, recursive=True, max_depth=None,
                         with_run_information=True, **kwargs):
        if trajectory_index is not None and name is not None and name == traj.v_name:
            name = None
        tgroup = self._traj_group(name if trajectory_index is None else None, trajectory_index)
        self._check_format(tgroup, force)
        attrs = tgroup.attrs
        length = int(attrs.get("length", 1))
        known = [x if isinstance(x, str) else f"{x.__module__}.{x.__qualname__}" for x in traj._dynamic_imports]
        traj.f_add_to_dynamic_imports([item for item in json.loads(attrs.get("dynamic_imports", "[]"))
                                       if item not in known])
        if as_new:
            load_derived_parameters = load_results = load_other_data = pc.LOAD_NOTHING
        else:
            traj._restore_identity(
                name=str(attrs["name"]), comment=str(attrs.get("comment", "")),
                timestamp=float(attrs.get("timestamp", 0.0)), time=str(attrs.get("time", "")),
                python=str(attrs.get("python", "")), version=str(attrs.get("rigbook_version", "")),
                environment_hexsha=str(attrs.get("environment_hexsha", "")) or None,
                environment_name=str(attrs.get("environment_name", "")) or None)
        modes = {"config": load_parameters, "parameters": load_parameters,
                 "derived_parameters": load_derived_parameters, "results": load_results}
        explored_order = json.loads(attrs.get("explored_parameters", "[]"))
        self._load_children(traj, tgroup, "", lambda branch: modes.get(branch, load_other_data), max_depth,
                            lock=not as_new)
        for branch in ("results", "derived_parameters"):
            if modes[branch] != pc.LOAD_NOTHING:
                self._load_run_leaves(traj, tgroup, branch, modes[branch])
                restore_run_links(traj, tgroup, branch)
        restore_links(traj, traj, json.loads(attrs.get("__links__", "{}")))
        explored = {}
        for full in explored_order:
            node = traj._flat.get(full)
            if node is not None and node.f_has_range():
                explored[full] = node
        replace_explored = bool(explored_order) and load_parameters != pc.LOAD_NOTHING
        traj._restore_exploration(length, explored if replace_explored else None)
        if not as_new:
            if with_run_information:
                self._run_info.read(tgroup, traj)
            traj._set_stored_state(stored=True, explored_length=length)

def run_name_of(idx):
    """``run_%08d``."""
    return pc.FORMATTED_RUN_NAME % idx


register_default_service(HDF5StorageService)

__all__ = ["HDF5StorageService", "FORMAT_VERSION", "codec"]
