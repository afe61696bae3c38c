"""MultiprocContext: a trajectory stored from many processes without an Environment."""

import multiprocessing
import os

import pytest

from rigbook.trajectory import MultiprocContext, Trajectory
from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.storageservice import HDF5StorageService
from rigbook.trajectory.wrappers import LockWrapper

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers here are forked")

FORK = multiprocessing.get_context("fork") if hasattr(os, "fork") else None


def make_traj(tmp_path):
    traj = Trajectory("ctx", add_time=False, filename=str(tmp_path / "ctx.hdf5"), overwrite_file=True)
    traj.f_add_result("last_writer", "N/A", comment="Who stored last")
    return traj


def add_own_result(traj, number):
    traj.f_add_result(f"by_worker.w{number}", number * 10, comment="one per worker")
    traj.f_store_item(f"by_worker.w{number}")
    return number


def load_workers(tmp_path):
    traj = Trajectory(filename=str(tmp_path / "ctx.hdf5"))
    traj.f_load(name="ctx", load_results=2)
    return {leaf.v_name: leaf.f_get() for leaf in traj.results.by_worker.f_iter_leaves()}


def pooled_store(args):
    traj, number = args
    return add_own_result(traj, number)


@pytest.mark.parametrize("wrap_mode", [pc.WRAP_MODE_LOCK, pc.WRAP_MODE_QUEUE])
def test_pool_tasks_get_a_pickled_trajectory_and_store_safely(tmp_path, wrap_mode):
    traj = make_traj(tmp_path)
    service = traj.v_storage_service
    with MultiprocContext(trajectory=traj, wrap_mode=wrap_mode) as context:
        assert traj.v_storage_service is not service and traj.v_storage_service.multiproc_safe
        with FORK.Pool(3) as pool:
            assert sorted(pool.map(pooled_store, [(traj, n) for n in range(12)])) == list(range(12))
    # The original service is back, and every worker's result is in the file.
    assert traj.v_storage_service is service
    assert load_workers(tmp_path) == {f"w{n}": n * 10 for n in range(12)}
    if wrap_mode == pc.WRAP_MODE_LOCK:
        assert isinstance(context.lock_wrapper, LockWrapper)
    else:
        assert context.queue_wrapper is not None and context.lock_wrapper is None


@pytest.mark.parametrize("wrap_mode", [pc.WRAP_MODE_LOCK, pc.WRAP_MODE_PIPE])
def test_forked_processes_store_without_a_manager(tmp_path, wrap_mode):
    traj = make_traj(tmp_path)
    with MultiprocContext(trajectory=traj, wrap_mode=wrap_mode, use_manager=False):
        workers = [FORK.Process(target=add_own_result, args=(traj, n)) for n in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert load_workers(tmp_path) == {f"w{n}": n * 10 for n in range(4)}


def collect_references(traj, number):
    add_own_result(traj, number)
    return traj.v_storage_service.references


def test_local_mode_stores_what_workers_hand_back(tmp_path):
    traj = make_traj(tmp_path)
    with MultiprocContext(trajectory=traj, wrap_mode=pc.WRAP_MODE_LOCAL) as context:
        with FORK.Pool(2) as pool:
            for references in pool.starmap(collect_references, [(traj, n) for n in range(3)]):
                context.store_references(references)
    assert isinstance(traj.v_storage_service, HDF5StorageService)
    assert load_workers(tmp_path) == {f"w{n}": n * 10 for n in range(3)}


def test_bad_wrap_modes_are_refused_by_name(tmp_path):
    traj = make_traj(tmp_path)
    with pytest.raises(ValueError, match="'SOMETIMES'"):
        MultiprocContext(trajectory=traj, wrap_mode="SOMETIMES")
    with pytest.raises(NotImplementedError, match="NETLOCK"):
        MultiprocContext(trajectory=traj, wrap_mode=pc.WRAP_MODE_NETLOCK)
    with pytest.raises(ValueError, match="no storage service"):
        MultiprocContext(trajectory=Trajectory("bare"))


def test_copies_of_a_managers_lock_in_one_process_are_one_proxy(tmp_path):
    # Every pool task brings its own pickled copy; copies dying as garbage would close the
    # connection the live one is using, so a process keeps only the first.
    import pickle

    from rigbook.trajectory.multiproccontext import _proxies_in_this_process

    traj = make_traj(tmp_path)
    with MultiprocContext(trajectory=traj, wrap_mode=pc.WRAP_MODE_LOCK) as context:
        shared = context.lock_wrapper.lock
        copies = [pickle.loads(pickle.dumps(traj)).v_storage_service.lock for _ in range(3)]
        assert all(copy._proxy is shared._proxy for copy in copies)
        assert copies[0].acquire() and copies[0].release() is None
    assert shared._key not in _proxies_in_this_process
