"""StreamRecorder: append the accumulators' new rows to Arrow stream logs while recording.

Each accumulator gets ``<folder>/streams/<name>.arrows``. :meth:`StreamRecorder.poll`
(call it from a timer, at least every 0.5 s) takes the rows each accumulator
received since the last poll and hands them to a
:class:`rigbook.storage.StreamWriter`, which writes them in the background.
A schema change (an accumulator reset to other columns) closes that log and
continues in ``<name>_2.arrows`` (``_3`` ...): one file never mixes schemas.

Each accumulator is told where its rows went (a
:class:`~rigbook.collectors.logged.LoggedRows`), so it can let rows older than
its live window leave memory and read them back from the log when asked.

The rows an accumulator holds when it resets are taken just before they are
cleared, so a reset mid-recording loses nothing. Rows that were trimmed
before being taken (an accumulator left with ``recording`` false) cannot be
recorded: they are counted in :attr:`StreamRecorder.lost` and logged.

A write that fails (a full disk, an I/O error) does not stop the log for
good: the rows not confirmed written stay in the accumulator, the stream is
suspended, and it resumes in a new part (``<name>_2.arrows``...) once the
disk has room again. Each outage is listed in :attr:`StreamRecorder.outages`;
rows that could not be kept until then are in :attr:`StreamRecorder.lost_spans`.
"""

import logging
import shutil
import time
from pathlib import Path

from rigbook.collectors.accumulators import RowsTrimmedError
from rigbook.collectors.logged import LoggedRows
from rigbook.storage.ids import validate_id

log = logging.getLogger(__name__)

STREAMS_FOLDER = "streams"
STREAM_SUFFIX = ".arrows"
#: After a failed write, how long a stream waits before it tries again, in seconds.
RETRY_INTERVAL_S = 1.0
#: Free bytes a disk must have before a suspended stream tries to write again.
MIN_FREE_BYTES = 4 * 1024 * 1024


class _Log:
    """Recording state of one accumulator."""

    def __init__(self, acc):
        self.acc = acc
        self.count = 0  # rows of the accumulator already taken (since its last reset)
        self.writer = None
        self.schema = None
        self.paths = []
        self.file_rows = 0  # rows written to the current file
        self.logged = None  # what the accumulator was told about where its rows are
        self.started_at = 0  # the accumulator's row count when the current writer started
        self.batch_ends = []  # the row count after each batch appended to the current writer
        self.suspended_until = None  # monotonic time of the next try after a failed write
        self.outage = None  # the outage going on: {"start", "end", "error"}
        self.last_t = None  # time of the last row taken


def _t_at(acc, count):
    """Time (seconds since t0) of the accumulator's row ``count`` (since its reset), if still held."""
    index = count - (acc.n_received - acc.n_held)
    times = acc.t
    if 0 <= index < len(times):
        return float(times[index])
    return float(times[-1]) if len(times) else None


class StreamRecorder:
    """Record accumulators to Arrow IPC stream files.

    Parameters
    ----------
    accumulators : dict of name to accumulator, or list of accumulators
        Each needs a valid, distinct ``name`` (a dict's keys must equal them).
    folder : str or Path
        The session folder; logs go to ``folder/streams/``.
    include_held : bool
        Also record the rows the accumulators hold already (received before
        the recorder was created); by default only rows received from now on.
    stream_info : dict of name to rigbook.storage.StreamInfo, optional
        Time origin, units and descriptions written into each stream's logs.

    Raises
    ------
    ValueError
        An accumulator name that is not a valid ID, or two with the same name.
    """

    def __init__(self, accumulators, folder, include_held=False, stream_info=None):
        from rigbook.storage import StreamWriter  # the storage helper's writer

        self._writer_class = StreamWriter
        self._stream_info = dict(stream_info or {})
        if hasattr(accumulators, "values"):
            accumulators = list(accumulators.values())
        self.folder = Path(folder) / STREAMS_FOLDER
        self._logs = {}
        for acc in accumulators:
            validate_id(acc.name, "stream")
            if acc.name in self._logs:
                raise ValueError(f"two accumulators are named {acc.name!r}; stream names must be distinct")
            self._logs[acc.name] = _Log(acc)
        #: rows that could not be recorded (trimmed before being taken), per stream
        self.lost = {name: 0 for name in self._logs}
        #: spans of rows that are not in the log, per stream: ``[{"start", "end", "rows"}]`` (seconds since t0)
        self.lost_spans = {name: [] for name in self._logs}
        #: times a stream's log could not be written, per stream: ``[{"start", "end", "error"}]``
        self.outages = {name: [] for name in self._logs}
        #: the disk's free bytes below which a suspended stream keeps waiting
        self.min_free_bytes = MIN_FREE_BYTES
        self.folder.mkdir(parents=True, exist_ok=True)
        self._closed = False
        # Taken just before a reset clears the rows (an explicit reset, or a
        # schema change seen while draining).
        self._slots = {}
        for name, entry in self._logs.items():
            slot = self._make_reset_slot(entry)
            entry.acc.sig_acc_resetting.connect(slot)
            self._slots[name] = slot
        for entry in self._logs.values():
            entry.count = entry.acc.n_received - (entry.acc.n_held if include_held else 0)

    def _make_reset_slot(self, entry):
        def take_before_reset():
            if self._closed:
                return
            self._poll_one(entry)
            self._give_up_unwritten(entry)  # the reset clears them
            entry.count = 0

        return take_before_reset

    @property
    def paths(self):
        """Files written so far, per stream name (several after a schema change)."""
        return {name: list(entry.paths) for name, entry in self._logs.items()}

    def poll(self):
        """Append every accumulator's new rows to its log (non-blocking writes).

        A stream whose log cannot be written is suspended and resumes by
        itself (see the module's notes); poll does not raise for that.

        Raises
        ------
        ValueError
            The recorder is closed.
        """
        if self._closed:
            raise ValueError("this StreamRecorder is closed")
        for entry in self._logs.values():
            self._poll_one(entry)

    @property
    def suspended(self):
        """Names of the streams waiting for the disk after a failed write."""
        return [name for name, entry in self._logs.items() if entry.suspended_until is not None]

    def _poll_one(self, entry):
        acc = entry.acc
        if entry.writer is not None and entry.writer.error is not None:
            self._writer_failed(entry, entry.writer.error)
        if entry.suspended_until is not None and not self._may_resume(entry):
            self._take_trimmed(entry)  # rows the accumulator dropped meanwhile are lost
            return
        if acc.n_received < entry.count:  # reset without us noticing: start over
            entry.count = 0
        self._take_trimmed(entry)
        try:
            batch, end = acc.rows_since(entry.count)
        except RowsTrimmedError:  # (trimmed between the check and the take)
            self._take_trimmed(entry)
            batch, end = acc.rows_since(entry.count)
        start = entry.count
        if batch.num_rows == 0:
            return
        if entry.writer is not None and not batch.schema.equals(entry.schema):
            log.info("stream %r changed schema; continuing in a new file", acc.name)
            self._close_writer(entry)
        try:
            if entry.writer is None:
                path = self._free_path(acc.name, len(entry.paths))
                entry.writer = self._writer_class(path, schema=batch.schema,
                                                  metadata=self._stream_info.get(acc.name))
                entry.schema = batch.schema
                entry.paths.append(path)
                entry.started_at = entry.count
                entry.batch_ends = []
                entry.file_rows = 0
                new_file = True
            else:
                new_file = False
            if new_file or entry.logged is None or acc.logged is not entry.logged or start != entry.logged.until:
                # A new file, the accumulator reset (its rows are counted from 0 again), or rows lost.
                # Without a reset the rows before stay readable through the previous mapping.
                previous = entry.logged if entry.logged is not None and acc.logged is entry.logged else None
                entry.logged = LoggedRows(entry.paths[-1], start, entry.file_rows, _flusher(entry.writer),
                                          previous=previous)
                acc.log_rows_to(entry.logged)
            entry.writer.append(batch)
        except OSError as error:
            self._writer_failed(entry, error)
            return
        entry.batch_ends.append(end)
        entry.file_rows += batch.num_rows
        entry.count = end
        entry.logged.until = end
        entry.last_t = float(batch.column(0)[-1].as_py())
        if entry.outage is not None:
            entry.outage["end"] = _t_at(acc, entry.count - batch.num_rows)
            log.warning("stream %r: writing resumed in %s", acc.name, entry.paths[-1].name)
            entry.outage = None

    def _writer_failed(self, entry, error):
        """Rewind to the first row not confirmed written, close the writer, suspend the stream."""
        acc = entry.acc
        confirmed = 0
        if entry.writer is not None:
            try:
                entry.writer.close()  # (joins its thread: what it wrote is then final)
            except OSError:
                pass  # (the error is the one being handled)
            confirmed = entry.writer.batches_written
            entry.writer = None
            if confirmed == 0:
                self._remove_empty_part(entry)
        confirmed_end = entry.batch_ends[confirmed - 1] if confirmed else entry.started_at
        entry.count = min(confirmed_end, entry.count)
        if entry.logged is not None:  # what the accumulator may read back is what reached the file
            entry.logged.until = min(entry.logged.until, entry.count)
        entry.batch_ends = []
        entry.suspended_until = time.monotonic() + RETRY_INTERVAL_S
        if entry.outage is None:
            entry.outage = {"start": _t_at(acc, entry.count), "end": None, "error": str(error)}
            self.outages[acc.name].append(entry.outage)
            log.error("stream %r: writing the log failed (%s); the rows are kept and written when the disk "
                      "has room again", acc.name, error)

    def _remove_empty_part(self, entry):
        """A part that failed before any row reached it holds nothing: remove it, so retries leave no litter."""
        path = entry.paths.pop()
        try:
            path.unlink()
        except OSError as error:
            log.warning("stream %r: could not remove the empty log %s: %s", entry.acc.name, path, error)
            entry.paths.append(path)

    def _may_resume(self, entry):
        now = time.monotonic()
        if now < entry.suspended_until:
            return False
        try:
            free = shutil.disk_usage(self.folder).free
        except OSError:
            free = 0
        if free < self.min_free_bytes:
            entry.suspended_until = now + RETRY_INTERVAL_S
            return False
        entry.suspended_until = None
        return True

    def _take_trimmed(self, entry):
        """Count rows the accumulator dropped before they were taken, as a lost span."""
        acc = entry.acc
        if acc.n_received < entry.count:
            return
        first = acc.n_received - acc.n_held
        if first <= entry.count:
            return
        rows = first - entry.count
        self.lost[acc.name] += rows
        times = acc.t
        span = {"start": entry.last_t, "end": float(times[0]) if len(times) else None, "rows": int(rows)}
        self.lost_spans[acc.name].append(span)
        log.error("stream %r: %d row(s) trimmed before they were recorded", acc.name, rows)
        entry.count = first

    def _close_writer(self, entry):
        try:
            entry.writer.close()
        except OSError as error:
            self._writer_failed(entry, error)
        entry.writer = None

    def _free_path(self, name, n_files):
        index = n_files + 1
        while True:
            stem = name if index == 1 else f"{name}_{index}"
            path = self.folder / f"{stem}{STREAM_SUFFIX}"
            if not path.exists():
                return path
            index += 1

    def _give_up_unwritten(self, entry):
        """Count the rows not written yet (a suspended stream) as lost."""
        acc = entry.acc
        rows = acc.n_received - entry.count
        if entry.suspended_until is None or rows <= 0:
            return
        self.lost[acc.name] += rows
        self.lost_spans[acc.name].append({"start": _t_at(acc, entry.count),
                                          "end": _t_at(acc, acc.n_received - 1), "rows": int(rows)})
        log.error("stream %r: %d row(s) could not be written", acc.name, rows)
        entry.count = acc.n_received

    def flush(self):
        """Take the new rows and block until everything is on disk (or a write failed)."""
        self.poll()
        for entry in self._logs.values():
            if entry.writer is not None:
                try:
                    entry.writer.flush()
                except OSError as error:
                    self._writer_failed(entry, error)

    def close(self):
        """Take the last rows, write everything and close the logs.

        A suspended stream tries once more; rows that still cannot be
        written are counted in :attr:`lost_spans`.
        """
        if self._closed:
            return
        for entry in self._logs.values():
            if entry.suspended_until is not None:
                entry.suspended_until = 0.0  # try now, whatever the disk says it has
        self.min_free_bytes = 0
        self.poll()
        for entry in self._logs.values():
            if entry.writer is not None:
                try:
                    entry.writer.close()
                except OSError as error:
                    self._writer_failed(entry, error)
                entry.writer = None
            self._give_up_unwritten(entry)
            if entry.outage is not None and entry.outage["end"] is None:
                entry.outage["end"] = entry.last_t
        self._closed = True
        for name, entry in self._logs.items():
            entry.acc.sig_acc_resetting.disconnect(self._slots[name])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _flusher(writer):
    """Blocks until what ``writer`` was given is in its file (nothing to wait for once it is closed)."""

    def flush():
        if not writer.closed:
            try:
                writer.flush()
            except OSError:
                pass  # a failed write: the recorder rewinds, and reading gives what reached the file

    return flush
