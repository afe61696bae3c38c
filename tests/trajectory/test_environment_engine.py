"""The run engine and the resume state, with jobs that need no trajectory."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rigbook.trajectory.resume import ResumeState, from_ranges, to_ranges
from rigbook.trajectory.runner import (
    COMPLETED,
    PENDING,
    ExplorationError,
    RunEngine,
    RunOutcome,
    RunSummary,
    process_pool,
)

CTX = multiprocessing.get_context("fork")


class SquareJob:
    """Squares the index; raises for the indices in ``fail``; SIGKILLs its worker once at ``kill_at``."""

    def __init__(self, fail=(), kill_at=None, marker=None):
        self.fail = set(fail)
        self.kill_at = kill_at
        self.marker = marker

    def __call__(self, idx):
        start = time.time()
        if idx == self.kill_at and not Path(self.marker).exists():
            Path(self.marker).write_text("killed once")
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            if idx in self.fail:
                raise ZeroDivisionError(f"run {idx} divides by zero")
            result = idx * idx
        except Exception as exc:
            return RunOutcome.from_exception(idx, exc, start, time.time())
        return RunOutcome(idx, result=result, start=start, finish=time.time())


class Store:
    """Parent-side store: records every stored run."""

    def __init__(self):
        self.stored = {}

    def __call__(self, outcome):
        if outcome.ok:
            self.stored[outcome.idx] = outcome.result
        return COMPLETED


def test_in_process_runs_go_on_after_a_failure_and_report_it_with_its_traceback():
    store = Store()
    summary = RunEngine(SquareJob(fail={3}), progress=False).run(range(6), store)
    assert summary.completed == [0, 1, 2, 4, 5]
    assert summary.results == [(0, 0), (1, 1), (2, 4), (4, 16), (5, 25)]
    assert list(summary.failed) == [3]
    assert summary.failed[3]["error"] == "ZeroDivisionError: run 3 divides by zero"
    assert "Traceback" in summary.failed[3]["traceback"] and "divides by zero" in summary.failed[3]["traceback"]
    assert store.stored == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    assert not summary.ok
    error = ExplorationError(summary)
    assert "5 of 6 runs done, 1 failed" in str(error) and "Traceback of run 3" in str(error)


def test_a_storage_error_in_the_parent_fails_that_run_only():
    def store(outcome):
        if outcome.idx == 2:
            raise OSError("disk full")
        return COMPLETED

    summary = RunEngine(SquareJob(), progress=False).run(range(4), store)
    assert summary.completed == [0, 1, 3]
    assert summary.failed[2]["error"] == "storing failed: OSError: disk full"


def test_pending_runs_complete_only_when_the_writer_confirms_even_if_it_confirms_first():
    engine = RunEngine(SquareJob(), progress=False)

    class Failure:
        error = "ValueError: boom"
        traceback = "Traceback: boom"

    def on_outcome(outcome):
        if outcome.idx == 0:
            engine.confirm(0, [])  # the writer's reply overtakes the worker's outcome
        return PENDING

    def poll(block, pending):
        return [(1, [Failure()])] if block else []

    summary = engine.run(range(3), on_outcome, poll)
    assert summary.completed == [0]
    assert summary.results == [(0, 0)]
    assert summary.failed[1]["error"] == "storing failed in the writer: ValueError: boom"
    assert summary.lost == {2: "the storage writer never confirmed storing it"}


@pytest.mark.parametrize("frozen", [False, True])
def test_process_pool_runs_every_index_on_two_workers(frozen):
    job = SquareJob(fail={7})
    store = Store()
    with process_pool(2, job=job if frozen else None, context=CTX) as pool:
        summary = RunEngine(job, executor=pool, frozen=frozen, progress=False).run(range(200), store)
    assert summary.completed == [i for i in range(200) if i != 7]
    assert store.stored == {i: i * i for i in range(200) if i != 7}
    assert list(summary.failed) == [7] and "divides by zero" in summary.failed[7]["traceback"]


def test_any_executor_works_here_a_thread_pool():
    with ThreadPoolExecutor(3) as pool:
        summary = RunEngine(SquareJob(), executor=pool, progress=False).run(range(50), Store())
    assert summary.ok and summary.results == [(i, i * i) for i in range(50)]


def test_sigkilled_worker_loses_only_unfinished_runs_and_resume_completes_them(tmp_path):
    state = ResumeState(tmp_path / "resume", "traj")
    state.start(total=120)
    store = Store()
    job = SquareJob(kill_at=60, marker=tmp_path / "killed")
    with process_pool(2, context=CTX) as pool:
        summary = RunEngine(job, executor=pool, progress=False, resume_state=state).run(range(120), store)
    assert (tmp_path / "killed").exists()
    assert summary.lost and 60 in summary.lost
    assert "BrokenProcessPool" in summary.lost[60]
    assert set(summary.completed) | set(summary.lost) == set(range(120))

    # What is on disk says exactly which runs are stored; resume runs the rest.
    reread = ResumeState(tmp_path / "resume", "traj").load()
    assert reread.completed == set(summary.completed) == set(store.stored)
    missing = reread.missing()
    assert missing == sorted(summary.lost)
    with process_pool(2, context=CTX) as pool:
        again = RunEngine(job, executor=pool, progress=False, resume_state=reread).run(missing, store)
    assert again.ok
    assert store.stored == {i: i * i for i in range(120)}
    assert ResumeState(tmp_path / "resume", "traj").load().missing() == []


def test_dask_local_cluster_runs_the_jobs():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            executor = client.get_executor()
            store = Store()
            summary = RunEngine(SquareJob(fail={4}), executor=executor, progress=False).run(range(30), store)
    assert summary.completed == [i for i in range(30) if i != 4]
    assert store.stored == {i: i * i for i in range(30) if i != 4}
    assert "divides by zero" in summary.failed[4]["traceback"]


def test_summary_text_counts_runs_and_errors():
    summary = RunSummary(total=3, completed=[0], failed={1: {"error": "E: x", "traceback": "tb"}},
                         lost={2: "worker died"}, seconds=2.0)
    text = summary.describe()
    assert text.startswith("1 of 3 runs done, 1 failed, 1 did not finish, in 2.00 s")
    assert "run 1 failed: E: x" in text and "run 2 did not finish: worker died" in text


# ---------------------------------------------------------------- resume state


def test_ranges_round_trip():
    indices = {0, 1, 2, 5, 7, 8, 100}
    assert to_ranges(indices) == [[0, 3], [5, 6], [7, 9], [100, 101]]
    assert from_ranges(to_ranges(indices)) == indices
    assert to_ranges([]) == []


def test_resume_state_refuses_bad_names_and_unpicklable_recipes(tmp_path):
    with pytest.raises(ValueError, match="trajectory name '../up'"):
        ResumeState(tmp_path, "../up")
    state = ResumeState(tmp_path, "traj")
    with pytest.raises(TypeError, match="module level"):
        state.write_recipe({"func": lambda traj: None})
    assert not state.exists()
    with pytest.raises(FileNotFoundError, match="no exploration to resume for trajectory 'traj'"):
        state.read_recipe()


KILLED_PARENT_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from rigbook.trajectory.resume import ResumeState
    from rigbook.trajectory.runner import RunEngine, RunOutcome, COMPLETED

    folder, log_path = sys.argv[1], sys.argv[2]
    state = ResumeState(folder, "traj")
    state.start(total=100000)
    log = open(log_path, "a")

    def job(idx):
        return RunOutcome(idx, result=idx)

    def store(outcome):
        # The 'file' a run is stored in; flushed to the OS before the run counts as stored.
        log.write(f"{outcome.idx}\\n")
        log.flush()
        return COMPLETED

    print("started", flush=True)
    RunEngine(job, progress=False, resume_state=state).run(range(100000), store)
    """
)


def test_sigkill_of_the_whole_exploration_never_loses_a_run_listed_as_completed(tmp_path):
    script = tmp_path / "explore.py"
    script.write_text(KILLED_PARENT_SCRIPT)
    for attempt in range(3):
        log = tmp_path / f"stored-{attempt}.txt"
        folder = tmp_path / f"resume-{attempt}"
        process = subprocess.Popen([sys.executable, str(script), str(folder), str(log)],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "started"
        state_file = folder / "traj" / "state.json"
        deadline = time.monotonic() + 30
        # Kill once some runs are checkpointed, at a moment the test does not choose.
        while not (state_file.exists() and json.loads(state_file.read_text())["completed"]):
            assert time.monotonic() < deadline, "the exploration never checkpointed"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        process.stdout.close()
        state = ResumeState(folder, "traj").load()  # parses: never half-written
        stored = {int(line) for line in log.read_text().split()}
        assert state.completed, "nothing was checkpointed"
        assert state.completed <= stored
