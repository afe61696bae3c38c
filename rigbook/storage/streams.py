"""Stream logs: ``streams/<name>.arrows``, appended while recording.

A stream log is an Arrow IPC *stream* (readable with
``pyarrow.ipc.open_stream``). :class:`StreamWriter` appends record batches
from a background thread, so the acquisition loop never waits for the disk:
each batch reaches the OS as soon as the thread writes it, and the file is
fsynced at most :data:`FSYNC_INTERVAL` seconds later. Nothing already
written is ever rewritten, so a killed writer leaves a file whose complete
batches :func:`read_stream` gives back.
"""

import atexit
import logging
import os
import queue
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pyarrow as pa

from rigbook.storage.durability import fsync_folder
from rigbook.storage.ids import validate_id
from rigbook.storage.stream_info import StreamInfo
from rigbook.storage.tables import write_table

logger = logging.getLogger(__name__)

SUFFIX = ".arrows"
FSYNC_INTERVAL = 0.25

_OPEN_WRITERS = weakref.WeakSet()


def stream_name(path):
    """The stream ID of a log path (its file name without ``.arrows``)."""
    name = Path(path).name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


def _log_path(path):
    path = Path(path)
    return path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)


class StreamWriter:
    """Append record batches to an Arrow IPC stream file from a background thread.

    Parameters
    ----------
    path : str or Path
        The log to create, usually ``<task>/streams/<name>.arrows``
        (``.arrows`` is appended if missing). Its name must be a valid ID
        and the file must not exist; missing parent folders are created.
    schema : pyarrow.Schema, optional
        The schema of every batch; taken from the first batch when omitted.
    metadata : StreamInfo, optional
        The stream's time origin, units and descriptions; written into the
        log's schema metadata (see :mod:`rigbook.storage.stream_info`), so
        that :func:`read_stream` and every export give them back.

    Notes
    -----
    An error in the writing thread (a full disk...) is raised by the next
    call to :meth:`append`, :meth:`flush` or :meth:`close`. Use the writer
    as a context manager, or call :meth:`close`, to write the end-of-stream
    marker; writers still open at interpreter exit are closed then.
    """

    def __init__(self, path, schema=None, metadata=None):
        self.path = _log_path(path)
        self.name = validate_id(stream_name(self.path), "stream name")
        if schema is not None and not isinstance(schema, pa.Schema):
            raise TypeError(f"schema must be a pyarrow.Schema, got {type(schema).__name__}")
        if metadata is not None and not isinstance(metadata, StreamInfo):
            raise TypeError(f"metadata must be a StreamInfo, got {type(metadata).__name__}")
        self.metadata = metadata
        self.schema = self._described(schema)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "xb", buffering=0)
        self._queue = queue.SimpleQueue()
        self._state = threading.Condition()
        self._appended = 0
        self._written = 0
        self._error = None
        self._error_reported = False
        self._closed = False
        self._thread = threading.Thread(
            target=_write_loop,
            args=(self._file, self._queue, self._state, self.path, weakref.ref(self)),
            name=f"rigbook-stream-{self.name}",
            daemon=True,
        )
        self._thread.start()
        if schema is not None:
            self._queue.put(("schema", self.schema))
        _OPEN_WRITERS.add(self)

    # -- caller side -------------------------------------------------------

    def append(self, batch):
        """Queue a batch (or every batch of a table) for writing; returns at once.

        Raises
        ------
        TypeError
            ``batch`` is not a ``pyarrow.RecordBatch`` or ``Table``.
        ValueError
            Its schema differs from the stream's; nothing is written.
        OSError
            An earlier write failed in the background.
        """
        self._check_usable()
        if isinstance(batch, pa.Table):
            self._check_schema(batch.schema)
            batches = batch.to_batches()
        elif isinstance(batch, pa.RecordBatch):
            self._check_schema(batch.schema)
            batches = [batch]
        else:
            raise TypeError(
                f"stream {self.name!r}: append takes a pyarrow RecordBatch or Table, "
                f"got {type(batch).__name__}"
            )
        if self.schema is None:
            self.schema = self._described(batch.schema)
            self._queue.put(("schema", self.schema))
        with self._state:
            self._appended += len(batches)
        for item in batches:
            self._queue.put(("batch", item))

    def flush(self):
        """Block until every appended batch has been handed to the OS."""
        self._check_usable()
        with self._state:
            target = self._appended
            self._state.wait_for(lambda: self._written >= target or self._error is not None)
        self._raise_error()

    def close(self):
        """Write what is queued, end the stream, fsync and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        _OPEN_WRITERS.discard(self)
        self._queue.put(("close", None))
        self._thread.join()
        self._raise_error()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def closed(self):
        """True once :meth:`close` was called (everything appended is then on disk)."""
        return self._closed

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return f"StreamWriter({str(self.path)!r}, {state}, {self._written} batches written)"

    @property
    def batches_written(self):
        """How many appended batches have been handed to the OS so far."""
        with self._state:
            return self._written

    @property
    def error(self):
        """The error that stopped the background writing (a full disk...), or None."""
        with self._state:
            return self._error

    def _described(self, schema):
        if schema is None or self.metadata is None:
            return schema
        return self.metadata.apply_to_schema(schema)

    def _check_usable(self):
        if self._closed:
            raise ValueError(f"stream {self.name!r} is closed")
        self._raise_error()

    def _raise_error(self):
        with self._state:
            error = self._error
        if error is not None and not (self._closed and self._error_reported):
            self._error_reported = True
            raise OSError(
                getattr(error, "errno", None) or 0,
                f"writing stream {self.name!r} to {self.path} failed: {error}",
            ) from error

    def _check_schema(self, schema):
        if self.schema is not None and not schema.equals(self.schema, check_metadata=False):
            raise ValueError(
                f"stream {self.name!r}: the batch's schema differs from the stream's; "
                f"nothing was written.\nstream schema:\n{self.schema}\nbatch schema:\n{schema}"
            )


def _write_loop(file, commands, state, path, owner_ref):
    """Body of the writing thread; keeps no reference to the writer between commands."""
    writer = None
    last_sync = time.monotonic()
    dirty = False
    failed = False
    folder_synced = False  # the log's new name is made durable with its first fsync
    while True:
        timeout = None
        if dirty:
            timeout = max(0.0, FSYNC_INTERVAL - (time.monotonic() - last_sync))
        try:
            command, payload = commands.get(timeout=timeout)
        except queue.Empty:
            command, payload = "sync", None
        try:
            if failed and command != "close":
                continue
            if command == "schema":
                writer = pa.ipc.new_stream(file, payload)
                dirty = True
            elif command == "batch":
                writer.write_batch(payload)
                dirty = True
                owner = owner_ref()
                with state:
                    if owner is not None:
                        owner._written += 1
                    state.notify_all()
            elif command == "close":
                if writer is not None and not failed:
                    writer.close()
                if not failed:
                    os.fsync(file.fileno())
                    if not folder_synced:
                        fsync_folder(path.parent)
                file.close()
                return
            if dirty and (command == "sync" or time.monotonic() - last_sync >= FSYNC_INTERVAL):
                os.fsync(file.fileno())
                if not folder_synced:
                    fsync_folder(path.parent)
                    folder_synced = True
                dirty = False
                last_sync = time.monotonic()
        except BaseException as error:  # noqa: BLE001 - handed to the caller, never swallowed
            logger.error("stream log %s: write failed: %s", path, error)
            failed = True
            owner = owner_ref()
            with state:
                if owner is not None:
                    owner._error = error
                state.notify_all()
            if command == "close":
                file.close()
                return


@atexit.register
def _close_open_writers():
    for writer in list(_OPEN_WRITERS):
        try:
            writer.close()
        except Exception as error:  # noqa: BLE001 - interpreter exit: log and go on
            logger.error("closing stream %s at exit failed: %s", writer.path, error)


def read_stream(path):
    """Read every complete batch of a stream log.

    Parameters
    ----------
    path : str or Path
        An ``.arrows`` file, possibly still being written or torn by a
        killed writer.

    Returns
    -------
    pyarrow.Table
        The complete batches in order; a torn last batch is left out. A
        file too short to hold its schema gives an empty table.

    Raises
    ------
    ValueError
        The file is not an Arrow IPC stream (the message names it).
    """
    path = _log_path(path)
    if not path.exists():
        raise FileNotFoundError(f"no stream log {path}")
    data = path.read_bytes()
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(data))
    except (pa.ArrowInvalid, OSError, EOFError) as error:
        if not _may_be_a_torn_schema(data):
            raise ValueError(f"{path} is not an Arrow IPC stream ({error})") from None
        logger.warning("stream log %s ends before its schema is complete; it holds no rows", path)
        return pa.table({})
    batches = []
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError, EOFError) as error:
            logger.warning("stream log %s: ignoring a torn last batch (%s)", path, error)
            break
    return pa.Table.from_batches(batches, schema=reader.schema)


#: Every Arrow IPC stream message starts with this continuation marker.
_CONTINUATION = b"\xff\xff\xff\xff"


def _may_be_a_torn_schema(data):
    """Whether bytes that hold no readable schema are a log killed while writing it.

    Such a file is the first bytes of a schema message: the continuation
    marker (or a prefix of it), then the message length, then fewer bytes
    than that length. Anything else is not a stream log.
    """
    head = data[: len(_CONTINUATION)]
    if not _CONTINUATION.startswith(head):
        return False
    if len(data) < 8:
        return True
    length = int.from_bytes(data[4:8], "little", signed=True)
    return 0 < length and len(data) < 8 + length


def read_stream_rows(path, start=0, stop=None, columns=None):
    """Rows ``[start, stop)`` of a stream log, reading only the batches that hold them.

    The file is memory-mapped: batches outside the range are skipped without
    being read, and the rows returned are copied out of the map (the table
    stays valid after the file is closed or replaced).

    Parameters
    ----------
    path : str or Path
        An ``.arrows`` file, possibly still being written.
    start, stop : int
        Row numbers in the file; ``stop=None`` reads to the last complete batch.
    columns : list of str, optional
        Column names to read; default all.

    Returns
    -------
    pyarrow.Table
        Fewer rows than asked only if the file holds fewer complete rows.
    """
    path = _log_path(path)
    if not path.exists():
        raise FileNotFoundError(f"no stream log {path}")
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"stream log {path}: bad row range [{start}, {stop})")
    with pa.memory_map(str(path)) as source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError, EOFError):
            return pa.table({})
        schema = reader.schema
        picks = None if columns is None else [schema.get_field_index(name) for name in columns]
        if picks is not None and -1 in picks:
            missing = [name for name, i in zip(columns, picks) if i == -1]
            raise KeyError(f"stream log {path} has no column(s) {missing}; columns: {schema.names}")
        pieces = []
        row = 0
        while stop is None or row < stop:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError, EOFError):
                break  # a torn last batch: the rows before it are whole
            n = batch.num_rows
            if row + n > start:
                lo = max(start - row, 0)
                hi = n if stop is None else min(stop - row, n)
                part = batch.slice(lo, hi - lo)
                if picks is not None:
                    part = pa.RecordBatch.from_arrays([part.column(i) for i in picks],
                                                      names=list(columns))
                pieces.append(part)
            row += n
        out_schema = schema if picks is None else pa.schema([schema.field(i) for i in picks])
        table = pa.Table.from_batches(pieces, schema=out_schema)
        # Copied out of the map: the caller may keep it after the file changes or goes.
        return pa.Table.from_arrays([_copied(column) for column in table.columns], schema=out_schema)


def _copied(column):
    """One contiguous copy of a chunked column, in fresh memory."""
    chunks = column.chunks
    if not chunks:
        return pa.array([], type=column.type)
    try:
        return pa.array(np.concatenate([chunk.to_numpy(zero_copy_only=False) for chunk in chunks]),
                        type=column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):  # not numeric: Arrow copies it
        return pa.concat_arrays([pa.concat_arrays(chunks), pa.array([], type=column.type)])


def export_stream(path, format, outfile=None, overwrite=False, metadata=None):
    """Convert a stream log to csv, feather, parquet, hdf5 or json.

    Parameters
    ----------
    path : str or Path
        The ``.arrows`` log.
    format : str
        One of :data:`rigbook.storage.tables.FORMATS`.
    outfile : str or Path, optional
        Destination; by default ``<task>/<stream>.<format>`` for a log in
        ``<task>/streams/``, else beside the log.
    overwrite : bool
        Replace an existing export; by default it is an error.
    metadata : StreamInfo, optional
        The description to write; by default the one the log carries.

    Returns
    -------
    Path
        The file written (atomically, via :func:`write_table`), carrying the
        log's time origin, units and descriptions.

    Raises
    ------
    FileExistsError
        The export (or its sidecar) exists and ``overwrite`` is false; it
        is named and left as it was.
    """
    path = _log_path(path)
    if outfile is None:
        folder = path.parent.parent if path.parent.name == "streams" else path.parent
        outfile = folder / stream_name(path)
    return write_table(read_stream(path), outfile, format, overwrite=overwrite, metadata=metadata)
