"""``use_pool=False``: a new process for every run, inputs reach it by forking, not pickling."""

import logging
import multiprocessing
import os
import threading
import time

import pytest

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.environment import Environment
from rigbook.trajectory.processperrun import ProcessPerRunExecutor
from rigbook.trajectory.runner import ExplorationError, RunProcessDied
from rigbook.trajectory.trajectory import Trajectory

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="use_pool=False hands runs their inputs by forking")


@pytest.fixture(autouse=True)
def _no_leaked_log_handlers():
    yield
    trajectory_logger = logging.getLogger("rigbook.trajectory")
    for handler in list(trajectory_logger.handlers):
        trajectory_logger.removeHandler(handler)
        handler.close()


def make_env(tmp_path, runs=6, **options):
    env = Environment(trajectory="traj", filename=str(tmp_path / "nopool.hdf5"), log_config=None,
                      report_progress=False, multiproc=True, ncores=2, use_pool=False, **options)
    env.trajectory.f_add_parameter("x", 0)
    env.trajectory.f_explore({"x": list(range(runs))})
    return env


def store_pid(traj, unpicklable=None):
    traj.f_add_result("z", traj.x * 3)
    return os.getpid()


def stored_zs(tmp_path):
    traj = Trajectory(filename=str(tmp_path / "nopool.hdf5"))
    traj.f_load(name="traj", load_parameters=2, load_results=2)
    assert traj.f_is_completed()
    return traj.f_get_from_runs("z", fast_access=True, use_indices=True)


@pytest.mark.parametrize("wrap_mode", [pc.WRAP_MODE_LOCK, pc.WRAP_MODE_QUEUE, pc.WRAP_MODE_PIPE,
                                       pc.WRAP_MODE_LOCAL])
def test_every_run_has_a_process_of_its_own(tmp_path, wrap_mode):
    env = make_env(tmp_path, wrap_mode=wrap_mode)
    results = env.run(store_pid)
    pids = [pid for _, pid in results]
    assert [idx for idx, _ in results] == list(range(6))
    assert len(set(pids)) == 6 and os.getpid() not in pids
    assert stored_zs(tmp_path) == {i: i * 3 for i in range(6)}
    assert env.trajectory.f_get(f"config.environment.{env.name}.use_pool").f_get() is False


def test_inputs_that_cannot_be_pickled_reach_the_runs(tmp_path):
    # A lock (and a lambda) cannot be pickled: a pool could not send them, a fork can.
    env = make_env(tmp_path)
    env.run(store_pid, threading.Lock())
    assert stored_zs(tmp_path) == {i: i * 3 for i in range(6)}

    pooled = Environment(trajectory="pooled", filename=str(tmp_path / "pooled.hdf5"), log_config=None,
                         report_progress=False, multiproc=True, ncores=2, use_pool=True)
    pooled.trajectory.f_add_parameter("x", 0)
    pooled.trajectory.f_explore({"x": [1, 2]})
    with pytest.raises(ExplorationError):
        pooled.run(store_pid, threading.Lock())


def dies_at_two(traj):
    if traj.x == 2:
        os._exit(3)
    return store_pid(traj)


def test_a_run_whose_process_dies_is_lost_alone(tmp_path):
    env = make_env(tmp_path, wrap_mode=pc.WRAP_MODE_QUEUE)
    with pytest.raises(ExplorationError) as caught:
        env.run(dies_at_two)
    summary = caught.value.summary
    assert list(summary.lost) == [2] and "exit code 3" in summary.lost[2]
    assert summary.completed == [0, 1, 3, 4, 5]
    traj = Trajectory(filename=str(tmp_path / "nopool.hdf5"))
    traj.f_load(name="traj", load_parameters=2, load_results=2)
    assert traj.f_get_from_runs("z", fast_access=True, use_indices=True) == {i: i * 3 for i in (0, 1, 3, 4, 5)}
    assert not traj.f_is_completed(2)


def occupy(running, peak):
    with running.get_lock():
        running.value += 1
        peak.value = max(peak.value, running.value)
    time.sleep(0.05)  # stay busy so that other processes would overlap if they were started
    with running.get_lock():
        running.value -= 1
    return os.getpid()


def test_the_executor_keeps_to_its_number_of_processes_and_reports_errors():
    context = multiprocessing.get_context("fork")
    running, peak = context.Value("i", 0), context.Value("i", 0)
    executor = ProcessPerRunExecutor(2, context=context)
    try:
        futures = [executor.submit(occupy, running, peak) for _ in range(6)]
        assert len({f.result(timeout=30) for f in futures}) == 6
        assert 1 <= peak.value <= 2
        failing = executor.submit(int, "not a number")
        with pytest.raises(ValueError, match="not a number"):
            failing.result(timeout=30)
        dying = executor.submit(os._exit, 7)
        with pytest.raises(RunProcessDied, match="exit code 7"):
            dying.result(timeout=30)
    finally:
        executor.shutdown(wait=True)
    with pytest.raises(RuntimeError, match="shut down"):
        executor.submit(os.getpid)
