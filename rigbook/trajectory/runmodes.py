"""How one run executes in a worker, and how its data reaches the file in each wrap mode.

:class:`RunJob` is what a worker executes for one run index: make the
trajectory that run, call the user's function, store the run's new data
through whatever storage service the wrap mode gives the worker, and send
back a :class:`~rigbook.trajectory.runner.RunOutcome`.

The parent-side *storage modes* set up the single writer:

=========  ===============================  ====================================
wrap mode  in the worker                    in the parent
=========  ===============================  ====================================
(none)     the real service, kept open      runs execute here, one at a time
LOCK       LockWrapper(real service)        nothing: workers store in turn
QUEUE      QueueStorageServiceSender        a writer process owns the file
PIPE       PipeStorageServiceSender         a writer process owns the file
LOCAL      ReferenceWrapper                 ReferenceStore, file kept open
=========  ===============================  ====================================

Executors that cannot share queues or locks with the parent (a
``dask.distributed`` cluster) use LOCAL: workers send their data back with
their outcome and the parent stores it.
"""

import contextlib
import io
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
    StorageWriterProcess,
)

logger = logging.getLogger(__name__)

WRAP_MODES = (pc.WRAP_MODE_LOCK, pc.WRAP_MODE_QUEUE, pc.WRAP_MODE_PIPE, pc.WRAP_MODE_LOCAL)

_worker_service = None


def install_worker_service(kind, *objects):
    """Pool initializer: build the storage service this worker process stores through."""
    global _worker_service
    if kind == pc.WRAP_MODE_LOCK:
        service, lock = objects
        _worker_service = LockWrapper(service, lock)
    elif kind == pc.WRAP_MODE_QUEUE:
        (storage_queue,) = objects
        _worker_service = QueueStorageServiceSender(storage_queue)
    elif kind == pc.WRAP_MODE_PIPE:
        connection, lock = objects
        _worker_service = PipeStorageServiceSender(connection, lock)
    else:
        raise ValueError(f"unknown wrap mode {kind!r}")


class _StdoutToLog(io.TextIOBase):
    """File-like object sending every printed line to a logger."""

    def __init__(self, log, level=logging.INFO):
        self._log = log
        self._level = level
        self._partial = ""

    def writable(self):
        return True

    def write(self, text):
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line:
                self._log.log(self._level, line)
        return len(text)

    def flush(self):
        if self._partial:
            self._log.log(self._level, self._partial)
            self._partial = ""


class RunJob:
    """Execute one run; picklable, so it can travel to worker processes.

    Parameters
    ----------
    trajectory : Trajectory
        The explored trajectory (already stored once).
    func : callable
        ``func(traj, *args, **kwargs)``; its return value is collected.
    args, kwargs : tuple, dict
        Passed to every run.
    iter_args, iter_kwargs : list of sequences, dict of sequences
        Per-run arguments (``run_map``): run ``i`` gets the ``i``-th item.
    wrap_mode : str or None
        None: store through the trajectory's own service (this process);
        LOCAL: collect references to send back; otherwise the service the
        pool initializer installed.
    automatic_storing : bool
        Store the run's new data after the function returns.
    clean_up_runs : bool
        Remove the run's results from the trajectory in memory afterwards.
    log_stdout : bool
        Send what the function prints to the log instead of the console.
    overwrite_runs : set of int
        Runs done again after an interruption that left data of theirs in
        the file: what they store now replaces it.
    journal : bool
        Send the stored data back with the outcome too, for the parent's
        resume journal.
    """

    def __init__(self, trajectory, func, args=(), kwargs=None, iter_args=None, iter_kwargs=None,
                 wrap_mode=None, automatic_storing=True, clean_up_runs=True, log_stdout=False,
                 overwrite_runs=frozenset(), journal=False):
        self.trajectory = trajectory
        self.func = func
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.iter_args = iter_args
        self.iter_kwargs = iter_kwargs
        self.wrap_mode = wrap_mode
        self.automatic_storing = automatic_storing
        self.clean_up_runs = clean_up_runs
        self.log_stdout = log_stdout
        self.overwrite_runs = frozenset(overwrite_runs)
        self.journal = journal

    def _arguments(self, idx):
        args = self.args
        kwargs = self.kwargs
        if self.iter_args:
            args = args + tuple(sequence[idx] for sequence in self.iter_args)
        if self.iter_kwargs:
            kwargs = dict(kwargs)
            kwargs.update({key: sequence[idx] for key, sequence in self.iter_kwargs.items()})
        return args, kwargs

    def _service(self):
        if self.wrap_mode is None:
            return None
        if self.wrap_mode == pc.WRAP_MODE_LOCAL:
            return ReferenceWrapper()
        if _worker_service is None:
            raise RuntimeError(
                f"wrap mode {self.wrap_mode} needs the worker to be started by the environment's process pool; "
                "use WRAP_MODE_LOCAL with other executors"
            )
        return _worker_service

    def __call__(self, idx):
        traj = self.trajectory
        service = self._service()
        original_service = traj.v_storage_service
        if service is not None:
            traj.v_storage_service = service
            if hasattr(service, "tag"):
                service.tag = idx
        # f_store() inside the run function stores this run's data only.
        traj.__dict__["_is_run"] = True
        start = time.time()
        outcome = None
        stored = None
        try:
            traj.f_set_crun(idx)
            traj._set_start()
            args, kwargs = self._arguments(idx)
            redirect = (contextlib.redirect_stdout(_StdoutToLog(logging.getLogger("rigbook.trajectory.stdout")))
                        if self.log_stdout else contextlib.nullcontext())
            try:
                with redirect:
                    result = self.func(traj, *args, **kwargs)
            except Exception as exc:  # the user's error fails this run only
                outcome = RunOutcome.from_exception(idx, exc, start, time.time())
                self._store_failure(traj, outcome)
            else:
                traj._set_finish()
                if self.automatic_storing:
                    stored = self._store_run(traj)
                outcome = RunOutcome(idx, result=result, start=start, finish=time.time())
        except Exception as exc:  # storing in the worker failed (LOCK mode, in-process)
            outcome = RunOutcome.from_exception(idx, exc, start, time.time())
            outcome.error = f"storing failed: {outcome.error}"
        finally:
            info = dict(traj.f_get_run_information(idx, copy=True))
            if outcome is None or not outcome.ok:
                info["completed"] = 0
            references = getattr(service, "references", None)
            if references is not None:
                service.free_references()
            try:
                self._clean_up(traj, idx)
            finally:
                traj.__dict__["_is_run"] = False
                traj.f_restore_default()
                if service is not None:
                    traj.v_storage_service = original_service
            if outcome is not None:
                outcome.payload = {"run_information": info, "references": references,
                                   "journal": stored if self.journal and outcome.ok else None}
            if hasattr(service, "request_confirmation"):
                service.request_confirmation(idx)
        return outcome

    def _store_run(self, traj):
        """Store the run's new nodes and its run information in one request; return what was sent."""
        if self.journal or self.wrap_mode in (pc.WRAP_MODE_QUEUE, pc.WRAP_MODE_PIPE, pc.WRAP_MODE_LOCAL):
            # Ship only what this run added, not the whole trajectory.
            item = traj._run_payload(store_final=True)
        else:
            item = traj
        store_data = pc.OVERWRITE_DATA if traj.v_idx in self.overwrite_runs else pc.STORE_DATA
        traj.v_storage_service.store(pc.SINGLE_RUN, item, trajectory_name=traj.v_name,
                                     store_data=store_data, store_final=True)
        return item

    def _store_failure(self, traj, outcome):
        """Keep the traceback of a failed run with the run's data in the file."""
        self._clean_up(traj, outcome.idx)
        if not self.automatic_storing:
            return
        try:
            traj.f_add_result("failure", error=outcome.error, traceback=outcome.traceback,
                              comment="The run function raised; this run is not completed.")
            self._store_run(traj)
        except Exception as exc:  # reported with the run's own error, not only logged
            outcome.traceback += f"\nStoring this failure in the file failed too: {type(exc).__name__}: {exc}\n"

    def _clean_up(self, traj, idx):
        if not self.clean_up_runs and self.wrap_mode is None:
            return
        run_name = pc.FORMATTED_RUN_NAME % idx
        for branch in ("results", "derived_parameters"):
            runs = traj._children[branch]._children.get("runs")
            if runs is not None and run_name in runs._children:
                runs.f_remove_child(run_name, recursive=True)


# ---------------------------------------------------------------- parent side


class InProcessMode:
    """No worker processes: runs execute here and store straight into the open file.

    With ``flush`` (resumable explorations) a run counts as completed only
    once the file was flushed after it; flushes happen at most every
    ``flush_interval`` seconds, not per run.
    """

    wrap_mode = None
    pool_initializer = None
    pool_initargs = ()
    opens_file_in_parent = True

    def __init__(self, service, trajectory_name, flush=True, keep_open=True, flush_interval=0.5):
        self.service = service
        self.trajectory_name = trajectory_name
        self.flush = flush and keep_open
        self.keep_open = keep_open
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


class LocalMode(InProcessMode):
    """Workers keep references; the parent stores them into the file it keeps open."""

    wrap_mode = pc.WRAP_MODE_LOCAL

    def __init__(self, service, trajectory_name, gc_interval=None, flush=True, keep_open=True):
        super().__init__(service, trajectory_name, flush, keep_open)
        self.reference_store = ReferenceStore(service, gc_interval)

    def _stored(self, outcome):
        """Store what the worker's run asked to store."""
        references = (outcome.payload or {}).get("references")
        if references:
            self.reference_store.store_references(references)


class LockMode:
    """Workers store one at a time under a lock; the parent never holds the file open."""

    wrap_mode = pc.WRAP_MODE_LOCK
    poll = None
    opens_file_in_parent = False

    def __init__(self, service, context):
        self.lock = context.Lock()
        self.pool_initializer = install_worker_service
        self.pool_initargs = (pc.WRAP_MODE_LOCK, service, self.lock)

    def start(self):
        """Nothing to open: each store opens and closes the file under the lock."""

    def on_outcome(self, outcome):
        """The worker stored (and closed the file) before returning."""
        return COMPLETED

    def after_runs(self):
        """Nothing runs elsewhere."""

    def close(self):
        """Nothing is open."""


class WriterMode:
    """QUEUE or PIPE: one writer process owns the file; runs complete when it confirms.

    At the end the writer is stopped with an event rather than a message on
    the channel: once every worker has exited, whatever they sent is in the
    channel, the writer stores it and stops, and a run whose data never
    arrived (its worker was killed) simply stays unconfirmed.
    """

    opens_file_in_parent = False

    def __init__(self, wrap_mode, service, context, gc_interval=None, queue_maxsize=0):
        self.wrap_mode = wrap_mode
        self.replies = context.Queue()
        self.stop_event = context.Event()
        if wrap_mode == pc.WRAP_MODE_QUEUE:
            self.channel = context.Queue(maxsize=max(int(queue_maxsize), 0))
            writer = QueueStorageServiceWriter(service, self.channel, gc_interval, reply_queue=self.replies,
                                               stop_event=self.stop_event)
            self.pool_initargs = (pc.WRAP_MODE_QUEUE, self.channel)
        else:
            receive_end, send_end = context.Pipe(duplex=False)
            lock = context.Lock()
            writer = PipeStorageServiceWriter(service, receive_end, gc_interval=gc_interval,
                                              reply_queue=self.replies, stop_event=self.stop_event)
            self.pool_initargs = (pc.WRAP_MODE_PIPE, send_end, lock)
        self.pool_initializer = install_worker_service
        self.writer_process = StorageWriterProcess(writer, context)
        #: Called before the final wait: must make every worker exit (shut the pool down).
        self.stop_senders = None
        self._joined = False

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
