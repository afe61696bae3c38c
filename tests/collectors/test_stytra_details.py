"""Details stytra's producers rely on: unstamped puts, datetime stamps, int fields, one bad timestamp."""

import math
import time
from collections import namedtuple
from datetime import datetime, timedelta, timezone

import numpy as np

from rigbook.collectors import Accumulator, NamedTupleQueue, QueueDataAccumulator
from tests.collectors.conftest import wait_until

Frame = namedtuple("Frame", ["index", "x", "lick"])
Point = namedtuple("Point", ["x", "y"])
NANOSECONDS = 1_700_000_000_123_456_789  # an int float64 cannot hold


def drained(q, n):
    acc = QueueDataAccumulator(q, t0=0.0, recording=True)
    wait_until(lambda: acc.n_received >= n, step=acc.update_list)
    acc.close()
    return acc


def test_put_without_a_timestamp_is_stamped_on_arrival():
    q = NamedTupleQueue()
    before = time.monotonic()
    q.put(None, Point(1.0, 2.0))
    after = time.monotonic()
    t, sample = q.get(timeout=10)
    assert before <= t <= after
    assert sample == Point(1.0, 2.0)


def test_datetime_stamps_become_monotonic_seconds():
    q = NamedTupleQueue()
    now = datetime.now()
    q.put(now - timedelta(seconds=2), Point(1.0, 2.0))  # naive: local time
    q.put(datetime.now(timezone.utc) - timedelta(seconds=1), Point(3.0, 4.0))  # aware
    reference = time.monotonic()
    t_naive, _ = q.get(timeout=10)
    t_aware, _ = q.get(timeout=10)
    assert abs(t_naive - (reference - 2.0)) < 0.5
    assert abs(t_aware - (reference - 1.0)) < 0.5


def test_an_int_field_keeps_an_exact_integer_column_through_the_queue():
    q = NamedTupleQueue()
    q.put(1.0, Frame(NANOSECONDS, 0.5, True))
    q.put(2.0, Frame(NANOSECONDS + 1, 1.5, False))
    acc = drained(q, 2)
    frame = acc.get_dataframe()
    assert frame["index"].dtype == np.int64
    assert frame["index"].tolist() == [NANOSECONDS, NANOSECONDS + 1]
    assert frame["lick"].dtype == np.bool_ and frame["lick"].tolist() == [True, False]
    assert frame["x"].dtype == np.float64


def test_get_gives_back_the_exact_int():
    q = NamedTupleQueue()
    q.put(1.0, Frame(NANOSECONDS, 0.5, True))
    _, sample = q.get(timeout=10)
    assert sample.index == NANOSECONDS and type(sample.index) is int


def test_a_float_where_ints_were_widens_the_column_to_float():
    q = NamedTupleQueue()
    q.put(1.0, Point(1, 2.0))
    q.put(2.0, Point(1.5, 2.0))  # a schema change: the accumulator starts the new columns afresh
    q.put(3.0, Point(4, 2.0))  # fits the widened column
    acc = drained(q, 2)
    wait_until(lambda: acc.column("x").tolist() == [1.5, 4.0], step=acc.update_list)
    assert acc.column("x").dtype == np.float64


def test_accumulator_append_keeps_int_fields_exact():
    acc = Accumulator(t0=0.0)
    acc.append(1.0, Frame(NANOSECONDS, 0.5, True))
    assert acc.get_dataframe()["index"].tolist() == [NANOSECONDS]


def test_an_inf_timestamp_flags_that_sample_only():
    acc = Accumulator(t0=0.0)
    for t in [1.0, 2.0, math.inf, 3.0, 4.0]:
        acc.append(t, Point(0.0, 0.0))
    assert acc.flagged == 1
    assert acc.flagged_rows.tolist() == [2]


def test_an_absurd_timestamp_flags_that_sample_only():
    acc = Accumulator(t0=0.0)
    times = np.array([1.0, 2.0, 1e15, 3.0, 4.0])
    acc.append_block(times, {"x": np.zeros(5)})
    acc.append(5.0, (0.0,))
    assert acc.flagged == 1
    assert acc.flagged_rows.tolist() == [2]
    # a sample going back in time is still flagged
    acc.append(4.5, (0.0,))
    assert acc.flagged_rows.tolist() == [2, 6]


def test_datetime_and_float_stamps_mixed_in_one_batch_all_arrive_right():
    q = NamedTupleQueue()
    reference = time.monotonic()
    now = datetime.now()
    for i in range(300):
        stamp = now - timedelta(seconds=1) if i % 2 else reference - 1.0
        q.put(stamp, Frame(i, 0.5, True) if i >= 150 else Point(float(i), 0.0))
    stamps = [q.get(timeout=10)[0] for _ in range(300)]
    assert all(abs(t - (reference - 1.0)) < 0.5 for t in stamps)
