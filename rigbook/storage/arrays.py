"""``<array>.hdf5``: one dataset per trial, and the journal that makes it crash-safe.

HDF5 files are not crash-safe: a process killed while HDF5 writes its
metadata can leave a file whose older datasets no longer open (the crash
test saw it with a flush after every trial). So each trial's array goes
first to an append-only journal, ``.<array>.journal`` beside the HDF5
file, with one ``write`` call, and only then into the HDF5 file, which
stays open for the whole task and is flushed about once a second (for
readers peeking while recording). When the task closes cleanly, the HDF5
file is flushed, closed and fsynced, and the journal is deleted.

Every array file is marked and labelled, so that no reader mistakes a
stream export (``<stream>.hdf5``, written by :func:`write_table`) for a
trial array: its root attributes hold ``rigbook_trial_array = 1``, the
``stack_axis``, and the labels given to :class:`~rigbook.storage.Array`
(``fields``, ``field_axis`` (the axis of each trial's dataset they label),
``time_field``, ``units`` as JSON text, ``description``). The task keeps the
same labels in the sidecar ``.arrays.json``, which also marks the arrays
of a session killed before its HDF5 files were readable.

While a journal exists it is the authority: :func:`iter_trial_arrays`
reads from it, and :func:`recover_array` rebuilds the HDF5 file from it
(temp file + ``os.replace``) and deletes it.

Journal format (little-endian): the 8 bytes ``RBARRJ01``, then per trial
``b"TRL1"``, trial index (u64), metadata length (u32), data length (u64),
the metadata as UTF-8 JSON ``{"dtype": "<f8", "shape": [8, 500]}`` and the
data in C order. A torn last record (the writer was killed) is ignored.
"""

import contextlib
import json
import logging
import os
import struct
import time
from pathlib import Path

import numpy as np

from rigbook.storage.atomic import FILE_MODE, atomic_open, atomic_path
from rigbook.storage.durability import SyncedFile, fsync_folder
from rigbook.storage.hdf5 import open_for_reading

logger = logging.getLogger(__name__)
#: bytes as written on Windows too (os.open there defaults to text mode, turning \n into \r\n)
_BINARY = getattr(os, "O_BINARY", 0)

JOURNAL_MAGIC = b"RBARRJ01"
_RECORD = struct.Struct("<4sQIQ")
_RECORD_MAGIC = b"TRL1"
#: HDF5 files use the earliest format that holds the data, which every
#: HDF5 reader opens and which writes a dataset fastest. Its per-flush cost
#: grows with the number of datasets, which is why the file is flushed on a
#: timer rather than after each trial (the journal covers the gap).
LIBVER = "earliest"
HDF5_FLUSH_INTERVAL = 1.0
EMPTY = np.empty((0,), dtype=np.float64)
#: Root attribute marking ``<name>.hdf5`` as a Rigbook trial array.
MARKER_ATTR = "rigbook_trial_array"
#: The task's list of its trial arrays and their labels.
SIDECAR = ".arrays.json"
SIDECAR_FORMAT = 1


def hdf5_path(task_root, name):
    return Path(task_root) / f"{name}.hdf5"


def journal_path(task_root, name):
    return Path(task_root) / f".{name}.journal"


def as_dataset(name, data):
    """The array to store for ``data`` (an Array's samples, an array or None)."""
    if data is None:
        return EMPTY
    array = np.ascontiguousarray(data)
    if array.dtype.kind not in "biufc":
        raise TypeError(
            f"array {name!r} has dtype {array.dtype}; only bool and numeric arrays are stored"
        )
    return array


def read_sidecar(task_root):
    """Array name -> labels from the task's ``.arrays.json`` ({} if there is none)."""
    path = Path(task_root) / SIDECAR
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        arrays = document["arrays"]
        if not isinstance(arrays, dict):
            raise TypeError("'arrays' is not an object")
        return {str(k): dict(v) for k, v in arrays.items()}
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError) as error:
        logger.warning("ignoring unreadable array list %s: %s", path, error)
        return {}


def write_sidecar(task_root, arrays):
    """Replace the task's ``.arrays.json`` with ``arrays`` (name -> labels)."""
    document = {"rigbook_trial_arrays": SIDECAR_FORMAT, "arrays": arrays}
    # Not fsynced: it repeats the labels and marker the HDF5 files and journals
    # carry (readers survive a torn one), and the first trial should not wait
    # for two more disk round trips. The journals' first sync flushes the folder.
    with atomic_open(Path(task_root) / SIDECAR, "w", encoding="utf-8", fsync=False) as f:
        json.dump(document, f, ensure_ascii=False, indent=1)


def label_attributes(labels):
    """HDF5 root attributes for an array's labels (units as JSON text)."""
    attrs = {MARKER_ATTR: 1}
    for key, value in labels.items():
        attrs[key] = json.dumps(value, ensure_ascii=False) if key == "units" else value
    return attrs


def read_labels(path):
    """The labels stored in the root attributes of an array file, or None if it is not one."""
    with open_for_reading(path) as f:
        attrs = dict(f.attrs)
    if MARKER_ATTR not in attrs:
        return None
    labels = {}
    for key in ("stack_axis", "field_axis", "time_field", "description"):
        if key in attrs:
            value = attrs[key]
            labels[key] = int(value) if key.endswith("axis") else str(value)
    if "fields" in attrs:
        labels["fields"] = [str(f) for f in attrs["fields"]]
    if "units" in attrs:
        labels["units"] = json.loads(attrs["units"])
    return labels


def is_trial_array_file(path):
    """Whether an ``.hdf5`` file is a Rigbook trial array (by its marker).

    A file without the marker counts when it has no table marker either
    and holds only trial-numbered datasets (arrays written before the
    marker existed); an unreadable file does not count.
    """
    try:
        with open_for_reading(path) as f:
            if MARKER_ATTR in f.attrs:
                return True
            if "rigbook_table_format" in f.attrs or "columns" in f.attrs:
                return False
            return all(key.isdigit() for key in f.keys())
    except (OSError, ValueError, KeyError) as error:
        logger.warning("cannot tell whether %s is a trial array: %s", path, error)
        return False


def describe_array(name, labels, data):
    """The labels to store for array ``name`` whose first trial holds ``data``.

    Adds ``field_axis``, the axis of a 2-D dataset that ``fields`` label
    (the one not stacked along).

    Raises
    ------
    ValueError
        ``fields`` does not match the size of that axis.
    """
    labels = dict(labels)
    fields = labels.get("fields")
    if fields is None or data.ndim != 2:
        return labels
    stack_axis = 1 if labels.get("stack_axis") is None else labels["stack_axis"] % 2
    axis = 1 - stack_axis
    if data.shape[axis] != len(fields):
        raise ValueError(
            f"array {name!r}: {len(fields)} fields {fields!r} label axis {axis}, "
            f"which has {data.shape[axis]} rows"
        )
    labels["field_axis"] = axis
    return labels


class ArrayFileWriter:
    """Write one array's per-trial datasets to ``<name>.hdf5`` through its journal.

    ``labels`` (from :class:`~rigbook.storage.Array`, plus ``stack_axis``)
    become the file's root attributes, with the trial-array marker.
    """

    def __init__(self, task_root, name, labels=None):
        import h5py

        self.name = name
        self.labels = dict(labels or {})
        self.path = hdf5_path(task_root, name)
        self.journal = journal_path(task_root, name)
        for path in (self.path, self.journal):
            if path.exists():
                raise FileExistsError(f"{path} already exists; array files are never rewritten")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | _BINARY
        self._journal_fd = os.open(self.journal, flags, FILE_MODE)
        self._synced = SyncedFile(self._journal_fd, str(self.journal), folder=self.journal.parent)
        self._write_all(JOURNAL_MAGIC)
        self._synced.mark_dirty()  # the background sync also makes both new names durable
        self._file = h5py.File(self.path, "w", libver=LIBVER)
        self._file.attrs.update(label_attributes(self.labels))
        self._file.flush()
        self._hdf5_complete = True
        self._failed_indices = set()
        self._meta_cache = {}
        self._type_cache = {}
        self._last_flush = time.monotonic()

    def relocate(self, task_root):
        """Follow the task folder after it was moved (the open HDF5 file moves with it)."""
        self.path = hdf5_path(task_root, self.name)
        self.journal = journal_path(task_root, self.name)

    def write(self, index, data):
        """Store ``data`` as trial ``index``: journal first, then the HDF5 file."""
        if self._synced.error is not None:
            self._synced.raise_error()
        key = (data.dtype, data.shape)
        meta = self._meta_cache.get(key)
        if meta is None:
            meta = json.dumps({"dtype": data.dtype.str, "shape": list(data.shape)}).encode()
            self._meta_cache[key] = meta
        header = _RECORD.pack(_RECORD_MAGIC, index, len(meta), data.nbytes) + meta
        self._write_all(header, memoryview(data.reshape(-1).view(np.uint8)))
        self._synced.mark_dirty()
        try:
            self._write_dataset(index, data)
            now = time.monotonic()
            if now - self._last_flush > HDF5_FLUSH_INTERVAL:
                self._file.flush()
                self._last_flush = now
        except Exception:
            # The journal holds the trial; the HDF5 file may lack it, so keep
            # the journal at close for recover_array to rebuild from.
            self._hdf5_complete = False
            self._failed_indices.add(index)
            raise

    def _write_all(self, *parts):
        before = os.lseek(self._journal_fd, 0, os.SEEK_END)
        try:
            pending = [memoryview(p) for p in parts if len(p)]
            while pending:
                written = os.writev(self._journal_fd, pending)
                while pending and written >= len(pending[0]):
                    written -= len(pending[0])
                    pending.pop(0)
                if pending and written:
                    pending[0] = pending[0][written:]
        except OSError:
            # Take back a partial record so the next one starts where a reader expects it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._journal_fd, before)
            raise

    def _write_dataset(self, index, data):
        import h5py

        file_id = self._file.id
        name = str(index)
        if index in self._failed_indices and name in self._file:
            del self._file[name]  # left by an earlier attempt at this trial that failed
        space = h5py.h5s.create_simple(data.shape) if data.ndim else h5py.h5s.create(h5py.h5s.SCALAR)
        hdf5_type = self._type_cache.get(data.dtype)
        if hdf5_type is None:
            hdf5_type = self._type_cache[data.dtype] = h5py.h5t.py_create(data.dtype)
        dataset = h5py.h5d.create(file_id, name.encode(), hdf5_type, space)
        if data.size:
            dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, data)

    def close(self):
        """Flush and fsync the HDF5 file, then drop the journal if the file has every trial."""
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            file.flush()
            file.close()
            with open(self.path, "rb+") as f:
                os.fsync(f.fileno())
        except Exception:
            self._hdf5_complete = False
            raise
        finally:
            self._synced.release(sync=True)
            os.close(self._journal_fd)
            if self._hdf5_complete:
                self.journal.unlink()
                fsync_folder(self.journal.parent)
            else:
                logger.warning(
                    "%s may lack trials; kept %s (TaskReader reads it, recover_array rebuilds the file)",
                    self.path, self.journal,
                )


def read_journal(path):
    """Trial index -> (dtype, shape, offset of the data) for every complete record."""
    records = {}
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(len(JOURNAL_MAGIC))
        if len(head) < len(JOURNAL_MAGIC) and JOURNAL_MAGIC.startswith(head):
            return records  # killed while creating it: no trial was written yet
        if head != JOURNAL_MAGIC:
            raise ValueError(f"{path} is not a Rigbook array journal")
        offset = len(JOURNAL_MAGIC)
        while offset + _RECORD.size <= size:
            f.seek(offset)
            magic, index, meta_len, data_len = _RECORD.unpack(f.read(_RECORD.size))
            if magic != _RECORD_MAGIC:
                logger.warning("%s: unreadable record at byte %d; ignoring the rest", path, offset)
                break
            data_offset = offset + _RECORD.size + meta_len
            if data_offset + data_len > size:
                break  # torn last record
            meta = json.loads(f.read(meta_len))
            records[index] = (np.dtype(meta["dtype"]), tuple(meta["shape"]), data_offset)
            offset = data_offset + data_len
    return records


def _read_record(f, dtype, shape, offset):
    f.seek(offset)
    count = int(np.prod(shape, dtype=np.int64))
    data = np.fromfile(f, dtype=dtype, count=count) if count else np.empty(0, dtype=dtype)
    return data.reshape(shape)


def iter_trial_arrays(task_root, name, n_trials):
    """Yield trial 0..n_trials-1 of array ``name`` (None for trials without it).

    Reads the journal when there is one (the writer is running or was
    killed), else the HDF5 file.
    """
    import h5py

    journal = journal_path(task_root, name)
    path = hdf5_path(task_root, name)
    if journal.exists():
        records = read_journal(journal)
        with open(journal, "rb") as f:
            for index in range(n_trials):
                record = records.get(index)
                yield None if record is None else _read_record(f, *record)
        return
    if not path.exists():
        raise FileNotFoundError(f"no array {name!r} in {task_root}: {path} does not exist")
    with open_for_reading(path) as f:
        file_id = f.id
        for index in range(n_trials):
            try:
                dataset = h5py.h5d.open(file_id, str(index).encode())
            except KeyError:
                yield None  # this trial did not record the array
                continue
            yield _read_dataset(dataset)


def _read_dataset(dataset):
    """Read a whole dataset through the low-level API (a few times faster per trial)."""
    import h5py

    dtype = dataset.dtype
    if dtype.kind not in "biufc":
        return h5py.Dataset(dataset)[()]
    out = np.empty(dataset.shape, dtype=dtype)
    if out.size:
        dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def recover_array(task_root, name, n_trials=None):
    """Rebuild ``<name>.hdf5`` from its journal and delete the journal.

    The new file holds every complete trial of the journal (or the first
    ``n_trials``), written to a temp file and moved onto the old one, which
    a killed writer may have left unreadable.

    Returns
    -------
    bool
        Whether there was a journal to recover from.
    """
    import h5py

    journal = journal_path(task_root, name)
    if not journal.exists():
        return False
    records = read_journal(journal)
    with atomic_path(hdf5_path(task_root, name)) as tmp:
        with h5py.File(tmp, "w", libver=LIBVER) as out, open(journal, "rb") as f:
            out.attrs.update(label_attributes(read_sidecar(task_root).get(name, {})))
            for index in sorted(records):
                if n_trials is not None and index >= n_trials:
                    continue
                out.create_dataset(str(index), data=_read_record(f, *records[index]))
    journal.unlink()
    fsync_folder(journal.parent)
    logger.info("rebuilt %s from its journal (%d trials)", hdf5_path(task_root, name), len(records))
    return True
