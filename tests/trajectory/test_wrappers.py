"""The multiprocess storage wrappers, across real processes, with a stand-in service.

The service here is a test double of any storage service: it appends one JSON
line per stored item to a file, keeps the file open between OPEN_FILE and
CLOSE_FILE, and refuses an item called "poison".
"""

import json
import multiprocessing
import os
import pickle
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from rigbook.trajectory import pypetconstants as const
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

CTX = multiprocessing.get_context("fork")
DEADLINE = 30.0


class LineFileService:
    """Appends one JSON line per item; detects two processes writing at once."""

    def __init__(self, path):
        self.path = Path(path)
        self.busy = self.path.with_suffix(".busy")
        self._file = None

    @property
    def is_open(self):
        return self._file is not None

    def store(self, msg, item, *args, **kwargs):
        if msg == const.OPEN_FILE:
            self._file = open(self.path, "a")
            self._write({"event": "open", "pid": os.getpid(), "kwargs": kwargs})
            return
        if msg == const.CLOSE_FILE:
            self._write({"event": "close", "pid": os.getpid()})
            self._file.close()
            self._file = None
            return
        if msg == const.FLUSH:
            self._file.flush()
            return
        if msg == const.LIST:
            for inner_msg, inner_item, inner_args, inner_kwargs in item:
                self.store(inner_msg, inner_item, *inner_args, **inner_kwargs)
            return
        if item == "poison":
            raise ValueError("cannot store an item called 'poison'")
        # Two processes inside store() at once would both try to create this file.
        fd = os.open(self.busy, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        try:
            record = {"event": "store", "msg": msg, "item": item, "pid": os.getpid()}
            if self._file is None:
                with open(self.path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            else:
                self._write(record)
        finally:
            os.close(fd)
            os.unlink(self.busy)

    def load(self, msg, item, *args, **kwargs):
        return [r["item"] for r in read_records(self.path) if r["event"] == "store"]

    def _write(self, record):
        self._file.write(json.dumps(record) + "\n")


def read_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def stored_items(path):
    return [r["item"] for r in read_records(path) if r["event"] == "store"]


def wait_for(condition, what):
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# ---------------------------------------------------------------- workers


def send_items(sender, worker, count, tag=None):
    sender.tag = tag
    for i in range(count):
        sender.store("LEAF", f"w{worker}-{i}", trajectory_name="traj")


def run_senders(sender, count_per_worker, workers=2):
    processes = [CTX.Process(target=send_items, args=(sender, w, count_per_worker)) for w in range(workers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(DEADLINE)
        assert p.exitcode == 0
    return processes


def expected_items(workers, count):
    return sorted(f"w{w}-{i}" for w in range(workers) for i in range(count))


# ---------------------------------------------------------------- queue


def test_queue_writer_alone_stores_everything_from_two_processes_keeping_the_file_open(tmp_path):
    path = tmp_path / "store.jsonl"
    q = CTX.Queue()
    writer = QueueStorageServiceWriter(LineFileService(path), q)
    process = StorageWriterProcess(writer, CTX).start()
    sender = QueueStorageServiceSender(q)
    senders = run_senders(sender, 100)
    sender.send_done()
    assert process.join(DEADLINE) == 200

    records = read_records(path)
    assert sorted(stored_items(path)) == expected_items(2, 100)
    # Only the writer process wrote, and it opened the file once, for the named trajectory.
    assert {r["pid"] for r in records} == {process.process.pid}
    assert {r["pid"] for r in records}.isdisjoint({p.pid for p in senders})
    opens = [r for r in records if r["event"] == "open"]
    assert len(opens) == 1 and opens[0]["kwargs"] == {"trajectory_name": "traj"}
    assert records[-1]["event"] == "close"


def test_queue_writer_error_reaches_the_parent_and_other_items_are_kept(tmp_path):
    path = tmp_path / "store.jsonl"
    q = CTX.Queue()
    process = StorageWriterProcess(QueueStorageServiceWriter(LineFileService(path), q), CTX).start()
    sender = QueueStorageServiceSender(q)
    sender.store("LEAF", "before", trajectory_name="traj")
    sender.store("LEAF", "poison", trajectory_name="traj")
    sender.store("LEAF", "after", trajectory_name="traj")
    sender.send_done()
    with pytest.raises(StorageWriterError, match="poison") as info:
        process.join(DEADLINE)
    assert "ValueError: cannot store an item called 'poison'" in str(info.value)
    assert "Traceback" in info.value.failures[0].traceback
    assert stored_items(path) == ["before", "after"]


def test_queue_confirmation_reports_the_failures_of_that_sender_only_after_storing(tmp_path):
    path = tmp_path / "store.jsonl"
    q, replies = CTX.Queue(), CTX.Queue()
    process = StorageWriterProcess(QueueStorageServiceWriter(LineFileService(path), q, reply_queue=replies), CTX).start()
    good = QueueStorageServiceSender(q)
    good.tag = 1
    bad = QueueStorageServiceSender(q)
    bad.tag = 2
    good.store("LEAF", "fine", trajectory_name="traj")
    bad.store("LEAF", "poison", trajectory_name="traj")
    good.request_confirmation()
    token, failures = replies.get(timeout=DEADLINE)
    assert (token, failures) == (1, [])
    # Confirmed means flushed: the item can be read from the file now.
    assert stored_items(path) == ["fine"]
    bad.request_confirmation("run-2")
    token, failures = replies.get(timeout=DEADLINE)
    assert token == "run-2"
    assert [f.item for f in failures] == ["'poison'"] and failures[0].tag == 2
    good.send_done()
    # Reported through the confirmation, so the writer does not raise it again.
    assert process.join(DEADLINE) == 2


def test_sender_cannot_load_and_a_pickled_sender_says_it_lost_its_queue(tmp_path):
    sender = QueueStorageServiceSender(CTX.Queue())
    with pytest.raises(NotImplementedError, match="only sends store requests"):
        sender.load("LEAF", "x")
    copy = pickle.loads(pickle.dumps(sender))
    assert copy.queue is None
    with pytest.raises(RuntimeError, match="has no queue"):
        copy.store("LEAF", "x")


def test_killed_writer_process_is_reported_not_silent(tmp_path):
    q = CTX.Queue()
    process = StorageWriterProcess(QueueStorageServiceWriter(LineFileService(tmp_path / "s.jsonl"), q), CTX).start()
    os.kill(process.process.pid, signal.SIGKILL)
    with pytest.raises(StorageWriterError, match="died"):
        process.join(DEADLINE)


# ---------------------------------------------------------------- pipe


def test_pipe_writer_alone_stores_everything_from_two_processes(tmp_path):
    path = tmp_path / "store.jsonl"
    receive_end, send_end = CTX.Pipe()
    writer = PipeStorageServiceWriter(LineFileService(path), receive_end)
    process = StorageWriterProcess(writer, CTX).start()
    sender = PipeStorageServiceSender(send_end, CTX.Lock())
    run_senders(sender, 100)
    sender.send_done()
    assert process.join(DEADLINE) == 200
    assert sorted(stored_items(path)) == expected_items(2, 100)
    assert {r["pid"] for r in read_records(path)} == {process.process.pid}
    assert sum(r["event"] == "open" for r in read_records(path)) == 1


def test_pipe_writer_error_reaches_the_parent(tmp_path):
    path = tmp_path / "store.jsonl"
    receive_end, send_end = CTX.Pipe()
    process = StorageWriterProcess(PipeStorageServiceWriter(LineFileService(path), receive_end), CTX).start()
    sender = PipeStorageServiceSender(send_end)
    sender.store("LEAF", "poison", trajectory_name="traj")
    sender.store("LEAF", "after", trajectory_name="traj")
    sender.send_done()
    with pytest.raises(StorageWriterError, match="poison"):
        process.join(DEADLINE)
    assert stored_items(path) == ["after"]


def test_pipe_writer_blocks_while_idle_and_stores_what_arrives_later(tmp_path):
    path = tmp_path / "store.jsonl"
    receive_end, send_end = CTX.Pipe()
    replies = CTX.Queue()
    process = StorageWriterProcess(
        PipeStorageServiceWriter(LineFileService(path), receive_end, reply_queue=replies), CTX
    ).start()
    sender = PipeStorageServiceSender(send_end)
    sender.tag = "late"
    stat = f"/proc/{process.process.pid}/stat"

    def cpu_ticks():
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    wait_for(lambda: Path(stat).exists() and Path(stat).read_text().rsplit(")", 1)[1].split()[0] == "S",
             "the writer to block on the pipe")
    # A waiting writer is asleep in the kernel, not spinning: state S, using no CPU to speak of
    # (it wakes ten times a second to see whether the process that started it is still there).
    before = cpu_ticks()
    asleep = 0
    for _ in range(20):
        asleep += Path(stat).read_text().rsplit(")", 1)[1].split()[0] == "S"
        time.sleep(0.01)
    assert asleep >= 18
    assert cpu_ticks() - before <= 2
    sender.store("LEAF", "late-item", trajectory_name="traj")
    sender.request_confirmation()
    assert replies.get(timeout=DEADLINE) == ("late", [])
    sender.send_done()
    assert process.join(DEADLINE) == 1
    assert stored_items(path) == ["late-item"]


# ---------------------------------------------------------------- lock


def store_under_lock(wrapper, worker, count):
    for i in range(count):
        wrapper.store("LEAF", f"w{worker}-{i}")


def test_lock_wrapper_lets_two_processes_store_one_at_a_time(tmp_path):
    path = tmp_path / "store.jsonl"
    wrapper = LockWrapper(LineFileService(path), CTX.Lock())
    processes = [CTX.Process(target=store_under_lock, args=(wrapper, w, 100)) for w in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(DEADLINE)
    # A process that found another inside store() would have died on the busy marker.
    assert [p.exitcode for p in processes] == [0, 0]
    assert sorted(stored_items(path)) == expected_items(2, 100)
    assert wrapper.load("LEAF", None) == stored_items(path)


def test_lock_is_held_while_the_wrapped_service_keeps_its_file_open(tmp_path):
    lock = CTX.Lock()
    wrapper = LockWrapper(LineFileService(tmp_path / "s.jsonl"), lock)
    wrapper.store(const.OPEN_FILE, None)
    assert wrapper.is_open
    assert not lock.acquire(block=False)
    wrapper.store("LEAF", "x")
    assert not lock.acquire(block=False)
    wrapper.store(const.CLOSE_FILE, None)
    assert lock.acquire(block=False)
    lock.release()


def test_lock_is_released_when_the_service_raises(tmp_path):
    lock = CTX.Lock()
    wrapper = LockWrapper(LineFileService(tmp_path / "s.jsonl"), lock)
    with pytest.raises(ValueError, match="poison"):
        wrapper.store("LEAF", "poison")
    assert lock.acquire(block=False)
    lock.release()


# ---------------------------------------------------------------- local (references)


def run_with_references(worker):
    wrapper = ReferenceWrapper()
    for i in range(3):
        wrapper.store("LEAF", f"w{worker}-{i}", trajectory_name="traj")
    return wrapper.references


def test_references_from_worker_processes_are_stored_by_the_parent(tmp_path):
    path = tmp_path / "store.jsonl"
    service = LineFileService(path)
    store = ReferenceStore(service, gc_interval=1)
    service.store(const.OPEN_FILE, None)
    with ProcessPoolExecutor(2, mp_context=CTX) as pool:
        for references in pool.map(run_with_references, range(2)):
            assert list(references) == ["traj"]
            store.store_references(references)
    service.store(const.CLOSE_FILE, None)
    assert sorted(stored_items(path)) == expected_items(2, 3)
    assert {r["pid"] for r in read_records(path)} == {os.getpid()}


def test_reference_store_raises_the_service_error_to_the_caller(tmp_path):
    wrapper = ReferenceWrapper()
    wrapper.store("LEAF", "poison", trajectory_name="traj")
    with pytest.raises(ValueError, match="poison"):
        ReferenceStore(LineFileService(tmp_path / "s.jsonl")).store_references(wrapper.references)
    wrapper.free_references()
    assert wrapper.references == {}
    with pytest.raises(NotImplementedError):
        wrapper.load("LEAF", "x")


def test_bad_writer_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="gc_interval"):
        QueueStorageServiceWriter(LineFileService(tmp_path / "s"), CTX.Queue(), gc_interval=0)
    with pytest.raises(ValueError, match="max_buffer_size"):
        PipeStorageServiceWriter(LineFileService(tmp_path / "s"), CTX.Pipe()[0], max_buffer_size=0)


class SlowService:
    """Writes 'start', waits for the test's go-ahead, writes 'end': a store that takes a while."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def store(self, msg, item, *args, **kwargs):
        (self.folder / "started").write_text("start")
        wait_for(lambda: (self.folder / "go").exists(), "the go-ahead")
        (self.folder / "finished").write_text("end")


def store_slowly(wrapper):
    # Like a pool worker, have another thread around that a process-wide SIGTERM could land on.
    import threading

    threading.Thread(target=time.sleep, args=(DEADLINE,), daemon=True).start()
    wrapper.store("LEAF", "x")
    time.sleep(DEADLINE)  # never reached when the deferred SIGTERM arrives at once


def test_lock_wrapper_finishes_the_store_before_a_sigterm_takes_effect(tmp_path):
    wrapper = LockWrapper(SlowService(tmp_path), CTX.Lock())
    process = CTX.Process(target=store_slowly, args=(wrapper,))
    process.start()
    wait_for(lambda: (tmp_path / "started").exists(), "the store to start")
    process.terminate()  # what a process pool does to its other workers when one dies
    (tmp_path / "go").write_text("go")
    process.join(DEADLINE)
    assert process.exitcode == -signal.SIGTERM
    assert (tmp_path / "finished").read_text() == "end"
