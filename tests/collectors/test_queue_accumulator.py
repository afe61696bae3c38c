"""QueueDataAccumulator fed by real producer processes."""

import queue
import time
from collections import namedtuple

import numpy as np
import pytest

from rigbook.collectors import NamedTupleQueue, QueueDataAccumulator
from rigbook.collectors.queue_accumulator import JOINED_ROWS
from tests.collectors._producers import put_blocks, put_samples, put_then_change_schema
from tests.collectors.conftest import leave_half_a_message, wait_until

Point = namedtuple("Point", ["x", "y"])


def drain_until(acc, n):
    wait_until(lambda: acc.n_received >= n, step=acc.update_list)


def test_one_sample_per_message_from_a_real_process(mp_context):
    q = NamedTupleQueue(context=mp_context)
    acc = QueueDataAccumulator(q, name="tail", recording=True)
    producer = mp_context.Process(target=put_samples, args=(q, 5000))
    producer.start()
    drain_until(acc, 5000)
    producer.join(20)
    assert producer.exitcode == 0
    assert acc.header_list == ["t", "angle", "x", "y"]
    assert np.array_equal(acc.column("angle"), np.arange(5000.0))
    assert np.array_equal(acc.column("x"), 2 * np.arange(5000.0))
    assert np.all(np.diff(acc.t) >= 0)
    assert acc.dropped == 0 and acc.flagged == 0


def test_blocks_from_a_real_process_keep_dtypes(mp_context):
    q = NamedTupleQueue(context=mp_context)
    acc = QueueDataAccumulator(q, recording=True)
    producer = mp_context.Process(target=put_blocks, args=(q, 20, 1000))
    producer.start()
    drain_until(acc, 20_000)
    producer.join(20)
    df = acc.get_dataframe()
    assert df.dtypes.astype(str).tolist() == ["float64", "int64", "float64"]
    assert np.array_equal(df["frame"], np.arange(20_000))
    assert np.array_equal(df["value"], np.arange(20_000) * 0.5)
    assert acc.dropped == 0


def test_schema_change_mid_stream_resets_and_emits(mp_context):
    q = NamedTupleQueue(context=mp_context)
    acc = QueueDataAccumulator(q, recording=True)
    resets, inits, held_at_reset = [], [], []
    acc.sig_acc_reset.connect(lambda: resets.append(acc.header_list))
    acc.sig_acc_init.connect(lambda: inits.append(acc.header_list))
    acc.sig_acc_resetting.connect(lambda: held_at_reset.append(acc.n_held))
    producer = mp_context.Process(target=put_then_change_schema, args=(q, 300, 200))
    producer.start()
    wait_until(lambda: acc.header_list == ["t", "x", "y"] and acc.n_received == 200, step=acc.update_list)
    producer.join(20)
    assert held_at_reset == [300]
    assert len(resets) == 1
    assert inits == [["t", "angle", "x", "y"], ["t", "x", "y"]]
    assert np.array_equal(acc.column("x"), np.arange(200.0))
    assert acc.dropped == 0


def test_refused_samples_are_counted_as_dropped():
    q = NamedTupleQueue(maxsize=2)
    acc = QueueDataAccumulator(q)
    refused = sent = 0
    for i in range(100_000):
        try:
            q.put(float(i), Point(i, 0), block=False)
            sent += 1
        except queue.Full:
            refused += 1
            if refused == 7:
                break
    drain_until(acc, sent)
    q.put(1e6, Point(-1, 0))
    drain_until(acc, sent + 1)
    assert acc.dropped == 7
    assert acc.n_received == sent + 1


def test_update_list_never_blocks_on_an_empty_queue_and_respects_its_budget():
    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, drain_budget=0.0, max_history_if_not_running=None)
    assert acc.update_list() == 0
    n = JOINED_ROWS + 1  # blocks too big to be joined
    for i in range(5):
        q.put_block(np.arange(n, dtype=float) + n * i, {"v": np.arange(n, dtype=float)})
    # A zero budget still takes one message per call: the rest waits for the next tick.
    taken = []
    wait_until(lambda: sum(taken) == 5 * n, step=lambda: taken.append(acc.update_list()))
    assert set(taken) - {0} == {n}
    assert acc.column("v").tolist() == list(range(n)) * 5


def test_small_blocks_waiting_are_taken_together_and_gaps_still_counted():
    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, drain_budget=0.0)
    assert acc.update_list() == 0  # starts receiving
    for i in range(4):
        q.put_block(np.arange(3.0) + 3 * i, {"v": np.arange(3.0) + 3 * i})
    q._local_producer().next_seq += 5  # five samples lost before the 5th block
    q.put_block(np.arange(12.0, 15.0), {"v": np.arange(12.0, 15.0)})
    wait_until(lambda: len(acc._reader._inbox) == 6)  # the schema and the five blocks wait for the next call
    taken = [acc.update_list(), acc.update_list(), acc.update_list()]
    assert taken == [12, 3, 0]  # a zero budget takes one run per call; the gap ends the run
    assert acc.column("v").tolist() == list(range(15)) and acc.dropped == 5


def test_nan_and_time_going_back_are_flagged_not_dropped():
    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, t0=0.0)
    for t, x in [(1.0, 0.0), (2.0, float("nan")), (1.5, 1.0), (3.0, 2.0)]:
        q.put(t, Point(x, 0.0))
    drain_until(acc, 4)
    assert acc.flagged == 2 and acc.flagged_rows.tolist() == [1, 2]
    assert acc.n_held == 4


def test_queue_must_be_a_named_tuple_queue():
    with pytest.raises(TypeError, match="NamedTupleQueue"):
        QueueDataAccumulator(queue.Queue())


def test_two_producer_processes_are_counted_separately(mp_context):
    q = NamedTupleQueue(context=mp_context)
    acc = QueueDataAccumulator(q, recording=True)
    producers = [mp_context.Process(target=put_samples, args=(q, 1000, k * 1000)) for k in range(2)]
    for p in producers:
        p.start()
    drain_until(acc, 2000)
    for p in producers:
        p.join(20)
    assert sorted(acc.column("angle").tolist()) == [float(i) for i in range(2000)]
    assert acc.dropped == 0


def test_killed_producer_leaves_the_accumulator_usable(mp_context):
    q = NamedTupleQueue(context=mp_context)
    acc = QueueDataAccumulator(q, recording=True)
    producer = mp_context.Process(target=put_samples, args=(q, 10_000_000))
    producer.start()
    drain_until(acc, 1000)
    producer.kill()
    producer.join(20)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and acc.update_list():
        pass
    n = acc.n_received
    assert np.array_equal(acc.column("angle"), np.arange(float(n)))


def test_a_half_written_message_never_blocks_update_list():
    """A producer killed between a message's header and its body must not freeze the GUI."""
    import threading

    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, t0=0.0)
    q.put(1.0, Point(1, 2))
    drain_until(acc, 1)
    leave_half_a_message(q, payload_bytes=100_000)
    results = []
    caller = threading.Thread(target=lambda: results.append([acc.update_list() for _ in range(50)]))
    caller.start()
    caller.join(10)
    assert not caller.is_alive(), "update_list blocked on a half-written message"
    assert results == [[0] * 50]
    assert acc.n_held == 1
    acc.close()


def test_a_value_too_large_for_float64_is_dropped_and_counted_not_fatal():
    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, t0=0.0)
    q.put(1.0, Point(1, 2))
    q.put(2.0, Point(10**400, 2))
    q.put(3.0, Point(3, 4))
    drain_until(acc, 2)
    assert acc.column("x").tolist() == [1.0, 3.0]
    assert acc.dropped == 1
