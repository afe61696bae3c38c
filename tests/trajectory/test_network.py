"""Network locks and queues (NETLOCK, NETQUEUE) with real processes on loopback.

Every wait has a deadline; every process and server a test starts is stopped
by the test, and the last test checks that none is left.
"""

import logging
import multiprocessing
import os
import threading
import time

import pytest

zmq = pytest.importorskip("zmq")

from rigbook.trajectory import pypetconstants as pc  # noqa: E402
from rigbook.trajectory.environment import Environment  # noqa: E402
from rigbook.trajectory.netlock import (  # noqa: E402
    ForkAwareLockerClient,
    LockerClient,
    LockerServer,
    LockerServerProcess,
    LockExpiredError,
    LockServerError,
    TimeOutLockerServer,
    wait_until_listening,
)
from rigbook.trajectory.netqueue import NetQueueStorageServiceSender, NetQueueStorageServiceWriter  # noqa: E402
from rigbook.trajectory.storageservice import HDF5StorageService  # noqa: E402
from rigbook.trajectory.storagewriter import StorageWriterProcess  # noqa: E402
from rigbook.trajectory.trajectory import Trajectory  # noqa: E402
from rigbook.trajectory.wrappers import LockWrapper  # noqa: E402

DEADLINE = 60  # seconds; generous for a loaded 2-core machine, never reached when things work
FORK = multiprocessing.get_context("fork")


@pytest.fixture(autouse=True)
def _no_leaked_log_handlers():
    yield
    trajectory_logger = logging.getLogger("rigbook.trajectory")
    for handler in list(trajectory_logger.handlers):
        trajectory_logger.removeHandler(handler)
        handler.close()


@pytest.fixture
def lock_server():
    """A lock server process on loopback, stopped (and joined) after the test."""
    started = []

    def start(server=None):
        process = LockerServerProcess(server or LockerServer("tcp://127.0.0.1"), FORK)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
        assert not process.process.is_alive()


def make_env(tmp_path, runs, **options):
    env = Environment(trajectory="net", filename=str(tmp_path / "net.hdf5"), log_config=None,
                      report_progress=False, multiproc=True, ncores=2, **options)
    env.trajectory.f_add_parameter("x", 0)
    env.trajectory.f_explore({"x": list(range(runs))})
    return env


def store_pid(traj):
    traj.f_add_result("square", traj.x ** 2)
    traj.f_add_result("pid", os.getpid())
    return traj.x


def load(tmp_path):
    traj = Trajectory(filename=str(tmp_path / "net.hdf5"))
    traj.f_load(name="net", load_all=pc.LOAD_DATA)
    return traj


# ---------------------------------------------------------------- through the Environment


@pytest.mark.parametrize("wrap_mode", [pc.WRAP_MODE_NETLOCK, pc.WRAP_MODE_NETQUEUE])
def test_workers_in_several_processes_store_and_everything_reads_back(tmp_path, wrap_mode):
    env = make_env(tmp_path, runs=40, wrap_mode=wrap_mode)
    results = env.run(store_pid)
    assert sorted(result for _, result in results) == list(range(40))

    traj = load(tmp_path)
    assert traj.f_get_from_runs("square", fast_access=True, use_indices=True) == {i: i * i for i in range(40)}
    pids = set(traj.f_get_from_runs("pid", fast_access=True).values())
    assert os.getpid() not in pids and len(pids) >= 1  # stored by the workers, not by this process
    assert all(traj.f_is_completed(i) for i in range(40))
    assert traj.config.environment.f_get(env.name).wrap_mode == wrap_mode


def test_netlock_with_a_given_port_and_timeout(tmp_path):
    with zmq.Context() as context, context.socket(zmq.REP) as probe:
        port = probe.bind_to_random_port("tcp://127.0.0.1")
        probe.unbind(probe.getsockopt(zmq.LAST_ENDPOINT))
    env = make_env(tmp_path, runs=6, wrap_mode=pc.WRAP_MODE_NETLOCK, port=port, timeout=30)
    env.run(store_pid)
    assert load(tmp_path).f_get_from_runs("square", fast_access=True, use_indices=True) == {
        i: i * i for i in range(6)}


@pytest.mark.parametrize("wrap_mode", [pc.WRAP_MODE_NETLOCK, pc.WRAP_MODE_NETQUEUE])
def test_a_port_in_use_is_an_oserror_naming_it(tmp_path, wrap_mode):
    with zmq.Context() as context, context.socket(zmq.REP) as taken:
        port = taken.bind_to_random_port("tcp://127.0.0.1")
        env = make_env(tmp_path, runs=2, wrap_mode=wrap_mode, port=port)
        with pytest.raises(OSError, match=f"could not listen on tcp://127.0.0.1:{port}: .*Address already in use"):
            env.run(store_pid)


def test_bad_network_settings_name_the_culprit(tmp_path):
    with pytest.raises(ValueError, match="port must be an integer from 1 to 65535, not 70000"):
        make_env(tmp_path, runs=1, wrap_mode=pc.WRAP_MODE_NETLOCK, port=70000)
    with pytest.raises(ValueError, match=r"give url .* or port \(2\), not both"):
        make_env(tmp_path, runs=1, wrap_mode=pc.WRAP_MODE_NETQUEUE, url="tcp://127.0.0.1:1", port=2)
    with pytest.raises(ValueError, match="url must be a ZeroMQ address"):
        make_env(tmp_path, runs=1, wrap_mode=pc.WRAP_MODE_NETQUEUE, url="localhost")
    with pytest.raises(ValueError, match="NETQUEUE.*cannot be used with an executor"):
        Environment(trajectory="t", filename=str(tmp_path / "x.hdf5"), log_config=None,
                    executor=object(), wrap_mode=pc.WRAP_MODE_NETQUEUE)


# ---------------------------------------------------------------- the lock classes


def _hold_then_die(url, held):
    client = LockerClient(url)
    client.acquire()
    held.set()
    os._exit(0)  # dies holding the lock: nobody will release it


def test_timeout_server_frees_the_lock_of_a_dead_holder(lock_server):
    url = lock_server(TimeOutLockerServer("tcp://127.0.0.1", timeout=1.0))
    held = FORK.Event()
    holder = FORK.Process(target=_hold_then_die, args=(url, held))
    holder.start()
    assert held.wait(DEADLINE)
    holder.join(DEADLINE)
    assert holder.exitcode == 0

    client = LockerClient(url)
    try:
        waited = threading.Event()

        def acquire():
            client.acquire()
            waited.set()

        thread = threading.Thread(target=acquire, daemon=True)
        thread.start()
        assert waited.wait(DEADLINE), "the dead holder's lock was never freed"
        thread.join(DEADLINE)
        client.release()
    finally:
        client.finalize()


def test_a_holder_whose_time_ran_out_is_told_so(lock_server):
    url = lock_server(TimeOutLockerServer("tcp://127.0.0.1", timeout=0.2))
    first, second = LockerClient(url), LockerClient(url)
    try:
        first.acquire()
        second.acquire()  # answered only once the server freed first's lock
        with pytest.raises(LockExpiredError, match="freed after 0.2 s"):
            first.release()
        second.release()
    finally:
        first.finalize()
        second.finalize()


def test_plain_server_keeps_the_lock_and_refuses_bad_releases(lock_server):
    url = lock_server()
    client, other = LockerClient(url, lock_name="a"), LockerClient(url, lock_name="a")
    try:
        with client:
            with pytest.raises(LockServerError, match="already holds lock 'a'"):
                client.acquire()
            with pytest.raises(LockServerError, match="not held by"):
                other.release()
        with pytest.raises(NotImplementedError, match="blocking"):
            client.acquire(blocking=False)
    finally:
        client.finalize()
        other.finalize()


def _count_under_lock(client, counter_path, rounds, failures):
    try:
        for _ in range(rounds):
            with client:
                # Read-modify-write: lost updates if two processes ever held the lock at once.
                value = int(counter_path.read_text())
                counter_path.write_text(str(value + 1))
    except Exception as exc:  # reported to the parent, which asserts on it
        failures.put(repr(exc))
        raise


def test_forked_clients_reconnect_and_exclude_each_other(lock_server, tmp_path):
    url = lock_server()
    client = ForkAwareLockerClient(url)
    client.start()  # the parent's connection, inherited by the children below
    client.acquire()
    client.release()
    counter = tmp_path / "counter"
    counter.write_text("0")
    failures = FORK.Queue()
    workers = [FORK.Process(target=_count_under_lock, args=(client, counter, 25, failures)) for _ in range(3)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + DEADLINE
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    stuck = [worker for worker in workers if worker.is_alive()]
    for worker in stuck:
        worker.kill()
        worker.join()
    assert not stuck, "a forked client waited forever on its parent's connection"
    assert [worker.exitcode for worker in workers] == [0, 0, 0], failures.get(timeout=DEADLINE)
    assert counter.read_text() == "75"
    with client:  # the parent's own connection still works
        pass
    client.finalize()


def test_a_client_pickled_into_another_process_connects_there(lock_server):
    import pickle

    url = lock_server()
    client = LockerClient(url)
    client.start()
    copy = pickle.loads(pickle.dumps(client))
    assert copy._socket is None and copy.url == url
    with copy:
        pass
    copy.finalize()
    client.finalize()


def test_lock_wrapper_over_a_network_lock_stores_from_several_processes(lock_server, tmp_path):
    url = lock_server()
    filename = str(tmp_path / "shared.hdf5")
    traj = Trajectory("shared", add_time=False, filename=filename)
    traj.f_add_parameter("x", 0)
    traj.f_store()
    service = LockWrapper(HDF5StorageService(filename=filename), ForkAwareLockerClient(url))

    def worker(i):
        mine = Trajectory("shared", add_time=False)
        mine.v_storage_service = service
        mine.f_load(load_all=pc.LOAD_SKELETON)
        mine.f_add_result(f"from_{i}", i)
        mine.f_store()
        os._exit(0)

    processes = [FORK.Process(target=worker, args=(i,)) for i in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(DEADLINE)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    loaded = Trajectory(filename=filename)
    loaded.f_load(name="shared", load_all=pc.LOAD_DATA)
    assert {loaded.f_get(f"results.from_{i}").f_get() for i in range(3)} == {0, 1, 2}


def test_pypets_default_url_serves_this_machine_and_a_client_needs_the_port(lock_server):
    url = lock_server(LockerServer("tcp://"))
    assert url.startswith("tcp://127.0.0.1:")
    with pytest.raises(ValueError, match="needs the server's URL with its port"):
        LockerClient("tcp://127.0.0.1").acquire()


# ---------------------------------------------------------------- the queue classes


def _send_signed_with_another_key(url, config_dir, outcome):
    os.environ["RIGBOOK_CONFIG_DIR"] = config_dir
    from rigbook.trajectory import trust

    trust._secrets.clear()
    sender = NetQueueStorageServiceSender(url, reply_timeout=DEADLINE)
    try:
        sender.store(pc.ACCESS_DATA, None)
    except PermissionError as exc:
        outcome.put(str(exc))
    else:
        outcome.put("accepted")
    finally:
        sender.close()


def test_netqueue_writer_refuses_requests_signed_with_another_key(tmp_path):
    ready_end, ready_sender = FORK.Pipe(duplex=False)
    stop = FORK.Event()
    writer = NetQueueStorageServiceWriter(HDF5StorageService(filename=str(tmp_path / "q.hdf5")),
                                          ready_connection=ready_sender, stop_event=stop)
    process = StorageWriterProcess(writer, FORK).start()
    ready_sender.close()
    try:
        url = wait_until_listening(ready_end, DEADLINE, "the writer", "tcp://127.0.0.1")
        outcome = FORK.Queue()
        stranger = FORK.Process(target=_send_signed_with_another_key,
                                args=(url, str(tmp_path / "stranger-config"), outcome))
        stranger.start()
        stranger.join(DEADLINE)
        assert "refused a request" in outcome.get(timeout=DEADLINE)
    finally:
        stop.set()
        assert process.join(DEADLINE) == 0  # nothing was stored


REMOTE_WORKER = """
import sys
from rigbook.trajectory import NetQueueStorageServiceSender, Trajectory

url, name = sys.argv[1], sys.argv[2]
traj = Trajectory(name, add_time=False)
traj.f_add_parameter("x", 3)
traj.f_add_result("answer", 42, comment="sent from another interpreter")
sender = NetQueueStorageServiceSender(url, reply_timeout=60)
traj.v_storage_service = sender
traj.f_store()
sender.close()
"""


def test_a_worker_elsewhere_stores_through_the_writers_url(tmp_path):
    """A fresh interpreter (as on another machine, sharing the key file) needs only the URL."""
    import subprocess
    import sys

    filename = tmp_path / "remote.hdf5"
    ready_end, ready_sender = FORK.Pipe(duplex=False)
    stop = FORK.Event()
    writer = NetQueueStorageServiceWriter(HDF5StorageService(filename=str(filename)),
                                          ready_connection=ready_sender, stop_event=stop)
    process = StorageWriterProcess(writer, FORK).start()
    ready_sender.close()
    try:
        url = wait_until_listening(ready_end, DEADLINE, "the writer", "tcp://127.0.0.1")
        script = tmp_path / "worker.py"
        script.write_text(REMOTE_WORKER)
        done = subprocess.run([sys.executable, str(script), url, "remote"], env=dict(os.environ),
                              capture_output=True, text=True, timeout=DEADLINE)
        assert done.returncode == 0, done.stderr
    finally:
        stop.set()
        stored = process.join(DEADLINE)
    assert stored == 1
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="remote", load_all=pc.LOAD_DATA)
    assert loaded.results.answer == 42 and loaded.x == 3


def test_a_sender_whose_writer_is_gone_says_so(tmp_path):
    with zmq.Context() as context, context.socket(zmq.REP) as probe:
        port = probe.bind_to_random_port("tcp://127.0.0.1")
        probe.unbind(probe.getsockopt(zmq.LAST_ENDPOINT))
    sender = NetQueueStorageServiceSender(f"tcp://127.0.0.1:{port}", reply_timeout=0.2)
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port} did not acknowledge"):
        sender.store(pc.ACCESS_DATA, None)
    sender.close()
    with pytest.raises(NotImplementedError, match="only sends store requests"):
        sender.load(pc.TRAJECTORY, None)


def test_nothing_is_left_running():
    assert multiprocessing.active_children() == []
    assert [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon] == []
