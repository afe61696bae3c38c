"""A multiprocessing queue of timestamped samples that carries its own schema.

A producer (usually another process) calls :meth:`NamedTupleQueue.put` with
one namedtuple per sample, or :meth:`NamedTupleQueue.put_block` with arrays.
The consumer calls :meth:`NamedTupleQueue.get`, or hands the queue to a
:class:`~rigbook.collectors.QueueDataAccumulator` which drains whole messages.

What travels through the underlying :class:`multiprocessing.Queue`:

* a *schema* message, only when the sample type changes (field names and
  dtypes), so a type change mid-stream is seen by the consumer in order;
* *data* messages: a first sequence number and a numpy block of samples.
  Every sample gets a sequence number from its producer, so a sample that
  never arrives (a ``put`` refused on a full queue) shows up as a gap.

Single samples are coalesced: ``put`` appends to a local buffer that a
sender thread of the producing process turns into one numpy block per
wake-up. While the consumer keeps up, each sample leaves at once on its own;
when the producer outpaces the pipe, the samples that piled up meanwhile
leave together, which is what keeps a 1 kHz x many-streams rig cheap.

One queue has one consumer. Several producers (processes or threads) may
share a queue: each producing process is its own *source* with its own
sequence numbers and schema.
"""

import collections
import itertools
import logging
import multiprocessing
import os
import queue as queue_module
import threading
import time
import weakref
from collections import namedtuple
from datetime import datetime

import numpy as np
from multiprocessing import util as mp_util

log = logging.getLogger(__name__)

#: message kinds on the wire
SCHEMA = "schema"
ROWS = "rows"  # payload: float64 array (k, 1 + n_fields), column 0 the timestamps
COLUMNS = "columns"  # payload: tuple (times, field_1, ..., field_n) of 1-D arrays

_NUMERIC_TYPES = frozenset(
    [float, int, bool, np.float64, np.float32, np.float16, np.int64, np.int32,
     np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8, np.bool_]
)
_MAX_ROWS_PER_MESSAGE = 8192
_source_ids = itertools.count()


class Schema(tuple):
    """``(name, fields, dtypes)`` of a stream: what a sample looks like."""

    __slots__ = ()

    def __new__(cls, name, fields, dtypes):
        return super().__new__(cls, (str(name), tuple(fields), tuple(np.dtype(d).str for d in dtypes)))

    @property
    def name(self):
        return self[0]

    @property
    def fields(self):
        return self[1]

    @property
    def dtypes(self):
        return tuple(np.dtype(d) for d in self[2])

    def __reduce__(self):
        return (Schema, (self[0], self[1], self[2]))


def to_monotonic(t):
    """Seconds on the ``time.monotonic()`` clock for a float or a datetime."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.astimezone()
        return time.monotonic() - (datetime.now().astimezone() - t).total_seconds()
    return t


def check_sample(obj, where="sample"):
    """Raise TypeError unless ``obj`` is a namedtuple of plain numbers."""
    fields = getattr(obj, "_fields", None)
    if not isinstance(obj, tuple) or fields is None:
        raise TypeError(f"{where} must be a namedtuple of numbers, got {type(obj).__name__} {obj!r:.80}")
    if not _NUMERIC_TYPES.issuperset(map(type, obj)):
        for name, value in zip(fields, obj):
            if type(value) not in _NUMERIC_TYPES:
                raise TypeError(
                    f"{where} field {name!r} must be a number, got {type(value).__name__} {value!r:.80}"
                )


def block_columns(times, values):
    """Validate a block of samples; return (fields, [times, col, ...]) as fresh arrays."""
    times = np.array(times, dtype=np.float64, copy=True)
    if times.ndim != 1:
        raise ValueError(f"block times must be a 1-D array, got shape {times.shape}")
    if isinstance(values, np.ndarray) and values.dtype.names:
        fields = values.dtype.names
        columns = [values[name] for name in fields]
    elif isinstance(values, dict):
        fields = tuple(str(name) for name in values)
        columns = [np.asarray(col) for col in values.values()]
    else:
        raise TypeError(
            "block values must be a numpy structured array or a dict of 1-D arrays, "
            f"got {type(values).__name__}"
        )
    if not fields:
        raise ValueError("a block needs at least one field")
    out = [times]
    for name, col in zip(fields, columns):
        if col.ndim != 1:
            raise ValueError(f"block field {name!r} must be 1-D, got shape {col.shape}")
        if len(col) != len(times):
            raise ValueError(f"block field {name!r} has {len(col)} values for {len(times)} timestamps")
        if col.dtype.kind not in "biuf":
            raise TypeError(f"block field {name!r} must be numeric, got dtype {col.dtype}")
        out.append(np.array(col, copy=True))
    return fields, out


class _Producer:
    """Per-process sending side: sequence numbers, coalescing buffer, sender thread.

    ``pending`` holds, in order, sample tuples ``(seq, t, *values)`` and
    control lists ``[kind, ...]`` (schema, block, flush markers).
    """

    def __init__(self, mp_queue, maxsize):
        self.pid = os.getpid()
        self.source = (self.pid, next(_source_ids))
        self.mp_queue = mp_queue
        self.maxsize = maxsize
        self.pending = collections.deque()
        self.wake = threading.Event()
        self.space = threading.Condition(threading.Lock())
        self.seq_lock = threading.Lock()
        self.next_seq = 0
        self.last_type = None
        self.last_schema = None
        self.thread = threading.Thread(target=self._run, name="NamedTupleQueue-sender", daemon=True)
        self.thread.start()
        # Forked children leave through os._exit: multiprocessing's own
        # finalizers are the hook that still runs there, before the queue's.
        mp_util.Finalize(None, self.flush, kwargs={"timeout": 5.0}, exitpriority=20)

    def take_seqs(self, k):
        with self.seq_lock:
            first = self.next_seq
            self.next_seq += k
        return first

    def _run(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            try:
                while self.pending:
                    if self._send_pending():
                        return
            except Exception:  # pragma: no cover - e.g. the queue was closed under us
                log.exception("NamedTupleQueue sender stopped; samples put later are lost")
                return

    def _send_pending(self):
        rows = []
        pending = self.pending
        send = self.mp_queue.put
        while pending:
            item = pending.popleft()
            if type(item) is tuple:
                rows.append(item)
                if len(rows) >= _MAX_ROWS_PER_MESSAGE:
                    self._send_rows(rows)
                    rows = []
                continue
            if rows:
                self._send_rows(rows)
                rows = []
            kind = item[0]
            if kind is _FLUSH:
                item[1].set()
            elif kind is _STOP:
                return True
            else:
                send((kind, self.source, item[1], item[2]))
        if rows:
            self._send_rows(rows)
        if self.maxsize:
            with self.space:
                self.space.notify_all()
        return False

    def _send_rows(self, rows):
        array = np.array(rows, dtype=np.float64)
        seqs = array[:, 0]
        send = self.mp_queue.put
        if seqs[-1] - seqs[0] == len(rows) - 1:
            send((ROWS, self.source, int(seqs[0]), array[:, 1:]))
            return
        # A refused put left a hole in the numbering: one message per run, so
        # the consumer sees (and counts) the hole.
        bounds = [0, *(np.flatnonzero(np.diff(seqs) != 1) + 1).tolist(), len(rows)]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            send((ROWS, self.source, int(seqs[lo]), array[lo:hi, 1:]))

    def flush(self, timeout=None):
        """Block until everything put so far was handed to the multiprocessing queue."""
        if not self.thread.is_alive():
            return not self.pending
        done = threading.Event()
        self.pending.append([_FLUSH, done])
        self.wake.set()
        if not done.wait(timeout):
            log.warning("NamedTupleQueue: %d item(s) still unsent after %s s", len(self.pending), timeout)
            return False
        return True


    def stop(self):
        """Send what is pending, then end the sender thread (the queue object is gone)."""
        self.pending.append([_STOP])
        self.wake.set()


_FLUSH = "flush"
_STOP = "stop"


class NamedTupleQueue:
    """Queue of timestamped namedtuples between processes, schema included.

    Parameters
    ----------
    maxsize : int, optional
        0 (default) for an unbounded queue. Otherwise at most ``maxsize``
        messages wait in the multiprocessing queue and at most ``maxsize``
        samples wait in the producer's buffer; ``put`` then blocks or raises
        :class:`queue.Full`, and a refused sample is counted as dropped by the
        consumer.
    context : multiprocessing context, optional
        Defaults to :func:`multiprocessing.get_context`; pass
        ``multiprocessing.get_context('spawn')`` to share with spawned processes.

    Notes
    -----
    Timestamps are ``time.monotonic()`` seconds; a ``datetime`` is converted.
    Single samples are stored as float64 on the receiving side (ints and
    bools are exact up to 2**53); :meth:`put_block` keeps each field's dtype.
    """

    def __init__(self, maxsize=0, context=None):
        context = context or multiprocessing.get_context()
        self._maxsize = int(maxsize)
        self._queue = context.Queue(self._maxsize)
        self._init_local()

    def _init_local(self):
        self._producer = None
        self._producer_lock = threading.Lock()
        # consumer side, for get()
        self._received = collections.deque()
        self._sources = {}
        self.dropped = 0

    def __getstate__(self):
        return {"queue": self._queue, "maxsize": self._maxsize}

    def __setstate__(self, state):
        self._queue = state["queue"]
        self._maxsize = state["maxsize"]
        self._init_local()

    # -- producing -----------------------------------------------------------

    def _local_producer(self):
        producer = self._producer
        if producer is not None and producer.pid != os.getpid():
            # Forked: the parent's sender thread did not come along, and its
            # lock may have been held at fork time.
            self._producer = producer = None
            self._producer_lock = threading.Lock()
        if producer is None:
            with self._producer_lock:
                if self._producer is None:
                    self._producer = _Producer(self._queue, self._maxsize)
                    weakref.finalize(self, self._producer.stop)
                producer = self._producer
        return producer

    def _enqueue(self, producer, item, block, timeout, seqs):
        if self._maxsize and len(producer.pending) >= self._maxsize:
            deadline = None if timeout is None else time.monotonic() + timeout
            with producer.space:
                while len(producer.pending) >= self._maxsize:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if not block or (remaining is not None and remaining <= 0):
                        log.debug("queue full: %d sample(s) refused", seqs)
                        raise queue_module.Full(f"queue is full ({self._maxsize} samples waiting)")
                    producer.wake.set()
                    producer.space.wait(remaining if remaining is not None else 0.1)
        producer.pending.append(item)
        if not producer.wake.is_set():
            producer.wake.set()

    def _announce(self, producer, schema, sample_type):
        producer.last_type = sample_type
        if schema != producer.last_schema:
            producer.last_schema = schema
            # A schema message needs a place in the order but no sequence number.
            producer.pending.append([SCHEMA, producer.next_seq, schema])
            producer.wake.set()

    def put(self, t, obj, block=True, timeout=None):
        """Send one sample.

        Parameters
        ----------
        t : float or datetime
            ``time.monotonic()`` seconds of the sample.
        obj : namedtuple of numbers
        block, timeout
            As :meth:`queue.Queue.put`; only matter for a bounded queue.

        Raises
        ------
        TypeError
            ``obj`` is not a namedtuple, or a field is not a number.
        queue.Full
            Bounded queue still full after ``timeout`` (the sample is lost and
            counted as dropped by the consumer).
        """
        producer = self._producer
        if producer is None or producer.pid != os.getpid():
            producer = self._local_producer()
        if type(obj) is not producer.last_type:
            check_sample(obj)
            self._announce(producer, Schema(type(obj).__name__, obj._fields, ["f8"] * len(obj)), type(obj))
        elif not _NUMERIC_TYPES.issuperset(map(type, obj)):
            check_sample(obj)
        if type(t) is not float:
            t = to_monotonic(t)
            if not isinstance(t, (int, float, np.floating, np.integer)) or isinstance(t, bool):
                raise TypeError(f"timestamp must be a number or datetime, got {type(t).__name__}")
        self._enqueue(producer, (producer.take_seqs(1), t, *obj), block, timeout, 1)

    def put_block(self, times, values, block=True, timeout=None, name="block"):
        """Send many samples at once.

        Parameters
        ----------
        times : 1-D array of float
            ``time.monotonic()`` seconds, one per sample.
        values : numpy structured array or dict of 1-D arrays
            One field per column, each as long as ``times``; the field names
            and dtypes travel with the stream.
        name : str
            Name given to the sample type on the receiving side.

        Raises
        ------
        ValueError
            Lengths differ, or arrays are not 1-D.
        TypeError
            A field is not numeric.
        """
        fields, columns = block_columns(times, values)
        producer = self._local_producer()
        schema = Schema(name, fields, [col.dtype for col in columns[1:]])
        if schema != producer.last_schema:
            self._announce(producer, schema, None)
        producer.last_type = None
        k = len(columns[0])
        if k == 0:
            return
        seq = producer.take_seqs(k)
        self._enqueue(producer, [COLUMNS, seq, tuple(columns)], block, timeout, k)

    def flush(self, timeout=None):
        """Hand every sample put so far to the multiprocessing queue; True if done in time."""
        producer = self._producer
        if producer is None or producer.pid != os.getpid():
            return True
        return producer.flush(timeout)

    def close(self):
        """Flush, then close the sending side in this process (see multiprocessing.Queue.close)."""
        self.flush()
        self._queue.close()

    # -- consuming -----------------------------------------------------------

    def get_message(self, block=False, timeout=None):
        """One raw wire message ``(kind, source, first_seq, payload)``; raises queue.Empty."""
        return self._queue.get(block, timeout)

    def get(self, block=True, timeout=-1):
        """Receive one sample as ``(t, namedtuple)``.

        Parameters
        ----------
        block : bool
            Wait for a sample if none is there.
        timeout : float
            Seconds to wait at most; negative or None waits forever.

        Raises
        ------
        queue.Empty
            No sample within the timeout (or none at once if not blocking).
        """
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._received:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._unpack(self._queue.get(block, remaining))
        return self._received.popleft()

    def _unpack(self, message):
        kind, source, seq, payload = message
        state = self._sources.get(source)
        if kind == SCHEMA:
            sample_type = namedtuple(payload.name, payload.fields, rename=True)
            if state is None:
                self._sources[source] = [sample_type, seq]
            else:  # keep counting from where the source was: a refused put is a gap
                state[0] = sample_type
            return
        if state is None:
            raise RuntimeError(f"data from source {source} before its schema; was another consumer reading?")
        sample_type, expected = state
        if seq > expected:
            self.dropped += seq - expected
        if kind == ROWS:
            k = len(payload)
            for row in payload.tolist():
                self._received.append((row[0], sample_type._make(row[1:])))
        else:
            times, *columns = payload
            k = len(times)
            lists = [col.tolist() for col in columns]
            for i, t in enumerate(times.tolist()):
                self._received.append((t, sample_type._make([c[i] for c in lists])))
        state[1] = seq + k

    def empty(self):
        """True if nothing is waiting (approximate, as for multiprocessing queues)."""
        return not self._received and self._queue.empty()
