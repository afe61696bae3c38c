"""Wrap modes: how the data of runs in worker processes reaches the file.

Each mode sets up the single writer in the parent and tells the worker
(:class:`~rigbook.trajectory.runmodes.RunJob`) which service to store through:

=========  ==================================  ====================================
wrap mode  in the worker                       in the parent
=========  ==================================  ====================================
(none)     the real service, kept open         runs execute here, one at a time
LOCK       LockWrapper(real service)           nothing: workers store in turn
NETLOCK    LockWrapper(service, LockerClient)  a lock server process (a URL)
QUEUE      QueueStorageServiceSender           a writer process owns the file
PIPE       PipeStorageServiceSender            a writer process owns the file
NETQUEUE   NetQueueStorageServiceSender        a writer process listening on a URL
LOCAL      ReferenceWrapper                    ReferenceStore, file kept open
=========  ==================================  ====================================

Each wrap mode is one class here, registered under its name in
:data:`WRAP_MODES`; the environment looks the name up once and from then on
only talks to the mode object. Executors that cannot share queues or locks
with the parent (a ``dask.distributed`` cluster) use LOCAL: workers send
their data back with their outcome and the parent stores it.
"""

import logging
import queue as queue_module
import time

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.runner import COMPLETED, PENDING, RunOutcome
from rigbook.trajectory.wrappers import (
    LockWrapper,
    PipeStorageServiceSender,
    PipeStorageServiceWriter,
    QueueStorageServiceSender,
    QueueStorageServiceWriter,
    ReferenceStore,
    ReferenceWrapper,
    StorageWriterError,
    StorageWriterProcess,
)

logger = logging.getLogger(__name__)

#: Wrap mode name -> the class that runs it (see :func:`register_wrap_mode`).
WRAP_MODES = {}

_worker_service = None


def install_worker_service(make_service, *arguments):
    """Pool initializer: ``make_service(*arguments)`` is the storage service this worker stores through."""
    global _worker_service
    _worker_service = make_service(*arguments)


def installed_worker_service():
    """The service :func:`install_worker_service` built in this worker."""
    return _worker_service


def register_wrap_mode(mode_class):
    """Class decorator: make ``mode_class`` the one that runs wrap mode ``mode_class.wrap_mode``."""
    WRAP_MODES[mode_class.wrap_mode] = mode_class
    return mode_class


def wrap_mode_class(name, executor=False):
    """The mode class registered as ``name``.

    Raises
    ------
    ValueError
        If no mode has that name, or it cannot run on an executor and ``executor`` is set.
    """
    mode_class = WRAP_MODES.get(name)
    if mode_class is None:
        raise ValueError(f"wrap_mode must be one of {', '.join(WRAP_MODES)}, not {name!r}")
    if executor and not mode_class.runs_on_executors:
        runs_there = [mode for mode, cls in WRAP_MODES.items() if cls.runs_on_executors]
        raise ValueError(
            f"wrap_mode {name!r} cannot be used with an executor: its workers cannot share the writer's queue "
            f"or lock; use {' or '.join(runs_there)} (the parent stores what they return)"
        )
    return mode_class


class ModeSettings:
    """What the environment tells a wrap mode when it makes one (one object, so modes take what they need).

    Attributes
    ----------
    trajectory_name : str
    flush : bool
        Confirm runs only once flushed to disk (resumable explorations).
    keep_open : bool
        Keep the file open over many runs where the parent owns it.
    gc_interval : int or None
    queue_maxsize : int
        Bound of the QUEUE mode's queue (-1: unbounded).
    url : str or None
        Where the NETLOCK / NETQUEUE server listens (None: loopback, a free port).
    timeout : float or None
        NETLOCK: free a lock held longer than this (a TimeOutLockerServer).
    """

    def __init__(self, trajectory_name, flush=False, keep_open=True, gc_interval=None, queue_maxsize=-1,
                 url=None, timeout=None):
        self.trajectory_name = trajectory_name
        self.flush = flush
        self.keep_open = keep_open
        self.gc_interval = gc_interval
        self.queue_maxsize = queue_maxsize
        self.url = url
        self.timeout = timeout


# ---------------------------------------------------------------- parent side
#
# Every mode takes ``(service, context, settings)`` and offers: ``start()``
# (before the pool when ``opens_file_in_parent`` is False), ``on_outcome``
# (COMPLETED, or PENDING until ``poll`` confirms it), ``poll`` (or None),
# ``after_runs()`` and ``close()``; ``pool_initializer`` / ``pool_initargs``
# for the pool. Class attributes say what the worker side does:
# ``worker_service()`` and ``ships_payload`` (send only what the run added).


class InProcessMode:
    """No worker processes: runs execute here and store straight into the open file.

    With ``settings.flush`` (resumable explorations) a run counts as completed
    only once the file was flushed after it; flushes happen at most every
    ``flush_interval`` seconds, not per run.
    """

    wrap_mode = None
    pool_initializer = None
    pool_initargs = ()
    opens_file_in_parent = True

    def __init__(self, service, context, settings, flush_interval=0.5):
        self.service = service
        self.trajectory_name = settings.trajectory_name
        self.keep_open = settings.keep_open
        self.flush = settings.flush and settings.keep_open
        self.flush_interval = flush_interval
        self._unflushed = []
        self._last_flush = time.monotonic()

    def start(self):
        """Open the file once for every run (unless told to reopen it for every store)."""
        if self.keep_open:
            self.service.store(pc.OPEN_FILE, None, trajectory_name=self.trajectory_name)

    def _stored(self, outcome):
        """The run's data went into the service (here: the run stored itself)."""

    def on_outcome(self, outcome):
        """Store what has to be stored here; completed now, or at the next flush."""
        self._stored(outcome)
        if not self.flush:
            return COMPLETED
        self._unflushed.append(outcome.idx)
        return PENDING

    def poll(self, block, pending):
        """Flush when due (always with ``block``) and confirm the runs it covers."""
        if not self._unflushed or not (block or time.monotonic() - self._last_flush >= self.flush_interval):
            return []
        covered, self._unflushed = self._unflushed, []
        self._last_flush = time.monotonic()
        try:
            self.service.store(pc.FLUSH, None)
        except Exception as exc:  # none of these runs is known to be on disk
            failure = RunOutcome.from_exception(-1, exc)
            return [(idx, [failure]) for idx in covered]
        return [(idx, []) for idx in covered]

    def after_runs(self):
        """Nothing runs elsewhere."""

    def close(self):
        """Close the file."""
        if getattr(self.service, "is_open", False):
            self.service.store(pc.CLOSE_FILE, None)


@register_wrap_mode
class LocalMode(InProcessMode):
    """LOCAL: workers keep references; the parent stores them into the file it keeps open."""

    wrap_mode = pc.WRAP_MODE_LOCAL
    runs_on_executors = True
    ships_payload = True

    def __init__(self, service, context, settings):
        super().__init__(service, context, settings)
        self.reference_store = ReferenceStore(service, settings.gc_interval)

    @staticmethod
    def worker_service():
        """A fresh reference collector for each run."""
        return ReferenceWrapper()

    def _stored(self, outcome):
        """Store what the worker's run asked to store."""
        references = (outcome.payload or {}).get("references")
        if references:
            self.reference_store.store_references(references)


class _PoolMode:
    """What modes whose workers get their service from the pool initializer share."""

    runs_on_executors = False
    ships_payload = True
    opens_file_in_parent = False
    pool_initializer = staticmethod(install_worker_service)

    @classmethod
    def worker_service(cls):
        """The service the pool initializer installed in this worker."""
        service = installed_worker_service()
        if service is None:
            raise RuntimeError(
                f"wrap mode {cls.wrap_mode} needs the worker to be started by the environment's process pool; "
                "use WRAP_MODE_LOCAL with other executors"
            )
        return service


@register_wrap_mode
class LockMode(_PoolMode):
    """LOCK: workers store one at a time under a lock; the parent never holds the file open."""

    wrap_mode = pc.WRAP_MODE_LOCK
    ships_payload = False
    poll = None

    def __init__(self, service, context, settings):
        self.service = service
        self.lock = context.Lock()

    @property
    def pool_initargs(self):
        """Each worker wraps the service in the shared lock."""
        return (LockWrapper, self.service, self.lock)

    def start(self):
        """Nothing to open: each store opens and closes the file under the lock."""

    def on_outcome(self, outcome):
        """The worker stored (and closed the file) before returning."""
        return COMPLETED

    def after_runs(self):
        """Nothing runs elsewhere."""

    def close(self):
        """Nothing is open."""


@register_wrap_mode
class NetLockMode(LockMode):
    """NETLOCK: as LOCK, but the lock is served by a lock server process at a URL.

    ``settings.timeout`` makes it a TimeOutLockerServer (a lock whose holder
    died is freed after that many seconds). Workers on other machines can
    use the same lock: see :mod:`rigbook.trajectory.netlock`.
    """

    wrap_mode = pc.WRAP_MODE_NETLOCK

    def __init__(self, service, context, settings):
        from rigbook.trajectory.netlock import (
            DEFAULT_URL, LockerServer, LockerServerProcess, TimeOutLockerServer)

        self.service = service
        self.lock = None
        url = settings.url or DEFAULT_URL
        server = LockerServer(url) if settings.timeout is None else TimeOutLockerServer(url, settings.timeout)
        self.server_process = LockerServerProcess(server, context)

    @property
    def url(self):
        """Where the lock server listens (once started)."""
        return self.server_process.url

    def start(self):
        """Start the lock server; workers get a client of its URL."""
        from rigbook.trajectory.netlock import ForkAwareLockerClient

        self.lock = ForkAwareLockerClient(self.server_process.start())

    def close(self):
        """Stop the lock server."""
        self.server_process.stop()


class WriterMode(_PoolMode):
    """QUEUE, PIPE, NETQUEUE: one writer process owns the file; runs complete when it confirms.

    At the end the writer is stopped with an event rather than a message on
    the channel: once every worker has exited, whatever they sent is in the
    channel, the writer stores it and stops, and a run whose data never
    arrived (its worker was killed) simply stays unconfirmed.
    """

    def __init__(self, service, context, settings):
        self.replies = context.Queue()
        self.stop_event = context.Event()
        writer, self._sender_arguments = self._make_channel(service, context, settings)
        self.writer_process = StorageWriterProcess(writer, context)
        #: Called before the final wait: must make every worker exit (shut the pool down).
        self.stop_senders = None
        self._joined = False

    def _make_channel(self, service, context, settings):
        """``(writer, sender arguments)``: the writer reading the channel, how workers make their sender."""
        raise NotImplementedError

    @property
    def pool_initargs(self):
        """Each worker makes a sender on the writer's channel."""
        return self._sender_arguments

    def start(self):
        """Start the writer process (before the pool, so the pool does not inherit it)."""
        self.writer_process.start()

    def on_outcome(self, outcome):
        """The run's data is on its way to the writer; wait for its confirmation."""
        return PENDING

    def _stop_writer(self):
        if self.stop_senders is not None:
            self.stop_senders()
        self.stop_event.set()
        self.writer_process.process.join()

    def poll(self, block, pending):
        """Confirmations ``(idx, failures)`` received so far.

        With ``block``, first let the senders finish and the writer store
        everything they sent and stop; what is still unconfirmed then never
        reached the writer.
        """
        if block:
            self._stop_writer()
        confirmed = []
        while True:
            try:
                confirmed.append(self.replies.get_nowait())
            except queue_module.Empty:
                return confirmed

    def after_runs(self):
        """Stop the writer and raise any store failure it could not report with a run."""
        if self._joined:
            return
        self._joined = True
        self._stop_writer()
        self.writer_process.join()

    def close(self):
        """Make sure the writer stopped (also on the way out of an error)."""
        self.after_runs()


@register_wrap_mode
class QueueMode(WriterMode):
    """QUEUE: workers put store requests on a ``multiprocessing`` queue."""

    wrap_mode = pc.WRAP_MODE_QUEUE

    def _make_channel(self, service, context, settings):
        channel = context.Queue(maxsize=max(int(settings.queue_maxsize), 0))
        writer = QueueStorageServiceWriter(service, channel, settings.gc_interval, reply_queue=self.replies,
                                           stop_event=self.stop_event)
        return writer, (QueueStorageServiceSender, channel)


@register_wrap_mode
class PipeMode(WriterMode):
    """PIPE: workers send store requests through a ``multiprocessing`` pipe."""

    wrap_mode = pc.WRAP_MODE_PIPE

    def _make_channel(self, service, context, settings):
        receive_end, send_end = context.Pipe(duplex=False)
        writer = PipeStorageServiceWriter(service, receive_end, gc_interval=settings.gc_interval,
                                          reply_queue=self.replies, stop_event=self.stop_event)
        return writer, (PipeStorageServiceSender, send_end, context.Lock())


@register_wrap_mode
class NetQueueMode(WriterMode):
    """NETQUEUE: workers send signed store requests to a writer listening on a URL.

    Workers on other machines can send to the same URL: see
    :mod:`rigbook.trajectory.netqueue`.
    """

    wrap_mode = pc.WRAP_MODE_NETQUEUE
    #: Seconds the writer may take to start listening.
    START_TIMEOUT = 30.0

    def _make_channel(self, service, context, settings):
        from rigbook.trajectory.netlock import DEFAULT_URL
        from rigbook.trajectory.netqueue import NetQueueStorageServiceWriter

        self._ready, self._ready_sender = context.Pipe(duplex=False)
        self._requested_url = settings.url or DEFAULT_URL
        writer = NetQueueStorageServiceWriter(service, self._requested_url, settings.gc_interval,
                                              reply_queue=self.replies, stop_event=self.stop_event,
                                              ready_connection=self._ready_sender)
        self.url = None
        return writer, None

    def start(self):
        """Start the writer and wait until it listens; workers get a sender of its URL.

        Raises
        ------
        OSError
            If the writer cannot listen on its URL (the port is taken...) in time.
        """
        from rigbook.trajectory.netlock import wait_until_listening
        from rigbook.trajectory.netqueue import NetQueueStorageServiceSender

        super().start()
        self._ready_sender.close()  # the writer's copy only: a writer that dies is an EOF here
        try:
            self.url = wait_until_listening(self._ready, self.START_TIMEOUT, "the NETQUEUE storage writer",
                                            self._requested_url)
        except OSError:
            try:
                self.close()
            except StorageWriterError:
                pass  # it failed for the reason raised here
            raise
        self._sender_arguments = (NetQueueStorageServiceSender, self.url)
