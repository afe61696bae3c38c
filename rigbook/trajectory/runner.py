"""Run one job per run index on any ``concurrent.futures.Executor``.

The engine does not know about trajectories: a *job* is a picklable callable
``job(idx) -> RunOutcome`` that runs the user's function for one run and
catches its errors. The engine

- runs the jobs in this process (``executor=None``) or on an executor (a
  ``ProcessPoolExecutor``, a ``dask.distributed`` client's executor, ...),
  keeping a bounded number in flight;
- hands every outcome to the parent's ``on_outcome`` hook, in the parent
  process, which is where results are stored (one writer);
- records each run as completed, failed (its function raised: error and
  traceback are kept) or lost (its worker died, the pool broke, it was never
  started), and goes on with the other runs;
- shows progress with tqdm and ends with a :class:`RunSummary`;
- optionally checkpoints a :class:`~rigbook.trajectory.resume.ResumeState`
  after every batch of finished runs.
"""

import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

COMPLETED = "completed"
PENDING = "pending"


@dataclass
class RunOutcome:
    """What a job sends back for one run.

    Attributes
    ----------
    idx : int
        The run index.
    result : object
        What the user's function returned (``None`` if it failed).
    error : str or None
        ``'ExceptionType: message'`` if the function raised.
    traceback : str or None
        The formatted traceback if the function raised.
    start, finish : float
        Wall-clock timestamps (``time.time()``) of the run.
    payload : object
        Anything else the parent needs (stored references in LOCAL mode).
    """

    idx: int
    result: Any = None
    error: Any = None
    traceback: Any = None
    start: float = 0.0
    finish: float = 0.0
    payload: Any = None

    @property
    def ok(self):
        """Whether the user's function returned normally."""
        return self.error is None

    @classmethod
    def from_exception(cls, idx, exc, start=0.0, finish=0.0):
        """An outcome for a run whose code raised ``exc``."""
        return cls(
            idx=idx,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            start=start,
            finish=finish,
        )


@dataclass
class RunSummary:
    """How an exploration went.

    Attributes
    ----------
    total : int
        Runs asked for in this call.
    completed : list of int
        Runs whose function returned and whose data was stored.
    failed : dict
        Run index -> ``{'error': ..., 'traceback': ...}`` of runs whose
        function raised or whose storing failed.
    lost : dict
        Run index -> reason, for runs that did not finish (their worker died,
        the pool broke, or the exploration was interrupted).
    seconds : float
        Wall-clock duration.
    results : list of (int, object)
        ``(run index, returned value)`` of completed runs, by index.
    """

    total: int = 0
    completed: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    lost: dict = field(default_factory=dict)
    seconds: float = 0.0
    results: list = field(default_factory=list)

    @property
    def ok(self):
        """Whether every run completed."""
        return not self.failed and not self.lost and len(self.completed) == self.total

    def extend(self, other):
        """Add the runs of a later exploration of the same trajectory (after it was expanded)."""
        self.total += other.total
        self.completed = sorted(self.completed + other.completed)
        self.failed.update(other.failed)
        self.lost.update(other.lost)
        self.seconds += other.seconds
        self.results = sorted(self.results + other.results, key=lambda pair: pair[0])

    def describe(self):
        """One human-readable paragraph: counts, time, and the first errors."""
        rate = len(self.completed) / self.seconds if self.seconds > 0 else float("nan")
        lines = [
            f"{len(self.completed)} of {self.total} runs done, {len(self.failed)} failed, "
            f"{len(self.lost)} did not finish, in {self.seconds:.2f} s ({rate:.1f} runs/s)"
        ]
        for idx, failure in sorted(self.failed.items())[:5]:
            lines.append(f"  run {idx} failed: {failure['error']}")
        if len(self.failed) > 5:
            lines.append(f"  ... and {len(self.failed) - 5} more failed runs")
        for idx, reason in sorted(self.lost.items())[:3]:
            lines.append(f"  run {idx} did not finish: {reason}")
        if len(self.lost) > 3:
            lines.append(f"  ... and {len(self.lost) - 3} more unfinished runs")
        return "\n".join(lines)


class ExplorationError(RuntimeError):
    """Some runs failed or did not finish; the others were stored.

    Attributes
    ----------
    summary : RunSummary
        Everything about the exploration, including the results of the runs
        that did complete and the traceback of every failed run.
    """

    def __init__(self, summary):
        self.summary = summary
        message = summary.describe()
        first = next(iter(sorted(summary.failed.items())), None)
        if first is not None:
            message += f"\nTraceback of run {first[0]}:\n{first[1]['traceback']}"
        if summary.lost:
            message += "\nRuns that did not finish are run again by Environment.resume()."
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.summary,))


class RunProcessDied(RuntimeError):
    """The process of one run ended before sending back its outcome (``use_pool=False``).

    Unlike a broken pool, this loses only that run; the others go on.
    """


_frozen_job = None


def install_frozen_job(job):
    """Pool initializer: keep ``job`` in the worker so tasks only carry an index."""
    global _frozen_job
    _frozen_job = job


def run_frozen_job(idx):
    """Task of a pool whose job was installed by :func:`install_frozen_job`."""
    return _frozen_job(idx)


def _is_lost(exc):
    """Whether a future's exception means the run never finished (not that it raised)."""
    if isinstance(exc, (concurrent.futures.process.BrokenProcessPool, concurrent.futures.CancelledError)):
        return True
    # dask.distributed reports a dead worker as KilledWorker; no import needed.
    return type(exc).__name__ in ("KilledWorker", "CommClosedError", "FutureCancelledError")


class _GracefulExit:
    """First SIGINT: stop starting runs, finish the running ones. Second: interrupt."""

    def __init__(self, enabled):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("Interrupted: finishing the runs in progress, starting no new ones (press Ctrl+C again to abort)")

    def __enter__(self):
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)


class RunEngine:
    """Run ``job(idx)`` for many run indices and settle each run in the parent.

    Parameters
    ----------
    job : callable
        ``job(idx) -> RunOutcome``; must be picklable for process executors.
    executor : concurrent.futures.Executor, optional
        Where to run the jobs; ``None`` runs them one after the other here.
    frozen : bool
        The executor's workers already hold the job (installed with
        :func:`install_frozen_job` as the pool initializer); tasks then carry
        only the index.
    max_in_flight : int, optional
        How many runs are submitted ahead; twice the executor's workers plus
        two by default.
    progress : bool
        Show a tqdm progress bar.
    description : str
        The progress bar's label.
    graceful_exit : bool
        On Ctrl+C, let running runs finish and be stored, start no new ones.
    resume_state : ResumeState, optional
        Checkpointed after every batch of settled runs.
    """

    def __init__(self, job, executor=None, frozen=False, max_in_flight=None, progress=True,
                 description="runs", graceful_exit=False, resume_state=None):
        self.job = job
        self.executor = executor
        self.frozen = frozen
        if max_in_flight is None:
            workers = getattr(executor, "_max_workers", None) or 8
            max_in_flight = 2 * workers + 2
        if int(max_in_flight) < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight!r}")
        self.max_in_flight = int(max_in_flight)
        self.progress = progress
        self.description = description
        self.graceful_exit = graceful_exit
        self.resume_state = resume_state
        self._summary = None
        self._pending = {}
        self._early = {}
        self._bar = None

    # ------------------------------------------------------------ settling

    def _settle_completed(self, idx, result):
        self._summary.completed.append(idx)
        self._summary.results.append((idx, result))
        if self.resume_state is not None:
            self.resume_state.mark_completed(idx)
        self._bar.update(1)

    def _settle_failed(self, idx, error, traceback_text):
        self._summary.failed[idx] = {"error": error, "traceback": traceback_text}
        if self.resume_state is not None:
            self.resume_state.mark_failed(idx, error, traceback_text)
        logger.error("Run %d failed: %s", idx, error)
        self._bar.update(1)

    def _settle_lost(self, idx, reason):
        self._summary.lost[idx] = reason
        self._bar.update(1)

    def _accept(self, outcome, on_outcome):
        """Hand a finished run to the parent's hook and record what it says."""
        if not outcome.ok:
            self._settle_failed(outcome.idx, outcome.error, outcome.traceback)
            try:
                on_outcome(outcome)
            except Exception as exc:  # the run already failed; keep both errors
                logger.error("Storing the failure of run %d failed too: %s", outcome.idx, exc)
            return
        try:
            status = on_outcome(outcome)
        except Exception as exc:  # a storage error in the parent fails this run, not the exploration
            failed = RunOutcome.from_exception(outcome.idx, exc)
            self._settle_failed(outcome.idx, f"storing failed: {failed.error}", failed.traceback)
            return
        if status == PENDING:
            self._pending[outcome.idx] = outcome.result
            if outcome.idx in self._early:
                self.confirm(outcome.idx, self._early.pop(outcome.idx))
        else:
            self._settle_completed(outcome.idx, outcome.result)

    def confirm(self, idx, failures=()):
        """Settle a run whose storing the writer confirmed (``failures`` from its reply)."""
        if idx not in self._pending:
            # The writer can confirm before the worker's outcome reaches the parent.
            self._early[idx] = list(failures)
            return
        result = self._pending.pop(idx)
        if failures:
            first = failures[0]
            self._settle_failed(idx, f"storing failed in the writer: {first.error}",
                                "\n".join(f.traceback for f in failures))
        else:
            self._settle_completed(idx, result)

    def _poll(self, poll_confirmations, block):
        if poll_confirmations is None:
            return
        for idx, failures in poll_confirmations(block=block, pending=set(self._pending)):
            self.confirm(idx, failures)

    def _checkpoint(self):
        if self.resume_state is not None:
            self.resume_state.checkpoint()

    # ------------------------------------------------------------ running

    def run(self, indices, on_outcome, poll_confirmations=None):
        """Run every index; return the :class:`RunSummary`.

        Parameters
        ----------
        indices : iterable of int
            The runs to do.
        on_outcome : callable
            ``on_outcome(outcome)`` in this process for every finished run;
            returns :data:`COMPLETED` when the run's data is stored, or
            :data:`PENDING` when a writer still has to confirm it. An
            exception fails the run (its traceback is kept) and the others go on.
        poll_confirmations : callable, optional
            ``poll_confirmations(block, pending)`` yields ``(idx, failures)``
            for runs a writer has confirmed; with ``block=True`` it waits
            until every index in ``pending`` is confirmed or cannot be any more.
        """
        indices = [int(i) for i in indices]
        self._summary = RunSummary(total=len(indices))
        self._pending = {}
        self._early = {}
        started = time.perf_counter()
        self._bar = tqdm(total=len(indices), desc=self.description, disable=not self.progress,
                         unit="run", dynamic_ncols=True)
        try:
            with _GracefulExit(self.graceful_exit) as interrupt:
                if self.executor is None:
                    self._run_here(indices, on_outcome, poll_confirmations, interrupt)
                else:
                    self._run_on_executor(indices, on_outcome, poll_confirmations, interrupt)
            self._poll(poll_confirmations, block=True)
            for idx in list(self._pending):
                self._pending.pop(idx)
                self._settle_lost(idx, "the storage writer never confirmed storing it")
        finally:
            self._bar.close()
            self._summary.seconds = time.perf_counter() - started
            self._summary.results.sort(key=lambda pair: pair[0])
            self._summary.completed.sort()
            self._checkpoint()
        return self._summary

    def _run_here(self, indices, on_outcome, poll_confirmations, interrupt):
        for position, idx in enumerate(indices):
            if interrupt.requested:
                for rest in indices[position:]:
                    self._settle_lost(rest, "the exploration was interrupted before it started")
                return
            try:
                outcome = self.job(idx)
            except Exception as exc:  # a job should catch the user's errors itself
                outcome = RunOutcome.from_exception(idx, exc)
            self._accept(outcome, on_outcome)
            self._poll(poll_confirmations, block=False)
            self._checkpoint()

    def _submit(self, idx):
        if self.frozen:
            return self.executor.submit(run_frozen_job, idx)
        return self.executor.submit(self.job, idx)

    def _run_on_executor(self, indices, on_outcome, poll_confirmations, interrupt):
        waiting = list(reversed(indices))
        in_flight = {}
        broken = None
        while waiting or in_flight:
            while waiting and broken is None and not interrupt.requested and len(in_flight) < self.max_in_flight:
                idx = waiting.pop()
                try:
                    in_flight[self._submit(idx)] = idx
                except Exception as exc:  # the pool is broken (a worker died) or shut down
                    broken = f"{type(exc).__name__}: {exc}"
                    waiting.append(idx)
            if (broken or interrupt.requested) and waiting:
                reason = broken or "the exploration was interrupted before it started"
                for idx in reversed(waiting):
                    self._settle_lost(idx, reason)
                waiting = []
            if not in_flight:
                break
            done, _ = concurrent.futures.wait(list(in_flight), timeout=0.5,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                idx = in_flight.pop(future)
                try:
                    outcome = future.result()
                except RunProcessDied as exc:
                    self._settle_lost(idx, str(exc))
                    continue
                except Exception as exc:
                    if _is_lost(exc):
                        broken = broken or f"{type(exc).__name__}: {exc}"
                        self._settle_lost(idx, f"its worker died or the pool broke ({type(exc).__name__}: {exc})")
                        continue
                    outcome = RunOutcome.from_exception(idx, exc)
                self._accept(outcome, on_outcome)
            self._poll(poll_confirmations, block=False)
            if done:
                self._checkpoint()


@contextlib.contextmanager
def process_pool(ncores, job=None, context=None, initializer=None, initargs=()):
    """A ``ProcessPoolExecutor`` of ``ncores`` workers, optionally holding ``job``.

    ``initializer(*initargs)`` runs first in each worker (to hand it queues or
    locks, which can only be passed when a process starts); then the job is
    installed for :func:`run_frozen_job`.
    """
    if int(ncores) < 1:
        raise ValueError(f"ncores must be at least 1, not {ncores!r}")

    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=int(ncores),
        mp_context=context,
        initializer=_initialize_worker,
        initargs=(initializer, initargs, job),
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _exit_when_orphaned(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def _initialize_worker(initializer, initargs, job):
    # Ctrl+C belongs to the parent, which finishes gracefully; workers ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent killed with SIGKILL cannot stop its workers; they stop themselves.
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True,
                     name="rigbook-orphan-watch").start()
    if initializer is not None:
        initializer(*initargs)
    if job is not None:
        install_frozen_job(job)
