"""QueueDataAccumulator: an accumulator fed by a :class:`NamedTupleQueue`."""

import collections
import logging
import queue as queue_module
import threading
import time
import weakref

import numpy as np

from rigbook.collectors.accumulators import DataFrameAccumulator
from rigbook.collectors.namedtuplequeue import COLUMNS, ROWS, SCHEMA, NamedTupleQueue

log = logging.getLogger(__name__)

#: payloads at least this big are read into reused buffers
POOLED_PAYLOAD_BYTES = 1 << 14
#: bytes of buffers kept for reuse, at most, per accumulator
POOL_BYTES = 1 << 23
#: consecutive blocks of columns are appended together up to this many samples
JOINED_ROWS = 1024


class _BufferPool:
    """Payload buffers given back once their samples were copied into the accumulator.

    Reading each block into memory touched before is what keeps a fast
    stream cheap: fresh pages cost a page fault each (a hypervisor trip in
    a virtual machine), more than the copy. At most :data:`POOL_BYTES` wait.
    Used by the receiving thread (allocate) and the draining one (give_back).
    """

    def __init__(self):
        self._free = []
        self._bytes = 0
        self._lock = threading.Lock()

    def allocate(self, nbytes):
        if nbytes >= POOLED_PAYLOAD_BYTES and self._free:
            with self._lock:
                buffer = self._free.pop() if self._free else None
                if buffer is not None:
                    self._bytes -= len(buffer)
            if buffer is not None and len(buffer) >= nbytes:
                return buffer
        return np.empty(nbytes, np.uint8)

    def give_back(self, buffer):
        if buffer is None or len(buffer) < POOLED_PAYLOAD_BYTES:
            return
        with self._lock:
            if self._bytes + len(buffer) <= POOL_BYTES:
                self._bytes += len(buffer)
                self._free.append(buffer)


class QueueReader:
    """Moves wire messages of a :class:`NamedTupleQueue` into an accumulator.

    A background thread receives the messages (blocking reads happen there:
    a producer killed or stopped in the middle of a message can stall that
    thread, never the caller of :meth:`drain`) and keeps at most
    ``max_waiting`` of them, so a flooded queue still pushes back on its
    producer. :meth:`drain` only takes messages already received.

    Per producing source it keeps the schema and the next sequence number
    expected; gaps are added to the accumulator's ``dropped``.

    Holds its accumulator weakly: the accumulator owns its reader, and a
    cycle between them would keep a dropped accumulator's data (gigabytes
    after a long recording) and its receiving thread alive until the
    garbage collector happened to run.
    """

    def __init__(self, data_queue, accumulator, max_waiting=64):
        if not isinstance(data_queue, NamedTupleQueue):
            raise TypeError(
                f"data_queue must be a rigbook NamedTupleQueue, got {type(data_queue).__name__}"
            )
        self.data_queue = data_queue
        self._accumulator = weakref.ref(accumulator)
        self._sources = {}
        self._inbox = collections.deque()
        self._room = threading.Semaphore(max_waiting)
        self._buffers = _BufferPool()
        self._stop = threading.Event()
        self._thread = None

    @property
    def accumulator(self):
        """The accumulator fed (None once it is gone)."""
        return self._accumulator()

    def _start(self):
        self._thread = threading.Thread(
            target=_receive,
            args=(self.data_queue.get_message, self._inbox, self._room, self._stop,
                  self.accumulator.name, self._buffers.allocate),
            name=f"rigbook-receive-{self.accumulator.name}",
            daemon=True,
        )
        self._thread.start()
        weakref.finalize(self, self._stop.set)

    def close(self):
        """Stop receiving (messages already received can still be drained)."""
        self._stop.set()

    def drain(self, budget):
        """Take received messages until none is left or ``budget`` seconds are spent; return samples taken."""
        if self._thread is None:
            self._start()
        deadline = time.perf_counter() + budget
        inbox = self._inbox
        taken = 0
        give_back = self._buffers.give_back
        released = 0
        try:
            while inbox:
                message, buffer = inbox.popleft()
                released += 1
                buffers = [buffer]
                if message[0] == COLUMNS and inbox and _continues(message, inbox[0][0]):
                    # Small blocks that follow each other are appended as one: an append costs mostly per call.
                    run, rows = [message], len(message[3][0])
                    while inbox and _continues(run[-1], inbox[0][0]) and rows + len(inbox[0][0][3][0]) <= JOINED_ROWS:
                        following, buffer = inbox.popleft()
                        released += 1
                        run.append(following)
                        rows += len(following[3][0])
                        buffers.append(buffer)
                    message = _joined(run) if len(run) > 1 else message
                n = self.take(message)
                # take() copied the samples: the buffers can be read into again.
                for buffer in buffers:
                    give_back(buffer)
                taken += n
                # Schema messages carry no samples: they never end a drain.
                if n and time.perf_counter() >= deadline:
                    break
        finally:
            if released:  # room for as many messages as were taken, even if one was bad
                self._room.release(released)
        return taken

    def take(self, message):
        acc = self.accumulator
        kind, source, seq, payload = message
        state = self._sources.get(source)
        if kind == SCHEMA:
            if state is None:
                self._sources[source] = [payload, seq]
            else:  # keep the count going: a refused put just before is a gap
                state[0] = payload
            acc._use_schema(payload)
            return 0
        if state is None:
            log.warning("accumulator %r: data from an unannounced source %s ignored", acc.name, source)
            return 0
        schema, expected = state
        if not schema.same_columns(acc.schema):
            acc._use_schema(schema)
        if seq > expected:
            acc.dropped += seq - expected
            log.debug("accumulator %r: %d sample(s) lost before #%d", acc.name, seq - expected, seq)
        if kind == ROWS:
            k = len(payload)
            if not payload.flags.writeable:
                payload = payload.copy()
            acc._append_rows(payload)
        elif kind == COLUMNS:
            if isinstance(payload, tuple):
                payload = [c if c.flags.writeable else c.copy() for c in payload]
            elif not payload.flags.writeable:
                payload = payload.copy()
            k = len(payload[0])
            acc._append_columns(payload)
        else:
            raise ValueError(f"accumulator {acc.name!r}: unknown message kind {kind!r} in the queue")
        state[1] = max(expected, seq + k)
        return k


def _continues(message, following):
    """True if ``following`` is a block of columns from the same source, same layout, right after ``message``."""
    kind, source, seq, payload = message
    next_kind, next_source, next_seq, next_payload = following
    if next_kind != COLUMNS or next_source != source or next_seq != seq + len(payload[0]):
        return False
    if isinstance(payload, np.ndarray):
        return (isinstance(next_payload, np.ndarray) and next_payload.shape[0] == payload.shape[0]
                and next_payload.dtype == payload.dtype)
    return (not isinstance(next_payload, np.ndarray) and len(next_payload) == len(payload)
            and all(a.dtype == b.dtype for a, b in zip(payload, next_payload)))


def _joined(run):
    """One block of columns holding the samples of consecutive blocks ``run``."""
    kind, source, seq, payload = run[0]
    payloads = [message[3] for message in run]
    if isinstance(payload, np.ndarray):
        return kind, source, seq, np.concatenate(payloads, axis=1)
    return kind, source, seq, tuple(np.concatenate(columns) for columns in zip(*payloads))


class QueueDataAccumulator(DataFrameAccumulator):
    """Accumulator that drains a :class:`NamedTupleQueue` on :meth:`update_list`.

    Parameters
    ----------
    data_queue : NamedTupleQueue
        Where the samples come from (this accumulator is its only consumer).
    drain_budget : float
        Seconds one :meth:`update_list` call may spend draining (default
        5 ms); what is left waits for the next call, so a flooded stream
        cannot freeze the GUI.
    **kwargs
        As :class:`~rigbook.collectors.Accumulator`.

    Notes
    -----
    Messages are received by a background thread (started by the first
    :meth:`update_list`), so a producer killed in the middle of a message
    never blocks the caller; at most 64 received messages wait, so a flooded
    queue still slows its producer down instead of filling memory.

    A change of sample type in the stream (another namedtuple, other field
    names or dtypes) resets the accumulator: ``sig_acc_resetting``,
    ``sig_acc_reset`` and ``sig_acc_init`` are emitted and the new columns
    start empty. Gaps in the producers' sequence numbers are added to
    :attr:`dropped`.
    """

    def __init__(self, data_queue, drain_budget=0.005, **kwargs):
        reader = QueueReader(data_queue, self)
        super().__init__(**kwargs)
        self.data_queue = data_queue
        self.drain_budget = float(drain_budget)
        self._reader = reader

    def update_list(self):
        """Move every waiting sample into the accumulator, within the time budget.

        Never blocks on an empty queue.

        Returns
        -------
        int
            Number of samples taken in this call.
        """
        return self._reader.drain(self.drain_budget)

    def close(self):
        """Stop the receiving thread (what was received can still be drained)."""
        self._reader.close()


def _receive(get_message, inbox, room, stop, name, allocate):
    """Receiving thread: move messages from the queue to ``inbox`` until ``stop`` is set.

    Each message goes with the buffer its payload was read into (or None).
    """
    used = []

    def allocate_and_note(nbytes):
        buffer = allocate(nbytes)
        used.append(buffer)
        return buffer

    while not stop.is_set():
        if not room.acquire(timeout=0.1):
            continue
        while True:
            used.clear()
            try:
                message = get_message(True, 0.1, allocate_and_note)
            except queue_module.Empty:
                if stop.is_set():
                    return
                continue
            except (EOFError, OSError, ValueError) as error:  # queue closed or broken
                if not stop.is_set():
                    log.warning("stream %r: receiving stopped: %r", name, error)
                return
            break
        inbox.append((message, used[0] if used else None))
