"""DynamicLog, EstimatorLog, FramerateAccumulator, FramerateQueueAccumulator."""

import math
import queue
import time
from collections import namedtuple

import pytest

from rigbook.collectors import (
    DynamicLog,
    EstimatorLog,
    FramerateAccumulator,
    FramerateQueueAccumulator,
    NamedTupleQueue,
)
from tests.collectors.conftest import wait_until


class Gratings:
    dynamic_parameters = ["speed", "theta"]


class Looming:
    dynamic_parameters = ["radius", "speed"]


class Still:
    dynamic_parameters = []


def test_dynamic_log_columns_are_the_union_and_missing_values_nan():
    log = DynamicLog([Gratings(), Looming(), Still()], t0=0.0)
    assert log.header_list == ["t", "speed", "theta", "radius"]
    log.update_list(1.0, {"speed": 2.0})
    log.update_list(2.0, {"radius": 5, "theta": 0.5})
    df = log.get_dataframe()
    assert df["speed"].tolist()[0] == 2.0 and math.isnan(df["speed"][1])
    assert df["radius"].tolist()[1] == 5.0 and math.isnan(df["radius"][0])
    assert log.flagged == 2  # NaN where a stimulus did not set a parameter


def test_dynamic_log_takes_names_and_value_lists():
    log = DynamicLog(["speed", "phase"], t0=0.0)
    log.update_list(1.0, [1.5, 2.5])
    assert log.get_last_n(1).tolist() == [[1.0, 1.5, 2.5]]


def test_dynamic_log_refuses_bad_data_and_stays_unchanged():
    log = DynamicLog([Gratings()], t0=0.0)
    log.update_list(1.0, {"speed": 1.0, "theta": 0.0})
    with pytest.raises(ValueError, match="'radius'"):
        log.update_list(2.0, {"radius": 1.0})
    with pytest.raises(TypeError, match="'speed' must be a number"):
        log.update_list(2.0, {"speed": "fast"})
    with pytest.raises(ValueError, match="3 values for 2"):
        log.update_list(2.0, [1, 2, 3])
    with pytest.raises(TypeError, match="dict"):
        log.update_list(2.0, 5.0)
    assert log.n_held == 1


def test_dynamic_log_skips_stimuli_without_dynamic_parameters_as_stytra():
    log = DynamicLog([object(), Gratings()], t0=0.0)
    assert log.header_list == ["t", "speed", "theta"]
    log.update_list(1.0, {"speed": 1.0, "theta": 0.0})
    assert log.n_held == 1


def test_dynamic_log_refuses_a_malformed_parameter_list():
    class Bad:
        dynamic_parameters = "speed"

    with pytest.raises(TypeError, match="dynamic_parameters must be a list"):
        DynamicLog([Bad()])


def test_update_stimuli_resets_only_when_the_columns_change():
    log = DynamicLog([Gratings()], t0=0.0)
    resets = []
    log.sig_acc_reset.connect(lambda: resets.append(log.header_list))
    log.update_list(1.0, {"speed": 1.0})
    log.update_stimuli([Gratings()])
    assert log.n_held == 1 and resets == []
    log.update_stimuli([Looming()])
    assert resets == [["t", "radius", "speed"]] and log.is_empty()


def test_estimator_log_with_namedtuples_and_headers():
    Vigor = namedtuple("Vigor", ["vigor", "bout"])
    log = EstimatorLog(t0=0.0)
    log.update_list(1.0, Vigor(0.5, 1))
    log.update_list(2.0, (0.7, 0))
    assert log.get_dataframe()["vigor"].tolist() == [0.5, 0.7]
    log2 = EstimatorLog(headers=["vigor"], t0=0.0)
    log2.update_list(1.0, [0.25])
    assert log2.header_list == ["t", "vigor"]
    with pytest.raises(ValueError, match="2 values, expected 1"):
        log2.update_list(2.0, [0.1, 0.2])
    with pytest.raises(ValueError, match="distinct"):
        EstimatorLog(headers=["a", "a"])


def test_framerate_accumulator_is_trimmed_even_while_recording():
    acc = FramerateAccumulator(goal_framerate=100, max_history_if_not_running=10, recording=True)
    for i in range(16):
        acc.update_list(90.0 + i)
    assert acc.n_held == 10
    assert acc.goal_framerate == 100
    assert acc.get_fps() == acc.last_framerate == 105.0
    with pytest.raises(TypeError, match="number"):
        acc.update_list("fast")
    acc.reset()
    assert acc.is_empty() and acc.get_fps() == 0.0 and math.isnan(acc.last_framerate)


def test_framerate_report_rate_counts_intervals():
    acc = FramerateAccumulator(t0=0.0)
    for i in range(11):
        acc.update_list(30.0, t=i * 0.1)
    assert acc.get_report_rate() == pytest.approx(10.0)


def test_framerate_queue_accumulator_from_a_plain_queue():
    q = queue.Queue()
    acc = FramerateQueueAccumulator(q, goal_framerate=50, t0=0.0)
    q.put(49.0)
    q.put((2.0, 51.0))
    assert acc.update_list() == 2
    assert acc.column("fps").tolist() == [49.0, 51.0] and acc.t[1] == 2.0
    q.put("bad")
    q.put(50.0)
    with pytest.raises(TypeError):
        acc.update_list()
    assert acc.n_held == 2
    assert acc.update_list() == 1


def test_framerate_queue_accumulator_from_a_named_tuple_queue():
    Frame = namedtuple("Frame", ["fps", "frame"])
    q = NamedTupleQueue()
    acc = FramerateQueueAccumulator(queue=q, goal_framerate=100)
    for i in range(5):
        q.put(time.monotonic(), Frame(99.0 + i, i))
    wait_until(lambda: acc.n_received == 5, step=acc.update_list)
    assert acc.get_fps() == 103.0
    assert acc.header_list == ["t", "fps", "frame"]
