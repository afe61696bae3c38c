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
"""

import logging
from pathlib import Path

from rigbook.collectors.accumulators import RowsTrimmedError
from rigbook.collectors.logged import LoggedRows
from rigbook.storage.ids import validate_id

log = logging.getLogger(__name__)

STREAMS_FOLDER = "streams"
STREAM_SUFFIX = ".arrows"


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

    Raises
    ------
    ValueError
        An accumulator name that is not a valid ID, or two with the same name.
    """

    def __init__(self, accumulators, folder, include_held=False):
        from rigbook.storage import StreamWriter  # the storage helper's writer

        self._writer_class = StreamWriter
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
        self.folder.mkdir(parents=True, exist_ok=True)
        self._closed = False
        self._deferred_error = None
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
            try:
                self._poll_one(entry)
            except OSError as error:  # raised by the next poll(), not inside the drain
                log.error("stream %r: writing the rows before a reset failed: %s", entry.acc.name, error)
                self._deferred_error = error
            entry.count = 0

        return take_before_reset

    @property
    def paths(self):
        """Files written so far, per stream name (several after a schema change)."""
        return {name: list(entry.paths) for name, entry in self._logs.items()}

    def poll(self):
        """Append every accumulator's new rows to its log (non-blocking writes).

        Raises
        ------
        OSError
            A log could not be written (also one that failed while taking
            the rows of a resetting accumulator).
        """
        if self._closed:
            raise ValueError("this StreamRecorder is closed")
        error, self._deferred_error = self._deferred_error, None
        if error is not None:
            raise error
        for entry in self._logs.values():
            self._poll_one(entry)

    def _poll_one(self, entry):
        acc = entry.acc
        if acc.n_received < entry.count:  # reset without us noticing: start over
            entry.count = 0
        start = entry.count
        try:
            batch, entry.count = acc.rows_since(start)
        except RowsTrimmedError:
            first = acc.n_received - acc.n_held
            self.lost[acc.name] += first - entry.count
            log.error("stream %r: %d row(s) trimmed before they were recorded", acc.name, first - entry.count)
            start = first
            batch, entry.count = acc.rows_since(first)
        if batch.num_rows == 0:
            return
        if entry.writer is not None and not batch.schema.equals(entry.schema):
            log.info("stream %r changed schema; continuing in a new file", acc.name)
            entry.writer.close()
            entry.writer = None
        if entry.writer is None:
            path = self._free_path(acc.name, len(entry.paths))
            entry.writer = self._writer_class(path, schema=batch.schema)
            entry.schema = batch.schema
            entry.paths.append(path)
            entry.file_rows = 0
            entry.logged = None
        if entry.logged is None or acc.logged is not entry.logged or start != entry.logged.until:
            # A new file, the accumulator reset (its rows are counted from 0 again), or rows lost.
            entry.logged = LoggedRows(entry.paths[-1], start, entry.file_rows, _flusher(entry.writer))
            acc.log_rows_to(entry.logged)
        entry.writer.append(batch)
        entry.file_rows += batch.num_rows
        entry.logged.until = entry.count

    def _free_path(self, name, n_files):
        index = n_files + 1
        while True:
            stem = name if index == 1 else f"{name}_{index}"
            path = self.folder / f"{stem}{STREAM_SUFFIX}"
            if not path.exists():
                return path
            index += 1

    def flush(self):
        """Take the new rows and block until everything is on disk."""
        self.poll()
        for entry in self._logs.values():
            if entry.writer is not None:
                entry.writer.flush()

    def close(self):
        """Take the last rows, write everything and close the logs."""
        if self._closed:
            return
        errors = []
        try:
            self.poll()
        except OSError as error:  # still close the other logs
            errors.append(error)
        self._closed = True
        for name, entry in self._logs.items():
            entry.acc.sig_acc_resetting.disconnect(self._slots[name])
            if entry.writer is not None:
                try:
                    entry.writer.close()
                except OSError as error:
                    errors.append(error)
                entry.writer = None
        if errors:
            raise errors[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _flusher(writer):
    """Blocks until what ``writer`` was given is in its file (nothing to wait for once it is closed)."""

    def flush():
        if not writer.closed:
            writer.flush()

    return flush
