"""Share one storage service between many processes.

A storage service (such as :class:`~rigbook.trajectory.HDF5StorageService`)
is not safe to call from several processes at once. The wrappers here make it
so, in the four ways pypet offers:

- :class:`LockWrapper` (``WRAP_MODE_LOCK``): every process calls the service
  itself, one at a time, under a shared lock.
- :class:`QueueStorageServiceSender` / :class:`QueueStorageServiceWriter`
  (``WRAP_MODE_QUEUE``): workers put their store requests on a
  ``multiprocessing`` queue; one writer takes them off and is the only one
  that touches the file, which it keeps open.
- :class:`PipeStorageServiceSender` / :class:`PipeStorageServiceWriter`
  (``WRAP_MODE_PIPE``): the same over a ``multiprocessing`` pipe. The writer
  blocks on the pipe; it never polls in a sleep loop.
- :class:`ReferenceWrapper` / :class:`ReferenceStore` (``WRAP_MODE_LOCAL``):
  workers only keep references to what they want stored and hand them back;
  the parent stores them.

The wrappers work with any object that has ``store(msg, item, *args,
**kwargs)`` (and ``load`` for the lock wrapper). A store request that fails
inside a writer is never only logged: it is sent back to whoever asked for a
confirmation (:meth:`QueueStorageServiceSender.request_confirmation`) and
every failure not reported that way is raised by the writer's :meth:`run` as a
:class:`StorageWriterError` when it stops.
"""

import gc
import logging
import multiprocessing
import os
import signal
import threading

from rigbook.trajectory import pypetconstants
from rigbook.trajectory.storagewriter import (  # noqa: F401  (pypet keeps them all in one module)
    CONFIRM,
    DONE,
    STORE,
    PipeStorageServiceWriter,
    QueueStorageServiceWriter,
    StorageWriterError,
    StorageWriterProcess,
    StoreFailure,
)

from rigbook.trajectory.netlock import (  # noqa: F401,E402  (pypet keeps its network locks here too)
    ForkAwareLockerClient,
    LockerClient,
    LockerServer,
    TimeOutLockerServer,
)

logger = logging.getLogger(__name__)



class _DeferredTermination:
    """Hold back SIGTERM while a write is in progress; act on it right after.

    Blocking the signal with a thread mask is not enough: the kernel hands a
    process-wide SIGTERM to any thread that does not block it (a queue's
    feeder thread), whose default action ends the whole process. A Python
    handler instead always runs in the main thread, between bytecodes, so
    never inside the write.
    """

    def __init__(self):
        self._previous = None
        self._pending = False

    def _handle(self, signum, frame):
        self._pending = True

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        self._pending = False
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is None:
            return
        signal.signal(signal.SIGTERM, self._previous)
        self._previous = None
        if self._pending:
            # Delivered now, with the file closed, to whatever handled it before.
            os.kill(os.getpid(), signal.SIGTERM)


class LockWrapper:
    """Call a storage service from many processes, one at a time, under a lock.

    The lock is held for the duration of each ``store`` / ``load``. If the
    wrapped service reports that it is still open afterwards (its file was
    opened with ``OPEN_FILE``), the lock is kept until it is closed, so no
    other process touches the file in between.

    Parameters
    ----------
    storage_service : object
        The service, with ``store`` and ``load`` methods.
    lock : multiprocessing.Lock, optional
        The shared lock; a new ``multiprocessing.Lock`` by default. Hand it to
        worker processes when they start (``multiprocessing`` locks cannot be
        pickled later).
    defer_termination : bool
        While holding the lock, hold back SIGTERM until the lock is released:
        a process pool terminates its other workers when one dies, and a
        worker stopped half way through a write would corrupt the file.
        (Nothing can hold back SIGKILL: a worker killed while writing can
        still corrupt it; the QUEUE, PIPE and LOCAL modes cannot.)
    """

    def __init__(self, storage_service, lock=None, defer_termination=True):
        self._storage_service = storage_service
        self._lock = multiprocessing.Lock() if lock is None else lock
        self._holding = False
        self._defer_termination = defer_termination
        self._deferral = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_holding"] = False
        state["_deferral"] = None
        return state

    @property
    def storage_service(self):
        """The wrapped service."""
        return self._storage_service

    @property
    def lock(self):
        """The shared lock."""
        return self._lock

    @property
    def is_open(self):
        """Whether the wrapped service keeps its file open."""
        return bool(getattr(self._storage_service, "is_open", False))

    @property
    def multiproc_safe(self):
        """The wrapper makes the service safe to use from many processes."""
        return True

    def _acquire(self):
        if not self._holding:
            if self._defer_termination:
                self._deferral = _DeferredTermination().__enter__()
            self._lock.acquire()
            self._holding = True

    def _release_unless_open(self):
        if self._holding and not self.is_open:
            self._holding = False
            try:
                self._lock.release()  # a network lock may say it expired meanwhile
            finally:
                if self._deferral is not None:
                    deferral, self._deferral = self._deferral, None
                    deferral.__exit__(None, None, None)

    def store(self, *args, **kwargs):
        """Store under the lock; see the wrapped service's ``store``."""
        self._acquire()
        try:
            return self._storage_service.store(*args, **kwargs)
        finally:
            self._release_unless_open()

    def load(self, *args, **kwargs):
        """Load under the lock; see the wrapped service's ``load``."""
        self._acquire()
        try:
            return self._storage_service.load(*args, **kwargs)
        finally:
            self._release_unless_open()


class _Sender:
    """What the queue and pipe senders share: tags, confirmations, no loading."""

    #: Tag attached to every request, so a failure can be traced back to the
    #: run that sent it; the environment sets it to the run index.
    tag = None

    @property
    def is_open(self):
        """A sender never has a file open; the writer does."""
        return False

    @property
    def multiproc_safe(self):
        """Senders may be used from many processes at once."""
        return True

    def store(self, *args, **kwargs):
        """Send a store request to the writer; it is stored in the writer process.

        Returns at once; a failure is reported to the caller of
        :meth:`request_confirmation` or raised by the writer when it stops.
        """
        self._send((STORE, self.tag, args, kwargs))

    def load(self, *args, **kwargs):
        """Not possible: only the writer process touches the file."""
        raise NotImplementedError(
            f"{type(self).__name__} only sends store requests to the writer process; "
            "loading must use the storage service in the parent process (or WRAP_MODE_LOCK)"
        )

    def request_confirmation(self, token=None):
        """Ask the writer to report ``token`` once all requests sent before are stored and flushed.

        The writer puts ``(token, failures)`` on its reply queue, where
        ``failures`` is the list of :class:`StoreFailure` of this sender's tag.
        ``token`` defaults to the sender's :attr:`tag`.
        """
        self._send((CONFIRM, self.tag if token is None else token, self.tag))

    def send_done(self):
        """Tell the writer to store what it still has, close the file and stop."""
        self._send((DONE,))


class QueueStorageServiceSender(_Sender):
    """Worker side of ``WRAP_MODE_QUEUE``: puts store requests on a queue.

    Parameters
    ----------
    storage_queue : multiprocessing.Queue, optional
        The queue the :class:`QueueStorageServiceWriter` reads.

    Notes
    -----
    The queue is not pickled with the sender (a ``multiprocessing`` queue can
    only be handed to a process when it starts); a sender that arrives in a
    worker by pickling gets its :attr:`queue` set there.
    """

    def __init__(self, storage_queue=None):
        self.queue = storage_queue

    def __getstate__(self):
        state = self.__dict__.copy()
        state["queue"] = None
        return state

    def _send(self, message):
        if self.queue is None:
            raise RuntimeError(
                "QueueStorageServiceSender has no queue (it was pickled without it); "
                "set its .queue to the writer's queue in this process"
            )
        self.queue.put(message)


class PipeStorageServiceSender(_Sender):
    """Worker side of ``WRAP_MODE_PIPE``: sends store requests through a pipe.

    Parameters
    ----------
    storage_connection : multiprocessing.connection.Connection, optional
        The sending end of the pipe whose other end the writer reads.
    lock : multiprocessing.Lock, optional
        Shared by every sender on the same connection, so that two messages
        never interleave on the wire. A new lock by default.
    """

    def __init__(self, storage_connection=None, lock=None):
        self.conn = storage_connection
        self.lock = multiprocessing.Lock() if lock is None else lock

    def __getstate__(self):
        state = self.__dict__.copy()
        state["conn"] = None
        return state

    def _send(self, message):
        if self.conn is None:
            raise RuntimeError(
                "PipeStorageServiceSender has no connection (it was pickled without it); "
                "set its .conn to the writer's pipe end in this process"
            )
        with self.lock:
            self.conn.send(message)


class ReferenceWrapper:
    """Worker side of ``WRAP_MODE_LOCAL``: keeps references to what should be stored.

    Nothing is stored in the worker; the worker returns :attr:`references` to
    the parent, whose :class:`ReferenceStore` stores them. The items are kept
    as they are, not copied: store them before they change.
    """

    def __init__(self):
        self.references = {}

    @property
    def is_open(self):
        """Nothing is ever open here."""
        return False

    @property
    def multiproc_safe(self):
        """Every process has its own wrapper."""
        return True

    def store(self, msg, stuff_to_store, *args, **kwargs):
        """Remember ``(msg, stuff_to_store, args, kwargs)`` under its trajectory name."""
        trajectory_name = kwargs.get("trajectory_name")
        references = self.references.setdefault(trajectory_name, [])
        if msg == pypetconstants.LIST:
            # The parent stores one LIST per trajectory; a LIST inside it would not be understood.
            references.extend(stuff_to_store)
        else:
            references.append((msg, stuff_to_store, args, kwargs))

    def load(self, *args, **kwargs):
        """Not possible: workers in LOCAL mode never touch the file."""
        raise NotImplementedError(
            "ReferenceWrapper only collects store requests for the parent process; "
            "loading is not possible in a worker in WRAP_MODE_LOCAL"
        )

    def free_references(self):
        """Forget every reference (after handing them to the parent)."""
        self.references = {}


class ReferenceStore:
    """Parent side of ``WRAP_MODE_LOCAL``: stores the references workers return.

    Parameters
    ----------
    storage_service : object
        The real service. Open its file once (``OPEN_FILE``) to keep it open
        over many runs; otherwise the service opens and closes it per call.
    gc_interval : int, optional
        Run the garbage collector every this many calls.
    """

    def __init__(self, storage_service, gc_interval=None):
        if gc_interval is not None and int(gc_interval) < 1:
            raise ValueError(f"gc_interval must be a positive number of stores or None, not {gc_interval!r}")
        self._storage_service = storage_service
        self._gc_interval = None if gc_interval is None else int(gc_interval)
        self._calls = 0

    def store_references(self, references):
        """Store every reference, one ``LIST`` request per trajectory name.

        Errors of the service propagate to the caller unchanged.
        """
        for trajectory_name, reference_list in references.items():
            if not reference_list:
                continue
            kwargs = {} if trajectory_name is None else {"trajectory_name": trajectory_name}
            self._storage_service.store(pypetconstants.LIST, reference_list, **kwargs)
        self._calls += 1
        if self._gc_interval and self._calls % self._gc_interval == 0:
            gc.collect()
