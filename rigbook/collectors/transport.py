"""Choosing the pipe under a :class:`~rigbook.collectors.NamedTupleQueue`, and the portable one.

The fast :class:`~rigbook.collectors.wire.Wire` frames messages on a POSIX
pipe with ``writev``/``readv`` and ``select.poll``. :class:`PortableWire`
carries the same messages (same kinds, sources, sequence numbers, schemas,
numpy payloads of any dtype) over :func:`multiprocessing.Pipe` connections,
which exist on every platform (named pipes on Windows): a message is two
``send_bytes`` calls, its pickled head and its raw payload.

:func:`make_wire` picks the fast one where the platform has it, the
portable one elsewhere, or always when the environment variable
:data:`PORTABLE_ENV` is ``1`` (CI runs the collector tests a second time so).
"""

import logging
import os
import pickle
import queue as queue_module
import select
import threading
import time

import numpy as np

from rigbook.collectors.wire import Wire, _rebuild, _split

log = logging.getLogger(__name__)

#: set to 1 to use the portable transport even where the fast one works
PORTABLE_ENV = "RIGBOOK_PORTABLE_TRANSPORT"


def fast_wire_available():
    """True where :class:`~rigbook.collectors.wire.Wire` works (``writev``, ``readv``, ``select.poll``)."""
    return hasattr(os, "writev") and hasattr(os, "readv") and hasattr(select, "poll")


def portable_forced():
    """True when :data:`PORTABLE_ENV` asks for the portable transport."""
    return os.environ.get(PORTABLE_ENV, "").strip() not in ("", "0")


def make_wire(context, maxsize=0):
    """The pipe for a new queue: :class:`Wire`, or :class:`PortableWire` where it cannot work or is not wanted."""
    if portable_forced():
        return PortableWire(context, maxsize)
    if not fast_wire_available():
        log.info("no writev/readv/poll on this platform: queues use the portable transport")
        return PortableWire(context, maxsize)
    return Wire(context, maxsize)


class PortableWire:
    """A one-way pipe of messages over :func:`multiprocessing.Pipe`, shared by producers and one consumer.

    Same interface as :class:`~rigbook.collectors.wire.Wire`; slower (the
    raw payload is joined into one buffer before sending, and every message
    is written by the producer's sender thread) but free of POSIX calls.

    Parameters
    ----------
    context : multiprocessing context
    maxsize : int
        0 for no limit; else at most ``maxsize`` messages wait.
    """

    def __init__(self, context, maxsize=0):
        self._reader, self._writer = context.Pipe(duplex=False)
        self._write_lock = context.Lock()
        self._maxsize = maxsize
        self._slots = context.BoundedSemaphore(maxsize) if maxsize else None
        self._read_lock = threading.Lock()

    def __getstate__(self):
        from multiprocessing import context

        context.assert_spawning(self)
        return (self._reader, self._writer, self._write_lock, self._slots, self._maxsize)

    def __setstate__(self, state):
        self._reader, self._writer, self._write_lock, self._slots, self._maxsize = state
        self._read_lock = threading.Lock()

    @property
    def writer_fd(self):
        """Not available: the portable transport has no file descriptors to damage."""
        raise NotImplementedError("the portable transport exposes no file descriptor")

    # -- sending -------------------------------------------------------------------

    def send(self, kind, source, seq, payload):
        """Write one message, waiting for room if the wire is bounded."""
        layout, buffers, nbytes = _split(payload)
        head = pickle.dumps((kind, source, seq, layout, nbytes), protocol=pickle.HIGHEST_PROTOCOL)
        raw = b"".join(memoryview(buffer).cast("B") for buffer in buffers) if nbytes else None
        if self._slots is not None:
            self._slots.acquire()
        with self._write_lock:
            self._writer.send_bytes(head)
            if raw is not None:
                self._writer.send_bytes(raw)

    def try_send_now(self, kind, source, seq, payload, wait=False, timeout=None):
        """Never writes from the caller (whether the pipe has room is not known): the sender thread does."""
        return False

    # -- receiving -------------------------------------------------------------------

    def poll(self, timeout=0.0):
        """True if a message is waiting (within ``timeout`` seconds; None waits)."""
        return self._reader.poll(timeout)

    def receive(self, block=True, timeout=None, allocate=None):
        """One message ``(kind, source, first_seq, payload)``; as :meth:`Wire.receive`."""
        if not block:
            timeout = 0.0
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._read_lock.acquire(True, -1 if timeout is None else timeout):
            raise queue_module.Empty
        try:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._reader.poll(remaining):
                raise queue_module.Empty
            kind, source, seq, layout, nbytes = pickle.loads(self._reader.recv_bytes())
            if nbytes:
                raw = np.empty(nbytes, np.uint8) if allocate is None else allocate(nbytes)[:nbytes]
                if self._reader.recv_bytes_into(raw) != nbytes:
                    raise OSError("a message's payload has the wrong length")
            else:
                raw = None
        finally:
            self._read_lock.release()
        if self._slots is not None:
            self._slots.release()
        return kind, source, seq, _rebuild(layout, raw)

    def empty(self):
        """True if no message is waiting (approximate)."""
        return not self.poll(0.0)


__all__ = ["PORTABLE_ENV", "PortableWire", "fast_wire_available", "make_wire", "portable_forced"]
