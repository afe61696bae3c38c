"""The Environment: every wrap mode, clusters, failing runs, killed workers, resume, provenance."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import pytest

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.environment import Environment
from rigbook.trajectory.errors import PresettingError
from rigbook.trajectory.resume import unreadable_reason
from rigbook.trajectory.runner import ExplorationError
from rigbook.trajectory.storageservice import HDF5StorageService
from rigbook.trajectory.trajectory import Trajectory


@pytest.fixture(autouse=True)
def _no_leaked_log_handlers():
    yield
    trajectory_logger = logging.getLogger("rigbook.trajectory")
    for handler in list(trajectory_logger.handlers):
        trajectory_logger.removeHandler(handler)
        handler.close()


def make_env(tmp_path, runs=200, name="traj", **options):
    options.setdefault("log_config", None)
    options.setdefault("report_progress", False)
    env = Environment(trajectory=name, filename=str(tmp_path / "explore.hdf5"), **options)
    traj = env.trajectory
    traj.f_add_parameter("x", 0)
    traj.f_add_parameter("y", 2)
    traj.f_explore({"x": list(range(runs))})
    return env


def product(traj, offset=0):
    traj.f_add_result("z", traj.x * traj.y + offset, comment="x times y")
    traj.f_add_derived_parameter("half", traj.x / 2)
    return traj.x * traj.y


def load(tmp_path, name="traj"):
    traj = Trajectory(filename=str(tmp_path / "explore.hdf5"))
    traj.f_load(name=name, load_parameters=2, load_derived_parameters=2, load_results=2)
    return traj


def assert_all_runs_read_back(tmp_path, runs, name="traj", offset=0):
    traj = load(tmp_path, name)
    assert len(traj) == runs
    assert traj.f_get_from_runs("z", fast_access=True, use_indices=True) == {
        i: i * 2 + offset for i in range(runs)}
    assert traj.f_get_from_runs("half", where="derived_parameters", fast_access=True, use_indices=True) == {
        i: i / 2 for i in range(runs)}
    infos = traj.f_get_run_information()
    assert traj.f_is_completed(), [name for name, info in infos.items() if not info["completed"]][:5]
    for info in infos.values():
        assert info["finish_timestamp"] >= info["timestamp"] > 0
        assert info["runtime"]
    return traj


# ---------------------------------------------------------------- modes


def test_one_process_stores_every_run_and_returns_the_results(tmp_path):
    env = make_env(tmp_path, runs=50)
    results = env.run(product, offset=1)
    assert results == [(i, i * 2) for i in range(50)]
    assert env.summary.ok and env.summary.completed == list(range(50))
    assert_all_runs_read_back(tmp_path, 50, offset=1)
    # Run data left memory once stored; the run information did not.
    assert "runs" not in env.trajectory.results._children or not env.trajectory.results.runs._children
    assert env.trajectory.f_is_completed()


def test_running_again_after_f_expand_does_only_the_new_runs(tmp_path):
    env = make_env(tmp_path, runs=5)
    env.run(product)
    env.trajectory.f_expand({"x": [5, 6, 7]})
    assert env.run(product) == [(5, 10), (6, 12), (7, 14)]
    assert_all_runs_read_back(tmp_path, 8)


@pytest.mark.parametrize("wrap_mode", [pc.WRAP_MODE_LOCK, pc.WRAP_MODE_QUEUE, pc.WRAP_MODE_PIPE, pc.WRAP_MODE_LOCAL])
def test_every_wrap_mode_on_two_processes_stores_200_runs(tmp_path, wrap_mode):
    env = make_env(tmp_path, multiproc=True, ncores=2, wrap_mode=wrap_mode, freeze_input=True)
    results = env.run(product)
    assert results == [(i, i * 2) for i in range(200)]
    assert env.trajectory.f_is_completed()
    assert_all_runs_read_back(tmp_path, 200)


def test_without_frozen_input_each_run_carries_the_trajectory(tmp_path):
    env = make_env(tmp_path, runs=30, multiproc=True, ncores=2, wrap_mode=pc.WRAP_MODE_QUEUE)
    env.run(product)
    assert_all_runs_read_back(tmp_path, 30)


def test_run_map_gives_each_run_its_own_arguments(tmp_path):
    env = make_env(tmp_path, runs=5)
    results = env.run_map(product, offset=[10, 20, 30, 40, 50])
    assert results == [(i, i * 2) for i in range(5)]
    traj = load(tmp_path)
    assert traj.f_get_from_runs("z", fast_access=True, use_indices=True) == {i: i * 2 + 10 * (i + 1) for i in range(5)}
    with pytest.raises(ValueError, match="offset has 2 values but the trajectory has 5 runs"):
        make_env(tmp_path / "again", runs=5).run_map(product, offset=[1, 2])


def test_dask_local_cluster_runs_the_exploration_and_the_parent_stores(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        env = make_env(tmp_path, runs=40, executor=client.get_executor())
        results = env.run(product)
    assert results == [(i, i * 2) for i in range(40)]
    assert env.trajectory.config.environment.f_get(env.name).wrap_mode == pc.WRAP_MODE_LOCAL
    assert_all_runs_read_back(tmp_path, 40)


@pytest.mark.slow
def test_dask_cluster_of_two_worker_processes(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        env = make_env(tmp_path, runs=20, executor=client.get_executor())
        assert env.run(product) == [(i, i * 2) for i in range(20)]
    assert_all_runs_read_back(tmp_path, 20)


# ---------------------------------------------------------------- failures


def sometimes_fails(traj):
    if traj.v_idx % 50 == 7:
        raise ZeroDivisionError(f"run {traj.v_idx} cannot divide by zero")
    return product(traj)


@pytest.mark.parametrize("multiproc", [False, True])
def test_failing_runs_are_reported_at_the_end_and_the_others_are_stored(tmp_path, multiproc):
    env = make_env(tmp_path, runs=100, multiproc=multiproc, ncores=2, wrap_mode=pc.WRAP_MODE_QUEUE)
    with pytest.raises(ExplorationError) as info:
        env.run(sometimes_fails)
    summary = info.value.summary
    failed = [7, 57]
    assert sorted(summary.failed) == failed
    assert summary.failed[57]["error"] == "ZeroDivisionError: run 57 cannot divide by zero"
    assert "Traceback" in summary.failed[57]["traceback"] and "sometimes_fails" in summary.failed[57]["traceback"]
    assert "98 of 100 runs done, 2 failed" in str(info.value)
    assert summary.results == [(i, i * 2) for i in range(100) if i not in failed]

    traj = load(tmp_path)
    assert [i for i in range(100) if not traj.f_is_completed(i)] == failed
    zs = traj.f_get_from_runs("z", fast_access=True, use_indices=True)
    assert sorted(zs) == [i for i in range(100) if i not in failed]
    traj.f_set_crun(57)
    assert traj.crun.failure.error == "ZeroDivisionError: run 57 cannot divide by zero"
    assert "cannot divide by zero" in traj.crun.failure.traceback


class DiskFullOnRun2(HDF5StorageService):
    """The real service, except that storing run 2 fails as a full disk would."""

    def store(self, msg, stuff_to_store, *args, **kwargs):
        requests = stuff_to_store if msg == pc.LIST else [(msg, stuff_to_store, args, kwargs)]
        for inner_msg, item, _, _ in requests:
            if inner_msg == pc.SINGLE_RUN and getattr(item, "idx", getattr(item, "v_idx", None)) == 2:
                raise OSError("No space left on device")
        return super().store(msg, stuff_to_store, *args, **kwargs)


@pytest.mark.parametrize("wrap_mode", [None, pc.WRAP_MODE_QUEUE, pc.WRAP_MODE_PIPE, pc.WRAP_MODE_LOCK,
                                       pc.WRAP_MODE_LOCAL, pc.WRAP_MODE_NETQUEUE, pc.WRAP_MODE_NETLOCK])
def test_a_storage_error_in_the_writer_reaches_the_caller(tmp_path, wrap_mode):
    env = make_env(tmp_path, runs=6, multiproc=wrap_mode is not None, ncores=2, wrap_mode=wrap_mode,
                   storage_service=DiskFullOnRun2)
    with pytest.raises(ExplorationError) as info:
        env.run(product)
    summary = info.value.summary
    assert list(summary.failed) == [2]
    assert "storing failed" in summary.failed[2]["error"] and "No space left on device" in summary.failed[2]["error"]
    assert "OSError" in summary.failed[2]["traceback"]
    assert summary.completed == [0, 1, 3, 4, 5]
    traj = load(tmp_path)
    assert sorted(traj.f_get_from_runs("z", fast_access=True, use_indices=True)) == [0, 1, 3, 4, 5]
    assert not traj.f_is_completed(2)


# ---------------------------------------------------------------- killed workers and resume


def dies_once(traj, marker):
    if traj.v_idx == 60 and not os.path.exists(marker):
        Path(marker).write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return product(traj)


@pytest.mark.parametrize("wrap_mode", [pc.WRAP_MODE_QUEUE, pc.WRAP_MODE_LOCK, pc.WRAP_MODE_LOCAL,
                                       pc.WRAP_MODE_NETQUEUE, pc.WRAP_MODE_NETLOCK])
def test_sigkilled_worker_then_resume_completes_every_run(tmp_path, wrap_mode):
    env = make_env(tmp_path, runs=150, multiproc=True, ncores=2, wrap_mode=wrap_mode, freeze_input=True,
                   resumable=True)
    with pytest.raises(ExplorationError) as info:
        env.run(dies_once, str(tmp_path / "killed"))
    summary = info.value.summary
    assert 60 in summary.lost and not summary.failed
    assert "resume" in str(info.value)
    state_file = env.resume_folder / env.trajectory.v_name / "state.json"
    assert state_file.is_file()

    resumed = env.resume()
    assert [idx for idx, _ in resumed] == sorted(summary.lost)
    assert not state_file.exists()  # deleted once every run completed
    assert_all_runs_read_back(tmp_path, 150)


KILLED_EXPLORATION = textwrap.dedent(
    """
    import os, sys, time
    from rigbook.trajectory.environment import Environment

    def slow_product(traj):
        if traj.v_idx == 80:  # checkpoints happen at least every 0.5 s: some runs are listed by now
            print("running", flush=True)
        time.sleep(0.01)
        traj.f_add_result("z", traj.x * traj.y)
        traj.f_add_derived_parameter("half", traj.x / 2)

    if __name__ == "__main__":
        folder = sys.argv[1]
        env = Environment(trajectory="traj", filename=os.path.join(folder, "explore.hdf5"), log_config=None,
                          report_progress=False, resumable=True)
        traj = env.trajectory
        traj.f_add_parameter("x", 0)
        traj.f_add_parameter("y", 2)
        traj.f_explore({"x": list(range(100))})
        env.run(slow_product)
    """
)

RESUME_IN_NEW_PROCESS = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[2])
    from explore import slow_product  # the recipe pickled the function by reference
    from rigbook.trajectory.environment import Environment

    folder = sys.argv[1]
    env = Environment(trajectory="resumer", filename=os.path.join(folder, "explore.hdf5"), log_config=None,
                      report_progress=False)
    done = env.resume(trajectory_name="traj", resume_folder=os.path.join(folder, "resume"))
    print(len(done))
    """
)


def test_sigkill_of_the_whole_program_then_resume_in_a_new_process(tmp_path):
    script = tmp_path / "explore.py"
    script.write_text(KILLED_EXPLORATION)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True,
                               cwd=tmp_path)
    assert process.stdout.readline().strip() == "running"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    process.stdout.close()

    resumer = tmp_path / "resume_it.py"
    resumer.write_text(RESUME_IN_NEW_PROCESS)
    out = subprocess.run([sys.executable, str(resumer), str(tmp_path), str(tmp_path)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    redone = int(out.stdout.strip().splitlines()[-1])
    assert 0 < redone < 100
    traj = Trajectory(filename=str(tmp_path / "explore.hdf5"))
    traj.f_load(name="traj", load_parameters=2, load_derived_parameters=2, load_results=2)
    assert traj.f_is_completed()
    assert traj.f_get_from_runs("z", fast_access=True, use_indices=True) == {i: 2 * i for i in range(100)}


def interrupted_at_run_3(traj, parent_pid):
    if traj.v_idx == 3:
        os.kill(parent_pid, signal.SIGINT)  # as Ctrl+C in the terminal would
    return product(traj)


@pytest.mark.parametrize("multiproc", [False, True])
def test_graceful_exit_finishes_started_runs_stores_them_and_resume_does_the_rest(tmp_path, multiproc):
    env = make_env(tmp_path, runs=40, multiproc=multiproc, ncores=2, wrap_mode=pc.WRAP_MODE_LOCAL,
                   graceful_exit=True, resumable=True)
    with pytest.raises(ExplorationError) as info:
        env.run(interrupted_at_run_3, os.getpid())
    summary = info.value.summary
    assert 3 in summary.completed and not summary.failed
    assert summary.lost and all(reason.startswith("the exploration was interrupted") for reason in summary.lost.values())
    assert sorted(summary.completed + list(summary.lost)) == list(range(40))
    stored = load(tmp_path).f_get_from_runs("z", fast_access=True, use_indices=True)
    assert sorted(stored) == summary.completed
    env.resume()
    assert_all_runs_read_back(tmp_path, 40)


def children_of(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_after_a_sigkill_of_the_parent_its_writer_and_workers_stop_and_the_file_stays_readable(tmp_path):
    script = tmp_path / "explore.py"
    script.write_text(KILLED_EXPLORATION.replace("resumable=True)", "resumable=True, multiproc=True, ncores=2, "
                                                 "wrap_mode='QUEUE')"))
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True,
                               cwd=tmp_path)
    try:
        assert process.stdout.readline().strip() == "running"
        helpers = children_of(process.pid)
        assert len(helpers) == 3  # the writer and two workers
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in helpers):
            assert time.monotonic() < deadline, "orphaned writer or workers kept running"
            time.sleep(0.05)
    finally:
        process.stdout.close()
        for pid in children_of(process.pid):
            os.kill(pid, signal.SIGKILL)
    # The writer closed the file itself: nothing to rebuild.
    assert unreadable_reason(str(tmp_path / "explore.hdf5")) is None


# ---------------------------------------------------------------- provenance and logging


def test_config_records_versions_platform_environment_and_git_commit_read_only(tmp_path):
    repo = tmp_path / "code"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    (repo / "model.py").write_text("x = 1\n")
    subprocess.run(git + ["add", "model.py"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "first model"], check=True)
    (repo / "model.py").write_text("x = 2\n")  # uncommitted change
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    index_before = (repo / ".git" / "index").read_bytes()

    env = make_env(tmp_path, runs=2, git_repository=str(repo))
    env.run(product)

    assert subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() == head
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True).stdout.strip() == "M model.py"

    traj = load(tmp_path)
    commit = traj.config.git.f_get(f"commit_{head[:7]}")
    assert commit.hexsha == head and commit.message == "first model" and commit.dirty is True
    settings = traj.config.environment.f_get(env.name)
    assert settings.hexsha == env.hexsha and len(env.hexsha) == 40
    assert settings.name == env.name and settings.name.startswith("environment_")
    assert settings.versions.rigbook and settings.versions.python and settings.versions.h5py
    assert settings.platform
    assert traj.v_environment_hexsha == env.hexsha
    assert traj.f_get_run_information(0)["short_environment_hexsha"] == env.hexsha[:7]


def noisy(traj):
    print(f"hello from run {traj.v_idx}")
    traj.f_add_result("z", 1)


def test_default_logging_writes_a_log_file_and_log_stdout_catches_prints(tmp_path, capsys):
    env = make_env(tmp_path, runs=3, log_config="DEFAULT", log_stdout=True)
    env.run(noisy)
    log_file = env.log_file
    env.disable_logging()
    text = log_file.read_text()
    assert "hello from run 2" in text and "3 of 3 runs done" in text
    assert "hello from run" not in capsys.readouterr().out
    assert log_file.parent.parent == tmp_path / "logs"
    assert not logging.getLogger("rigbook.trajectory").handlers


def test_logging_can_be_switched_off(tmp_path, capsys):
    env = make_env(tmp_path, runs=2, log_config=None)
    env.run(noisy)
    assert env.log_file is None and not (tmp_path / "logs").exists()
    assert capsys.readouterr().out.count("hello from run") == 2


# ---------------------------------------------------------------- bad input


def test_bad_settings_are_refused_with_the_culprit_named(tmp_path):
    with pytest.raises(ValueError, match="wrap_mode must be one of LOCAL, LOCK, NETLOCK, QUEUE, PIPE, NETQUEUE, not 'BOGUS'"):
        make_env(tmp_path, multiproc=True, wrap_mode="BOGUS")
    with pytest.raises(ValueError, match=r"ncores must be a positive integer or 0 \(all cores\), not -1"):
        make_env(tmp_path, ncores=-1)
    with pytest.raises(ValueError, match="cannot be used with an executor"):
        make_env(tmp_path, executor=object(), wrap_mode=pc.WRAP_MODE_QUEUE)
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['colour'\\]"):
        make_env(tmp_path, colour="blue")
    with pytest.raises(TypeError, match="trajectory must be a name or a Trajectory"):
        Environment(trajectory=42, log_config=None)
    env = make_env(tmp_path, runs=2)
    with pytest.raises(TypeError, match="run function must be callable"):
        env.run("product")


def test_bad_trajectory_names_and_unused_presets_are_refused_before_anything_is_stored(tmp_path):
    with pytest.raises(ValueError, match="'../up'"):
        Environment(trajectory="../up", filename=str(tmp_path / "x.hdf5"), log_config=None)
    env = make_env(tmp_path, runs=2)
    env.trajectory.f_preset_parameter("never_added", 3)
    with pytest.raises(PresettingError, match="never_added"):
        env.run(product)
    assert not (tmp_path / "explore.hdf5").exists()


def test_a_users_own_process_pool_executor_runs_in_local_mode(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        env = make_env(tmp_path, runs=20, executor=pool)
        assert env.run(product) == [(i, i * 2) for i in range(20)]
    assert_all_runs_read_back(tmp_path, 20)


def test_older_pypet_names_for_resuming_are_understood(tmp_path):
    env = make_env(tmp_path, runs=2, continuable=True, continue_folder=str(tmp_path / "cont"))
    assert env.resume_folder == tmp_path / "cont"
    env.run(product)
    assert env.summary.ok


def test_resumable_run_function_must_be_picklable(tmp_path):
    env = make_env(tmp_path, runs=2, resumable=True)
    with pytest.raises(TypeError, match="module level"):
        env.run(lambda traj: None)


def test_resume_without_state_names_the_trajectory(tmp_path):
    env = make_env(tmp_path, runs=2)
    with pytest.raises(FileNotFoundError, match="no resume state for trajectory 'traj'"):
        env.resume()


def test_file_written_is_readable_with_plain_h5py(tmp_path):
    env = make_env(tmp_path, runs=3, multiproc=True, ncores=2, wrap_mode=pc.WRAP_MODE_QUEUE)
    env.run(product)
    with h5py.File(tmp_path / "explore.hdf5", "r") as f:
        assert "traj" in f and "_runs" in f["traj"]
        assert f["traj/_runs/completed"][...].tolist() == [1, 1, 1]


def test_two_environments_for_one_trajectory_get_distinct_names(tmp_path):
    traj = Trajectory("shared", add_time=False)
    first = Environment(traj, filename=str(tmp_path / "a.hdf5"), log_config=None)
    second = Environment(traj, filename=str(tmp_path / "a.hdf5"), log_config=None)
    assert first.name != second.name and first.hexsha != second.hexsha
    assert traj.v_environment_hexsha == second.hexsha


@pytest.mark.parametrize("wrap_mode", [None, pc.WRAP_MODE_QUEUE])
def test_resume_rebuilds_an_hdf5_file_a_kill_left_unreadable_from_its_journal(tmp_path, wrap_mode):
    env = make_env(tmp_path, runs=40, multiproc=wrap_mode is not None, ncores=2, wrap_mode=wrap_mode,
                   graceful_exit=True, resumable=True)
    with pytest.raises(ExplorationError) as info:
        env.run(interrupted_at_run_3, os.getpid())
    done_before = info.value.summary.completed
    assert done_before and info.value.summary.lost
    # What a writer killed half way through can leave behind: objects pointing past the end of the file.
    path = tmp_path / "explore.hdf5"
    data = path.read_bytes()[: int(path.stat().st_size * 0.6)]
    path.write_bytes(data)

    env.resume()
    assert env.rebuilt_from == tmp_path / "explore.hdf5.damaged-1"
    assert env.rebuilt_from.read_bytes() == data  # moved aside, untouched
    assert_all_runs_read_back(tmp_path, 40)


def test_journal_skips_a_torn_last_record(tmp_path):
    from rigbook.trajectory.resume import ResumeState

    state = ResumeState(tmp_path, "traj")
    state.start(total=3)
    state.append_run(0, {"z": 0})
    state.append_run(1, {"z": 1})
    state.close()
    with open(state.journal_path, "ab") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00half")  # a kill in mid-append
    assert state.read_journal() == {0: {"z": 0}, 1: {"z": 1}}
