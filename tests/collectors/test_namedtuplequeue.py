"""NamedTupleQueue: samples between processes, schema in the stream, every loss counted."""

import queue
import time
from collections import namedtuple
from datetime import datetime, timedelta

import numpy as np
import pytest

from rigbook.collectors import NamedTupleQueue
from tests.collectors._producers import Position, Tail, put_samples, put_then_change_schema

Point = namedtuple("Point", ["x", "y"])


def test_samples_from_another_process_arrive_in_order(mp_context):
    q = NamedTupleQueue(context=mp_context)
    producer = mp_context.Process(target=put_samples, args=(q, 3000))
    producer.start()
    received = [q.get(timeout=20) for _ in range(3000)]
    producer.join(20)
    assert producer.exitcode == 0
    assert [s.angle for _, s in received] == [float(i) for i in range(3000)]
    assert all(type(s).__name__ == "Tail" and s._fields == ("angle", "x", "y") for _, s in received)
    times = [t for t, _ in received]
    assert times == sorted(times)
    assert q.dropped == 0


def test_schema_change_is_seen_in_order(mp_context):
    q = NamedTupleQueue(context=mp_context)
    producer = mp_context.Process(target=put_then_change_schema, args=(q, 5, 4))
    producer.start()
    received = [q.get(timeout=20)[1] for _ in range(9)]
    producer.join(20)
    assert [s._fields for s in received] == [Tail._fields] * 5 + [Position._fields] * 4
    assert received[5] == (0.0, 1.0)


def test_get_without_data_raises_empty_and_does_not_block_when_asked():
    q = NamedTupleQueue()
    with pytest.raises(queue.Empty):
        q.get(block=False)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)


def test_put_and_get_in_one_process():
    q = NamedTupleQueue()
    now = time.monotonic()
    q.put(now, Point(1, 2.5))
    t, sample = q.get(timeout=5)
    assert t == now and sample == (1.0, 2.5) and sample._fields == ("x", "y")


def test_datetime_timestamp_becomes_monotonic_seconds():
    q = NamedTupleQueue()
    before = time.monotonic()
    q.put(datetime.now() - timedelta(seconds=10), Point(0, 0))
    t, _ = q.get(timeout=5)
    assert before - 10.5 < t < time.monotonic() - 9.5


def test_put_block_keeps_names_and_dtypes():
    q = NamedTupleQueue()
    values = np.zeros(3, dtype=[("frame", "i8"), ("ok", "?"), ("v", "f4")])
    values["frame"] = [7, 8, 9]
    values["ok"] = [True, False, True]
    values["v"] = [0.5, 1.5, 2.5]
    q.put_block(np.array([1.0, 2.0, 3.0]), values)
    got = [q.get(timeout=5) for _ in range(3)]
    assert [t for t, _ in got] == [1.0, 2.0, 3.0]
    assert [s.frame for _, s in got] == [7, 8, 9]
    assert [s.ok for _, s in got] == [True, False, True]


def test_put_block_copies_the_arrays_it_is_given():
    q = NamedTupleQueue()
    times = np.array([1.0, 2.0])
    data = {"a": np.array([1.0, 2.0])}
    q.put_block(times, data)
    data["a"][:] = -1
    times[:] = -1
    assert [q.get(timeout=5) for _ in range(2)] == [(1.0, (1.0,)), (2.0, (2.0,))]


@pytest.mark.parametrize(
    "obj, message",
    [
        ((1.0, 2.0), "namedtuple"),
        ([1.0, 2.0], "namedtuple"),
        (Point("a", 2.0), "'x'"),
        (Point(1.0, None), "'y'"),
        (Point(1.0, [2.0]), "'y'"),
    ],
)
def test_put_refuses_what_is_not_a_namedtuple_of_numbers(obj, message):
    q = NamedTupleQueue()
    with pytest.raises(TypeError, match=message):
        q.put(time.monotonic(), obj)
    q.put(1.0, Point(1, 2))
    assert q.get(timeout=5) == (1.0, (1.0, 2.0))


def test_put_refuses_a_bad_timestamp():
    q = NamedTupleQueue()
    with pytest.raises(TypeError, match="timestamp"):
        q.put("now", Point(1, 2))


@pytest.mark.parametrize(
    "times, values, error, message",
    [
        (np.zeros(3), {"a": np.zeros(2)}, ValueError, "'a' has 2 values for 3"),
        (np.zeros((3, 2)), {"a": np.zeros(3)}, ValueError, "1-D"),
        (np.zeros(2), {"a": np.zeros((2, 2))}, ValueError, "'a' must be 1-D"),
        (np.zeros(2), {"name": np.array(["x", "y"])}, TypeError, "'name' must be numeric"),
        (np.zeros(2), [1, 2], TypeError, "structured array or a dict"),
        (np.zeros(2), {}, ValueError, "at least one field"),
    ],
)
def test_put_block_refuses_bad_blocks(times, values, error, message):
    q = NamedTupleQueue()
    with pytest.raises(error, match=message):
        q.put_block(times, values)
    assert q.empty()


def test_refused_puts_on_a_full_queue_are_counted_as_dropped():
    q = NamedTupleQueue(maxsize=2)
    refused = sent = 0
    for i in range(100_000):
        try:
            q.put(float(i), Point(i, 0), block=False)
            sent += 1
        except queue.Full:
            refused += 1
            if refused == 5:
                break
    assert refused == 5
    received = [q.get(timeout=5) for _ in range(sent)]
    # The loss shows once a later sample arrives.
    q.put(-1.0, Point(-1, 0))
    received.append(q.get(timeout=5))
    assert q.dropped == refused
    assert [s.x for _, s in received] == [float(i) for i in range(sent)] + [-1.0]


def test_blocking_put_with_timeout_raises_full():
    q = NamedTupleQueue(maxsize=1)
    sent = 0
    with pytest.raises(queue.Full):
        for i in range(10_000):
            q.put(float(i), Point(i, 0), timeout=0.01)
            sent += 1
    assert [q.get(timeout=5)[0] for _ in range(sent)] == [float(i) for i in range(sent)]


def test_queue_survives_pickling_to_a_spawned_child_only():
    import pickle

    q = NamedTupleQueue()
    with pytest.raises(RuntimeError):
        pickle.dumps(q)


@pytest.mark.parametrize("bad", ["a", None, [2.0], 1j])
def test_a_non_number_after_good_samples_is_refused_naming_the_field(bad):
    q = NamedTupleQueue()
    q.put(1.0, Point(1.0, 2.0))
    with pytest.raises(TypeError, match="'y'"):
        q.put(2.0, Point(1.0, bad))
    q.put(3.0, Point(3.0, True))  # any number fits the float columns
    assert q.get(timeout=5) == (1.0, (1.0, 2.0))
    assert q.get(timeout=5) == (3.0, (3.0, 1.0))
