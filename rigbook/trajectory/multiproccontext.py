"""MultiprocContext: make a trajectory safe to store from many processes, without an Environment.

pypet's lightweight alternative to the environment's multiprocessing: the
context wraps the trajectory's storage service in one of the wrap modes and,
at the end, puts the original service back (and stops any writer process)::

    with MultiprocContext(trajectory=traj, wrap_mode="LOCK") as context:
        pool = multiprocessing.Pool(4)
        pool.map(store_something, [traj] * 50)   # each task gets a pickled traj
        pool.close(); pool.join()

With ``use_manager=True`` (the default) the lock or queue comes from a
``multiprocessing.Manager``, so the wrapped service survives being pickled
into pool tasks; ``use_manager=False`` uses plain ``multiprocessing`` objects,
which reach only processes forked or started after the context.
"""

import logging
import multiprocessing
import uuid
from multiprocessing.managers import BaseProxy

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.storagewriter import PipeStorageServiceWriter, QueueStorageServiceWriter, StorageWriterProcess
from rigbook.trajectory.wrappers import (
    LockWrapper,
    PipeStorageServiceSender,
    QueueStorageServiceSender,
    ReferenceStore,
    ReferenceWrapper,
)

logger = logging.getLogger(__name__)


#: key -> the one manager proxy of a shared lock or queue this process uses.
_proxies_in_this_process = {}


class _SharedProxy:
    """A manager's lock or queue proxy of which every pickled copy in a process is one object.

    Pool tasks each bring a pickled trajectory, and so a new proxy of the same
    lock or queue. When one such copy is collected as garbage, Python's proxy
    code closes the connection the other copies share, which can happen in the
    middle of a call of another copy. Here a copy arriving in a process where
    the object is known already (the parent's, inherited by forking, or an
    earlier task's) is dropped at once and the known one is used.
    """

    def __init__(self, proxy):
        self._key = uuid.uuid4().hex
        self._proxy = _proxies_in_this_process.setdefault(self._key, proxy)

    def __getstate__(self):
        # The proxy travels too, for processes that did not inherit it (spawned ones).
        return {"key": self._key, "proxy": self._proxy}

    def __setstate__(self, state):
        self._key = state["key"]
        self._proxy = _proxies_in_this_process.setdefault(self._key, state["proxy"])

    def __getattr__(self, name):
        proxy = self.__dict__.get("_proxy")
        if proxy is None:
            raise AttributeError(name)
        return getattr(proxy, name)

    def forget(self):
        """Drop this process's entry (when the context ends)."""
        _proxies_in_this_process.pop(self._key, None)


class _PicklableQueueSender(QueueStorageServiceSender):
    """A queue sender whose queue (a manager's proxy) travels with it when pickled."""

    def __getstate__(self):
        return self.__dict__.copy()


class _InheritedPipeSender(PipeStorageServiceSender):
    """A pipe sender that drops its lock too when pickled.

    Its pipe end and lock reach processes only by inheritance; a pickled copy
    (the trajectory inside a store request, say) could use neither.
    """

    def __getstate__(self):
        state = super().__getstate__()
        state["lock"] = None
        return state


class MultiprocContext:
    """Wrap a trajectory's storage service for use from many processes; undo it at the end.

    Parameters
    ----------
    trajectory : Trajectory
        The trajectory whose storage service is wrapped.
    wrap_mode : str
        ``'LOCK'`` (default), ``'QUEUE'``, ``'PIPE'`` or ``'LOCAL'``.
    full_copy : bool, optional
        Sets ``trajectory.v_full_copy`` if given.
    manager : multiprocessing.managers.SyncManager, optional
        Manager to create the lock or queue with; one is started if needed.
    use_manager : bool
        Create the LOCK mode's lock and the QUEUE mode's queue with a manager
        (picklable) rather than directly (inherited only).
    lock : lock, optional
        The LOCK mode's lock, or the PIPE mode's send lock.
    queue : queue, optional
        The QUEUE mode's queue.
    queue_maxsize : int
        Bound of a new queue (0: unbounded).
    port, timeout
        For the network modes, which this context does not provide.
    gc_interval : int, optional
        Collect garbage every this many stores in the writer (QUEUE, PIPE, LOCAL).
    log_config, log_stdout, graceful_exit
        Accepted for pypet scripts; the writer process logs through the
        logging configuration it inherits.
    """

    def __init__(self, trajectory, wrap_mode=pc.WRAP_MODE_LOCK, full_copy=None, manager=None, use_manager=True,
                 lock=None, queue=None, queue_maxsize=0, port=None, timeout=None, gc_interval=None,
                 log_config=None, log_stdout=False, graceful_exit=False):
        if wrap_mode in (pc.WRAP_MODE_NETLOCK, pc.WRAP_MODE_NETQUEUE):
            raise NotImplementedError(f"MultiprocContext does not provide the network wrap mode {wrap_mode!r}")
        preparers = {
            pc.WRAP_MODE_LOCK: self._prepare_lock,
            pc.WRAP_MODE_QUEUE: self._prepare_queue,
            pc.WRAP_MODE_PIPE: self._prepare_pipe,
            pc.WRAP_MODE_LOCAL: self._prepare_local,
        }
        if wrap_mode not in preparers:
            raise ValueError(f"wrap_mode must be one of {', '.join(preparers)}, not {wrap_mode!r}")
        self._prepare = preparers[wrap_mode]
        self._traj = trajectory
        self._wrap_mode = wrap_mode
        self._storage_service = trajectory.v_storage_service
        if self._storage_service is None:
            raise ValueError("the trajectory has no storage service to wrap: give it a filename")
        self._manager = manager
        self._own_manager = False
        self._use_manager = bool(use_manager)
        self._lock = lock
        self._queue = queue
        self._queue_maxsize = max(int(queue_maxsize), 0)
        self._pipe = None
        self._gc_interval = gc_interval
        self._writer_process = None
        self._lock_wrapper = None
        self._queue_wrapper = None
        self._pipe_wrapper = None
        self._reference_wrapper = None
        self._reference_store = None
        self._shared_proxies = []
        self._started = False
        if full_copy is not None:
            trajectory.v_full_copy = full_copy

    # ------------------------------------------------------------ what the workers use

    @property
    def lock(self):
        """The shared lock (LOCK, PIPE), or None."""
        return self._lock

    @property
    def queue(self):
        """The storage queue (QUEUE), or None."""
        return self._queue

    @property
    def pipe(self):
        """The ``(receive end, send end)`` pipe (PIPE), or None."""
        return self._pipe

    @property
    def lock_wrapper(self):
        """The :class:`~rigbook.trajectory.wrappers.LockWrapper` (LOCK), or None."""
        return self._lock_wrapper

    @property
    def queue_wrapper(self):
        """The queue sender the trajectory stores through (QUEUE), or None."""
        return self._queue_wrapper

    @property
    def pipe_wrapper(self):
        """The pipe sender the trajectory stores through (PIPE), or None."""
        return self._pipe_wrapper

    @property
    def reference_wrapper(self):
        """The :class:`~rigbook.trajectory.wrappers.ReferenceWrapper` (LOCAL), or None."""
        return self._reference_wrapper

    # ------------------------------------------------------------ lifetime

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.finalize()

    def start(self):
        """Initialise the trajectory's storage and give it the wrapped service."""
        if self._started:
            raise RuntimeError("this MultiprocContext was started already")
        self._traj.f_store(only_init=True)
        self._prepare()
        self._started = True
        logger.info("Trajectory %s stores through %s wrapping", self._traj.v_name, self._wrap_mode)

    def store_references(self, references):
        """LOCAL mode: store what a worker's :class:`ReferenceWrapper` collected (its ``references``)."""
        if self._reference_store is None:
            raise RuntimeError("store_references needs a started MultiprocContext in LOCAL wrap mode")
        self._reference_store.store_references(references)

    def finalize(self):
        """Stop any writer (after it stored everything sent) and give the trajectory its service back.

        Raises
        ------
        StorageWriterError
            If a store failed in the QUEUE or PIPE writer process.
        """
        if not self._started:
            return
        self._started = False
        try:
            if self._writer_process is not None:
                sender = self._queue_wrapper or self._pipe_wrapper
                sender.send_done()
                writer, self._writer_process = self._writer_process, None
                writer.join()
        finally:
            self._traj.v_storage_service = self._storage_service
            for shared in self._shared_proxies:
                shared.forget()
            self._shared_proxies = []
            if self._own_manager:
                self._manager.shutdown()
                self._manager = None
                self._own_manager = False

    # ------------------------------------------------------------ the modes

    def _share(self, obj):
        """What the workers get for a lock or queue: one object per process if it is a manager's proxy."""
        if not isinstance(obj, BaseProxy):
            return obj
        shared = _SharedProxy(obj)
        self._shared_proxies.append(shared)
        return shared

    def _manager_for_sharing(self):
        if self._manager is None:
            self._manager = multiprocessing.Manager()
            self._own_manager = True
        return self._manager

    def _prepare_lock(self):
        if self._lock is None:
            self._lock = self._manager_for_sharing().Lock() if self._use_manager else multiprocessing.Lock()
        self._lock_wrapper = LockWrapper(self._storage_service, self._share(self._lock))
        self._traj.v_storage_service = self._lock_wrapper

    def _prepare_queue(self):
        if self._queue is None:
            self._queue = (self._manager_for_sharing().Queue(maxsize=self._queue_maxsize) if self._use_manager
                           else multiprocessing.Queue(maxsize=self._queue_maxsize))
        writer = QueueStorageServiceWriter(self._storage_service, self._queue, self._gc_interval)
        self._writer_process = StorageWriterProcess(writer).start()
        queue = self._share(self._queue)
        sender_class = _PicklableQueueSender if isinstance(queue, _SharedProxy) else QueueStorageServiceSender
        self._queue_wrapper = sender_class(queue)
        self._traj.v_storage_service = self._queue_wrapper

    def _prepare_pipe(self):
        receive_end, send_end = multiprocessing.Pipe(duplex=False)
        self._pipe = (receive_end, send_end)
        if self._lock is None:
            self._lock = multiprocessing.Lock()
        writer = PipeStorageServiceWriter(self._storage_service, receive_end, gc_interval=self._gc_interval)
        self._writer_process = StorageWriterProcess(writer).start()
        self._pipe_wrapper = _InheritedPipeSender(send_end, self._lock)
        self._traj.v_storage_service = self._pipe_wrapper

    def _prepare_local(self):
        self._reference_wrapper = ReferenceWrapper()
        self._reference_store = ReferenceStore(self._storage_service, self._gc_interval)
        self._traj.v_storage_service = self._reference_wrapper

    def __repr__(self):
        return f"<MultiprocContext {self._wrap_mode} for {self._traj!r}>"
