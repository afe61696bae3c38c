"""A multiprocessing queue of timestamped samples that carries its own schema.

A producer (usually another process) calls :meth:`NamedTupleQueue.put` with
one namedtuple per sample, or :meth:`NamedTupleQueue.put_block` with arrays.
The consumer calls :meth:`NamedTupleQueue.get`, or hands the queue to a
:class:`~rigbook.collectors.QueueDataAccumulator` which drains whole messages.

What travels through the underlying pipe (:class:`~rigbook.collectors.wire.Wire`,
numpy payloads as raw bytes; :class:`~rigbook.collectors.transport.PortableWire`
where that POSIX pipe is missing or ``RIGBOOK_PORTABLE_TRANSPORT=1``):

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

One queue has one consumer. Several producer processes may share a queue:
each is its own *source* with its own sequence numbers and schema. Within a
process, put from one thread (or guard the calls with a lock): numbering is
kept lock-free for speed.
"""

import collections
import itertools
import math
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

from rigbook.collectors.clock import datetime_seconds, seconds_column, to_monotonic
from rigbook.collectors.transport import make_wire
from rigbook.collectors.wire import as_matrix_or_columns

log = logging.getLogger(__name__)

#: message kinds on the wire
SCHEMA = "schema"
ROWS = "rows"  # payload: float64 array (k, 1 + n_fields), column 0 the timestamps
COLUMNS = "columns"  # payload: float64 array (1 + n_fields, k), or tuple (times, field_1, ...) of 1-D arrays

_NUMERIC_TYPES = frozenset(
    [float, int, bool, np.float64, np.float32, np.float16, np.int64, np.int32,
     np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8, np.bool_]
)
# Coalesced samples leave in messages of at most ~64 KiB: a reader never
# waits long on a message the writer has only half written.
_MAX_MESSAGE_BYTES = 1 << 16
_source_ids = itertools.count()
_fsum = math.fsum
_fork_generation = 0


def _count_fork():
    global _fork_generation
    _fork_generation += 1


# A forked child must not use its parent's sender thread (it did not survive
# the fork): producers remember the generation they were made in.
if hasattr(os, "register_at_fork"):  # no fork, nothing to count (Windows)
    os.register_at_fork(after_in_child=_count_fork)


class Schema(tuple):
    """``(name, fields, dtypes)`` of a stream: what a sample looks like.

    Two schemas with the same fields and dtypes describe the same columns
    (:meth:`same_columns`); only a change of those is a schema change.
    """

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

    def same_columns(self, other):
        """True if ``other`` has the same field names and dtypes (the type's name may differ)."""
        return other is not None and self[1:] == other[1:]


def value_dtype(value):
    """The column dtype a sample value asks for: ints stay ints, bools bools, numpy scalars their own."""
    kind = type(value)
    if kind is float:
        return _F8
    if kind is bool:
        return _BOOL
    if kind is int:
        if -(2**63) <= value < 2**63:
            return _I8
        return np.dtype(np.uint64) if 0 <= value < 2**64 else _F8
    return np.dtype(kind)  # a numpy scalar


def sample_schema(sample, previous=None):
    """The :class:`Schema` of a namedtuple ``sample``.

    Each field's dtype comes from its value (:func:`value_dtype`). Given the
    ``previous`` schema of the same fields, a field keeps its dtype where the
    value fits it (an int in a float column) and is widened where it does
    not (a float in an int column becomes float64): a widened schema is a
    schema change for the consumer.
    """
    dtypes = [value_dtype(v) for v in sample]
    if previous is not None and previous.fields == tuple(sample._fields):
        dtypes = [np.promote_types(old, new) for old, new in zip(previous.dtypes, dtypes)]
    return Schema(type(sample).__name__, sample._fields, dtypes)


_F8 = np.dtype(np.float64)
_I8 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


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


def block_parts(times, values):
    """Validate a block of samples without copying it.

    Returns
    -------
    fields : tuple of str
    dtypes : list of numpy dtypes, one per field (native byte order)
    times : 1-D float64 array
    columns : list of 1-D arrays, one per field, as given
    """
    times = np.asarray(times, dtype=np.float64)
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
    for name, col in zip(fields, columns):
        if col.ndim != 1:
            raise ValueError(f"block field {name!r} must be 1-D, got shape {col.shape}")
        if len(col) != len(times):
            raise ValueError(f"block field {name!r} has {len(col)} values for {len(times)} timestamps")
        if col.dtype.kind not in "biuf":
            raise TypeError(f"block field {name!r} must be numeric, got dtype {col.dtype}")
    dtypes = [col.dtype.newbyteorder("=") if col.dtype.byteorder == ">" else col.dtype for col in columns]
    return fields, dtypes, times, columns


def owned_payload(times, columns, dtypes):
    """Copy a validated block (see :func:`block_parts`) into a payload owned by the caller.

    A 2-D float64 array (1 + n_fields, k) with the times in row 0 when every
    field is float64 (one buffer to send and to store), else a tuple
    ``(times, field_1, ...)`` of 1-D arrays.
    """
    if all(d == np.float64 for d in dtypes):
        payload = np.empty((1 + len(columns), len(times)), dtype=np.float64)
        payload[0] = times
        for i, col in enumerate(columns, start=1):
            payload[i] = col
        return payload
    return (times.copy(), *[np.array(col, dtype=d, copy=True) for col, d in zip(columns, dtypes)])


def block_columns(times, values):
    """Validate a block of samples and copy it into a payload owned by the queue.

    Returns
    -------
    fields : tuple of str
    dtypes : list of numpy dtypes, one per field
    payload : numpy array or tuple of arrays
        A 2-D float64 array (1 + n_fields, k) with the times in row 0 when
        every field is float64 (one buffer to send and to store), else a
        tuple ``(times, field_1, ...)`` of 1-D arrays.
    """
    fields, dtypes, times, columns = block_parts(times, values)
    return fields, dtypes, owned_payload(times, columns, dtypes)


class _Producer:
    """Per-process sending side: sequence numbers, coalescing buffer, sender thread.

    ``pending`` holds, in order, sample tuples ``(seq, t, *values)`` and
    control lists ``[kind, ...]`` (schema, block, flush markers).
    """

    def __init__(self, wire, maxsize):
        self.generation = _fork_generation
        # The random part keeps a later process that reuses the pid distinct.
        self.source = (os.getpid(), next(_source_ids), os.urandom(4))
        self.wire = wire
        self.maxsize = maxsize
        self.pending = collections.deque()
        self.wake = threading.Event()
        self.space = threading.Condition(threading.Lock())
        self.next_seq = 0
        self.stopped = False
        self.wake_is_set = self.wake.is_set
        # Held by the sender thread while it moves items; a block put finding
        # nothing pending and the sender idle may skip the thread hop.
        self.sending = threading.Lock()
        self.last_type = None
        self.last_types = None  # types of the last sample's values: another mix is checked against the schema
        self.floats_only = False  # the last sample type's schema is all float64: any number fits
        self.last_schema = None
        self.last_block_key = None
        self.send_dtypes = None  # sender thread: field dtypes of the rows it sends, None if all float64
        self.thread = threading.Thread(target=self._run, name="NamedTupleQueue-sender", daemon=True)
        self.thread.start()
        # Forked children leave through os._exit: multiprocessing's own
        # finalizers are the hook that still runs there, before the queue's.
        mp_util.Finalize(None, self.flush, kwargs={"timeout": 5.0}, exitpriority=20)

    def _run(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            try:
                while self.pending:
                    with self.sending:
                        self._send_pending()
                if self.stopped:
                    return
            except Exception:  # pragma: no cover - e.g. the queue was closed under us
                log.exception("NamedTupleQueue sender stopped; samples put later are lost")
                return

    def _send_pending(self):
        rows = []
        pending = self.pending
        send = self.wire.send
        while pending:
            item = pending.popleft()
            if type(item) is tuple:
                rows.append(item)
                if len(rows) * len(item) >= _MAX_MESSAGE_BYTES // 8:
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
                self.stopped = True
            else:
                if kind == SCHEMA:
                    dtypes = item[2].dtypes
                    self.send_dtypes = None if all(d == _F8 for d in dtypes) else dtypes
                send(kind, self.source, item[1], item[2])
        if rows:
            self._send_rows(rows)
        if self.maxsize:
            with self.space:
                self.space.notify_all()

    def _send_rows(self, rows):
        if self.send_dtypes is not None:
            self._send_typed_rows(rows)
            return
        array = _float_rows(rows)
        if array is None:
            # A value float64 cannot take got past put's quick check (an int
            # beyond its range, an array...): leave those samples out; their
            # sequence numbers make them count as dropped.
            kept = []
            for row in rows:
                one = _float_rows([row])
                if one is None:
                    log.error("NamedTupleQueue: sample #%d has a value float64 cannot hold; dropped", row[0])
                else:
                    kept.append(one)
            if not kept:
                return
            array = np.concatenate(kept)
        seqs = array[:, 0]
        send = self.wire.send
        if seqs[-1] - seqs[0] == len(array) - 1:
            send(ROWS, self.source, int(seqs[0]), array[:, 1:])
            return
        # A refused put left a hole in the numbering: one message per run, so
        # the consumer sees (and counts) the hole.
        bounds = [0, *(np.flatnonzero(np.diff(seqs) != 1) + 1).tolist(), len(array)]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            send(ROWS, self.source, int(seqs[lo]), array[lo:hi, 1:])

    def _send_typed_rows(self, rows):
        """Send samples whose fields are not all float64 as columns of their own dtypes (ints stay exact)."""
        dtypes = self.send_dtypes
        try:
            columns = list(zip(*rows))
            payload = [seconds_column(columns[1]),
                       *[np.array(values, dtype=dtype) for values, dtype in zip(columns[2:], dtypes)]]
        except (OverflowError, ValueError):
            # A value beyond its column's range got past put's type check: leave those
            # samples out; their sequence numbers make them count as dropped.
            rows = [row for row in rows if _fits(row[2:], dtypes)]
            if not rows:
                return
            columns = list(zip(*rows))
            payload = [seconds_column(columns[1]),
                       *[np.array(values, dtype=dtype) for values, dtype in zip(columns[2:], dtypes)]]
        seqs = np.array([row[0] for row in rows], dtype=np.int64)
        bounds = [0, *(np.flatnonzero(np.diff(seqs) != 1) + 1).tolist(), len(seqs)]
        for lo, hi in zip(bounds[:-1], bounds[1:]):  # one message per run of sequence numbers, as _send_rows
            self.wire.send(COLUMNS, self.source, int(seqs[lo]), tuple(column[lo:hi] for column in payload))

    def flush(self, timeout=None):
        """Block until everything put so far was written to the pipe."""
        done = threading.Event()
        self.pending.append([_FLUSH, done])
        self.wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.05):
            if not self.thread.is_alive():
                return done.is_set()
            if deadline is not None and time.monotonic() > deadline:
                log.warning("NamedTupleQueue: %d item(s) still unsent after %s s", len(self.pending), timeout)
                return False
        return True


    def stop(self):
        """Send what is pending, then end the sender thread (the queue object is gone)."""
        self.pending.append([_STOP])
        self.wake.set()


def _float_rows(rows):
    """``rows`` ``(seq, t, *values)`` as one float64 array (datetime stamps converted), or None if a value cannot be."""
    try:
        return np.array(rows, dtype=np.float64)
    except TypeError:  # naive datetime stamps, left by put for the sender thread to convert (or a bad value)
        pass
    except (OverflowError, ValueError):
        return None
    try:
        columns = list(zip(*rows))
        array = np.empty((len(rows), len(columns)))
        array[:, 0] = columns[0]
        array[:, 1] = seconds_column(columns[1])
        array[:, 2:] = np.array(columns[2:], dtype=np.float64).T
    except (TypeError, OverflowError, ValueError):
        return None
    return array


def _fits(values, dtypes):
    try:
        for value, dtype in zip(values, dtypes):
            np.array(value, dtype=dtype)
    except (OverflowError, ValueError):
        log.error("NamedTupleQueue: a sample has a value too large for its column %s; dropped", values)
        return False
    return True


_FLUSH = "flush"
_STOP = "stop"


class NamedTupleQueue:
    """Queue of timestamped namedtuples between processes, schema included.

    Parameters
    ----------
    maxsize : int, optional
        0 (default) for an unbounded queue. Otherwise at most ``maxsize``
        messages wait in the pipe and at most ``maxsize``
        samples wait in the producer's buffer; ``put`` then blocks or raises
        :class:`queue.Full`, and a refused sample is counted as dropped by the
        consumer.
    context : multiprocessing context, optional
        Defaults to :func:`multiprocessing.get_context`; pass
        ``multiprocessing.get_context('spawn')`` to share with spawned processes.

    Notes
    -----
    Timestamps are ``time.monotonic()`` seconds; a ``datetime`` is converted.
    Single samples keep their fields' types on the receiving side (an int
    field is an int64 column, exact); :meth:`put_block` keeps each field's
    dtype.
    """

    def __init__(self, maxsize=0, context=None):
        context = context or multiprocessing.get_context()
        self._maxsize = max(0, int(maxsize))  # as multiprocessing.Queue: 0 or less is unbounded
        self._wire = make_wire(context, self._maxsize)
        self._init_local()

    def _init_local(self):
        self._producer = None
        self._producer_lock = threading.Lock()
        # consumer side, for get()
        self._received = collections.deque()
        self._sources = {}
        self.dropped = 0

    def __getstate__(self):
        return {"wire": self._wire, "maxsize": self._maxsize}

    def __setstate__(self, state):
        self._wire = state["wire"]
        self._maxsize = state["maxsize"]
        self._init_local()

    # -- producing -----------------------------------------------------------

    def _local_producer(self):
        producer = self._producer
        if producer is not None and producer.generation != _fork_generation:
            # Forked: the parent's sender thread did not come along, and its
            # lock may have been held at fork time.
            self._producer = producer = None
            self._producer_lock = threading.Lock()
        if producer is None:
            with self._producer_lock:
                if self._producer is None:
                    self._producer = _Producer(self._wire, self._maxsize)
                    weakref.finalize(self, self._producer.stop)
                producer = self._producer
        return producer

    def _wait_for_space(self, producer, block, timeout, seqs):
        """Wait until the producer's buffer has room; raise queue.Full when it will not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with producer.space:
            while len(producer.pending) >= self._maxsize:
                remaining = None if deadline is None else deadline - time.monotonic()
                if not block or (remaining is not None and remaining <= 0):
                    log.debug("queue full: %d sample(s) refused", seqs)
                    raise queue_module.Full(f"queue is full ({self._maxsize} samples waiting)")
                producer.wake.set()
                producer.space.wait(remaining if remaining is not None else 0.1)

    def _announce(self, producer, schema, sample_type):
        producer.last_type = sample_type
        producer.floats_only = sample_type is not None and all(d == _F8 for d in schema.dtypes)
        if sample_type is not None:
            producer.last_block_key = None
        if not schema.same_columns(producer.last_schema):
            producer.last_schema = schema
            # A schema message needs a place in the order but no sequence number.
            producer.pending.append([SCHEMA, producer.next_seq, schema])
            producer.wake.set()

    def put(self, t, obj, block=True, timeout=None):
        """Send one sample.

        Parameters
        ----------
        t : float, datetime or None
            ``time.monotonic()`` seconds of the sample; None stamps it now,
            as it enters the queue (stytra's producers leave stamping to
            the queue that way).
        obj : namedtuple of numbers
            Each field's column dtype comes from the first sample of its
            type: float, int (int64, exact), bool, or a numpy scalar's
            dtype. A later value that does not fit (a float where ints were)
            widens that column to float64, which is a schema change for the
            consumer.
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
        # The hot path of every producer: keep it to a few attribute reads.
        producer = self._producer
        if producer is None or producer.generation != _fork_generation:
            producer = self._local_producer()
        if type(obj) is not producer.last_type:
            check_sample(obj)
            self._announce(producer, sample_schema(obj), type(obj))
            producer.last_types = tuple(map(type, obj))
        elif producer.floats_only:
            # Any number fits a float64 column: only a non-number needs a look (fsum is the quick test).
            try:
                _fsum(obj)
            except (TypeError, OverflowError, ValueError):
                check_sample(obj)
        else:
            types = tuple(map(type, obj))
            if types != producer.last_types:
                check_sample(obj)
                self._announce(producer, sample_schema(obj, producer.last_schema), type(obj))
                producer.last_types = types
        if type(t) is not float:
            if type(t) is datetime:
                if t.tzinfo is not None:  # (stytra's datetime.now() is naive: the sender thread converts it)
                    t = datetime_seconds(t)
            elif t is None:
                t = time.monotonic()
            else:
                t = to_monotonic(t)
                if not isinstance(t, (int, float, np.floating, np.integer)) or isinstance(t, bool):
                    raise TypeError(f"timestamp must be a number or datetime, got {type(t).__name__}")
        seq = producer.next_seq
        producer.next_seq = seq + 1
        if self._maxsize and len(producer.pending) >= self._maxsize:
            self._wait_for_space(producer, block, timeout, 1)
        producer.pending.append((seq, t, *obj))
        if not producer.wake_is_set():
            producer.wake.set()

    def put_block(self, times, values, block=True, timeout=None, name="block"):
        """Send many samples at once.

        Parameters
        ----------
        times : 1-D array of float
            ``time.monotonic()`` seconds, one per sample.
        values : numpy structured array or dict of 1-D arrays
            One field per column, each as long as ``times``; the field names
            and dtypes travel with the stream.
        block, timeout
            As :meth:`put`; only matter for a bounded queue.
        name : str
            Name given to the sample type on the receiving side.

        Raises
        ------
        ValueError
            Lengths differ, or arrays are not 1-D.
        TypeError
            A field is not numeric.
        queue.Full
            Bounded queue still full after ``timeout`` (the samples are lost
            and counted as dropped by the consumer).

        Notes
        -----
        The arrays may be changed as soon as this returns: when the pipe has
        room they were written from where they are (no copy), else copied.
        """
        fields, dtypes, times, columns = block_parts(times, values)
        producer = self._local_producer()
        key = (name, fields, *dtypes)
        if key != producer.last_block_key:
            producer.last_block_key = key
            schema = Schema(name, fields, dtypes)
            if not schema.same_columns(producer.last_schema):
                self._announce(producer, schema, None)
        producer.last_type = None
        k = len(times)
        if k == 0:
            return
        seq = producer.next_seq
        producer.next_seq = seq + k
        if self._maxsize and len(producer.pending) >= self._maxsize:
            self._wait_for_space(producer, block, timeout, k)
        if not producer.pending and producer.sending.acquire(False):
            # Nothing to overtake and room in the pipe: write it from here,
            # sparing the hop to the sender thread.
            # The arrays go out before put_block returns: no copy needed. A
            # bounded queue may wait here for a message slot, as put would.
            try:
                if not producer.pending and self._wire.try_send_now(
                        COLUMNS, producer.source, seq, as_matrix_or_columns(times, columns),
                        wait=block, timeout=timeout):
                    return
            finally:
                producer.sending.release()
        producer.pending.append([COLUMNS, seq, owned_payload(times, columns, dtypes)])
        producer.wake.set()

    def flush(self, timeout=None):
        """Write every sample put so far to the pipe; True if done in time."""
        producer = self._producer
        if producer is None or producer.generation != _fork_generation:
            return True
        return producer.flush(timeout)

    def close(self):
        """Write every sample put so far to the pipe (waits until it is done).

        Kept for :class:`multiprocessing.Queue` compatibility: producers call
        it before they exit.
        """
        self.flush()

    # -- consuming -----------------------------------------------------------

    def get_message(self, block=False, timeout=None, allocate=None):
        """One raw wire message ``(kind, source, first_seq, payload)``; raises queue.Empty.

        ``allocate(nbytes)``: see :meth:`rigbook.collectors.wire.Wire.receive`.
        """
        return self._wire.receive(block, timeout, allocate)

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
            self._unpack(self._wire.receive(block, remaining))
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
            times = np.asarray(times)
            for i, t in enumerate(times.tolist()):
                self._received.append((t, sample_type._make([c[i] for c in lists])))
        state[1] = seq + k

    def empty(self):
        """True if nothing is waiting (approximate, as for multiprocessing queues)."""
        return not self._received and self._wire.empty()
