"""The pipe under a :class:`~rigbook.collectors.NamedTupleQueue`: framed messages, numpy payloads raw.

A message is ``(kind, source, first_seq, payload)``. The small part
``(kind, source, first_seq, layout)`` is pickled; a numpy payload (one 2-D
array, or a tuple of 1-D columns) travels as its raw bytes right after it,
written straight from the arrays with one ``writev`` and read straight into
one new buffer with ``readv``. A :class:`multiprocessing.Queue` would instead
pickle the arrays into a byte string and copy it about six times on the way;
at blocks of 1000 samples x 10 fields that copying was most of the cost.

Frame: ``<IQ`` header (length of the pickled part, length of the raw part),
the pickled part, the raw part. Raw columns start on 8-byte boundaries.
Writers of several processes take turns through a process-shared lock, so
frames never interleave. One process reads.

POSIX only (file descriptors, ``os.writev``/``os.readv``, ``select.poll``);
the free-room check that lets a producer write without its sender thread
is Linux's (``FIONREAD``, ``F_GETPIPE_SZ``); elsewhere the thread writes.
"""

import os
import pickle
import queue as queue_module
import select
import struct
import threading
import time

import numpy as np

_HEADER = struct.Struct("<IQ")
_ALIGN = 8
_PADDING = bytes(_ALIGN)
# Linux pipe ioctls/fcntls: bytes waiting in a pipe, and its capacity.
_FIONREAD = 0x541B
_F_GETPIPE_SZ = 1032
_F_SETPIPE_SZ = 1031

#: layout tags of the raw part
_MATRIX = "m"  # one 2-D C-contiguous array: (dtype.str, shape)
_COLUMNS = "c"  # a tuple of 1-D arrays of one length: (dtype strs, length)
_EMPTY = np.empty(0, np.uint8)


class _Rows(tuple):
    """1-D arrays of one dtype and length sent as the rows of one 2-D array (no copy made)."""

    __slots__ = ()


def as_matrix_or_columns(times, columns):
    """The payload for a block without copying it: rows of one float64 matrix when it can be."""
    arrays = (times, *columns)
    if all(a.dtype == np.float64 for a in arrays):
        return _Rows(arrays)
    return tuple(np.ascontiguousarray(a, a.dtype.newbyteorder("=")) for a in arrays)


def _padded(n):
    return -(-n // _ALIGN) * _ALIGN


def _split(payload):
    """``(layout, buffers, nbytes)`` for a payload, or ``(payload, [], 0)`` if not numpy."""
    if type(payload) is _Rows:
        buffers = [np.ascontiguousarray(row) for row in payload]
        shape = (len(buffers), len(buffers[0]))
        return (_MATRIX, buffers[0].dtype.str, shape), buffers, sum(b.nbytes for b in buffers)
    if isinstance(payload, np.ndarray) and payload.ndim == 2 and payload.dtype.kind in "biuf":
        payload = np.ascontiguousarray(payload)
        return (_MATRIX, payload.dtype.str, payload.shape), [payload], payload.nbytes
    if (isinstance(payload, tuple) and payload
            and all(isinstance(c, np.ndarray) and c.ndim == 1 and c.dtype.kind in "biuf" for c in payload)):
        buffers = []
        nbytes = 0
        for column in payload:
            column = np.ascontiguousarray(column)
            buffers.append(column)
            nbytes += column.nbytes
            if column.nbytes % _ALIGN:
                pad = _ALIGN - column.nbytes % _ALIGN
                buffers.append(_PADDING[:pad])
                nbytes += pad
        return (_COLUMNS, tuple(c.dtype.str for c in payload), len(payload[0])), buffers, nbytes
    return payload, [], 0


def _rebuild(layout, raw):
    """The payload described by ``layout`` over the bytes ``raw`` (a writable uint8 array)."""
    if type(layout) is tuple and layout and layout[0] == _MATRIX:
        _, dtype, shape = layout
        return raw.view(dtype).reshape(shape)
    if type(layout) is tuple and layout and layout[0] == _COLUMNS:
        _, dtypes, length = layout
        columns = []
        offset = 0
        for dtype in dtypes:
            dtype = np.dtype(dtype)
            nbytes = dtype.itemsize * length
            columns.append(raw[offset : offset + nbytes].view(dtype))
            offset += _padded(nbytes)
        return tuple(columns)
    return layout


class Wire:
    """A one-way pipe of framed messages, shared by producer processes and one consumer.

    Parameters
    ----------
    context : multiprocessing context
    maxsize : int
        0 for no limit; else at most ``maxsize`` messages wait in the pipe
        (a sender blocks until the consumer took one).
    """

    def __init__(self, context, maxsize=0):
        self._reader, self._writer = context.Pipe(duplex=False)
        self._write_lock = context.Lock()
        self._maxsize = maxsize
        self._slots = context.BoundedSemaphore(maxsize) if maxsize else None
        self._capacity = _enlarge(self._reader.fileno())
        self._init_local()

    def _init_local(self):
        self._read_lock = threading.Lock()
        self._header = bytearray(_HEADER.size)
        self._poller = select.poll()
        self._poller.register(self._reader.fileno(), select.POLLIN)

    def __getstate__(self):
        # Pipe ends and locks can only go to a child being started (as for
        # multiprocessing.Queue): refuse plain pickling with the same error.
        from multiprocessing import context

        context.assert_spawning(self)
        return (self._reader, self._writer, self._write_lock, self._slots, self._capacity, self._maxsize)

    def __setstate__(self, state):
        self._reader, self._writer, self._write_lock, self._slots, self._capacity, self._maxsize = state
        self._init_local()

    @property
    def writer_fd(self):
        """File descriptor of the writing end (for tests that damage the stream)."""
        return self._writer.fileno()

    # -- sending -------------------------------------------------------------------

    @staticmethod
    def frame(kind, source, seq, payload):
        """The buffers of one message, and their total size."""
        layout, buffers, nbytes = _split(payload)
        meta = pickle.dumps((kind, source, seq, layout), protocol=pickle.HIGHEST_PROTOCOL)
        return [_HEADER.pack(len(meta), nbytes), meta, *buffers], _HEADER.size + len(meta) + nbytes

    def send(self, kind, source, seq, payload):
        """Write one message, waiting for room in the pipe if need be."""
        buffers, size = self.frame(kind, source, seq, payload)
        if self._slots is not None:
            self._slots.acquire()
        with self._write_lock:
            _write_all(self._writer.fileno(), buffers, size)

    def try_send_now(self, kind, source, seq, payload, wait=False, timeout=None):
        """Write one message unless that could wait on the consumer; True if written.

        The pipe must have room for the whole frame and, if the wire is
        bounded, a message slot must be free. With ``wait`` (bounded wires
        only), waits up to ``timeout`` seconds (None: for ever) for a slot
        and raises queue.Full if none frees up; that wait is safe because
        ``maxsize`` such frames fit in the pipe, so once a slot is held the
        write cannot block on a stalled consumer.
        """
        if not self._capacity:
            return False
        buffers, size = self.frame(kind, source, seq, payload)
        slots = self._slots
        wait = wait and slots is not None and size * self._maxsize <= self._capacity
        if size > self._capacity:
            return False
        if slots is not None and not slots.acquire(wait, timeout if wait else None):
            if wait:
                raise queue_module.Full(f"queue is full ({self._maxsize} messages waiting)")
            return False
        written = False
        try:
            if self._write_lock.acquire(wait):
                try:
                    fd = self._writer.fileno()
                    if wait or self._capacity - _waiting_bytes(fd) >= size:
                        _write_all(fd, buffers, size)
                        written = True
                finally:
                    self._write_lock.release()
        finally:
            if slots is not None and not written:
                slots.release()
        return written

    # -- receiving -------------------------------------------------------------------

    def poll(self, timeout=0.0):
        """True if the start of a message is waiting (within ``timeout`` seconds; None waits)."""
        return bool(self._poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999))))

    def receive(self, block=True, timeout=None, allocate=None):
        """One message ``(kind, source, first_seq, payload)``.

        Raises queue.Empty when no message starts within ``timeout`` (or at
        once if not blocking), EOFError when every writer is gone. Once a
        message has started, waits for all of it.

        ``allocate(nbytes)``, if given, returns the writable uint8 array (at
        least ``nbytes`` long) the payload is read into, so a consumer can
        reuse buffers: memory touched for the first time costs more than
        the copy into it.
        """
        if not block:
            timeout = 0.0
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._read_lock.acquire(True, -1 if timeout is None else timeout):
            raise queue_module.Empty
        try:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.poll(remaining):
                raise queue_module.Empty
            fd = self._reader.fileno()
            header = self._header
            _read_exactly(fd, memoryview(header), at_start=True)
            meta_size, nbytes = _HEADER.unpack(header)
            meta = bytearray(meta_size)
            if nbytes:
                raw = np.empty(nbytes, np.uint8) if allocate is None else allocate(nbytes)[:nbytes]
                # Both lengths are known now: one read for both parts.
                _read_exactly(fd, memoryview(meta), memoryview(raw))
            else:
                raw = _EMPTY
                _read_exactly(fd, memoryview(meta))
        finally:
            self._read_lock.release()
        if self._slots is not None:
            self._slots.release()
        kind, source, seq, layout = pickle.loads(meta)
        return kind, source, seq, _rebuild(layout, raw)

    def empty(self):
        """True if no message is waiting (approximate)."""
        return not self.poll(0.0)


def _write_all(fd, buffers, size):
    written = os.writev(fd, buffers)
    while written < size:  # a signal interrupted a long write: go on where it stopped
        views = []
        skip = written
        for buf in buffers:
            view = memoryview(buf).cast("B")
            if skip >= len(view):
                skip -= len(view)
                continue
            views.append(view[skip:])
            skip = 0
        buffers = views
        size -= written
        written = os.writev(fd, buffers)


def _read_exactly(fd, *views, at_start=False):
    views = [v for v in views if len(v)]
    total = sum(len(v) for v in views)
    done = 0
    while True:
        n = os.readv(fd, views)
        if n == 0:
            if at_start and done == 0:
                raise EOFError("every writer of the queue is gone")
            raise OSError("end of file in the middle of a message")
        done += n
        if done == total:
            return
        while n >= len(views[0]):
            n -= len(views.pop(0))
        views[0] = views[0][n:]


def _waiting_bytes(fd):
    import fcntl

    buf = bytearray(4)
    fcntl.ioctl(fd, _FIONREAD, buf)
    return int.from_bytes(buf, "little")


def _enlarge(fd, size=1 << 20):
    """Give the pipe a 1 MiB buffer (Linux); return its capacity, 0 if unknown (not Linux)."""
    try:
        import fcntl

        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
        except OSError:  # above the system's limit: keep the default
            pass
        capacity = fcntl.fcntl(fd, _F_GETPIPE_SZ)
        _waiting_bytes(fd)
        return capacity
    except (ImportError, OSError, ValueError):
        return 0
