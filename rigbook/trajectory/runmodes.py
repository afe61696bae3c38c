"""How one run executes in a worker.

:class:`RunJob` is what a worker executes for one run index: make the
trajectory that run, call the user's function, store the run's new data
through whatever storage service the wrap mode gives the worker
(:mod:`rigbook.trajectory.wrapmodes`), and send back a
:class:`~rigbook.trajectory.runner.RunOutcome`.
"""

import contextlib
import io
import logging
import time

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.runner import RunOutcome
from rigbook.trajectory.wrapmodes import (  # noqa: F401  (their home before wrapmodes.py)
    WRAP_MODES,
    InProcessMode,
    LocalMode,
    LockMode,
    WriterMode,
    install_worker_service,
)

logger = logging.getLogger(__name__)


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
    mode : class or None
        None: store through the trajectory's own service (this process);
        otherwise the wrap mode class, whose ``worker_service()`` gives
        the service to store through in the worker.
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
                 mode=None, automatic_storing=True, clean_up_runs=True, log_stdout=False,
                 overwrite_runs=frozenset(), journal=False):
        self.trajectory = trajectory
        self.func = func
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.iter_args = iter_args
        self.iter_kwargs = iter_kwargs
        self.mode = mode
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
        return None if self.mode is None else self.mode.worker_service()

    def __call__(self, idx):
        traj = self.trajectory
        service = self._service()
        original_service = traj.v_storage_service
        if service is not None:
            traj.v_storage_service = service
            if hasattr(service, "tag"):
                service.tag = idx
        # f_store() inside the run function stores this run's data only.
        traj._set_in_run(True)
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
                traj._set_in_run(False)
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
        if self.journal or (self.mode is not None and self.mode.ships_payload):
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
        if not self.clean_up_runs and self.mode is None:
            return
        run_name = pc.FORMATTED_RUN_NAME % idx
        for branch in ("results", "derived_parameters"):
            runs = traj._children[branch]._children.get("runs")
            if runs is not None and run_name in runs._children:
                runs.f_remove_child(run_name, recursive=True)
