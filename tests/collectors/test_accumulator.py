"""Accumulator: columnar storage, windows, trimming, rows for the recorder, bad input."""

from collections import namedtuple
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbook.collectors import Accumulator, DataFrameAccumulator, RowsTrimmedError

Sample = namedtuple("Sample", ["x", "y"])
Other = namedtuple("Other", ["a", "b", "c"])


def filled(n, rate=1000.0, recording=True, **kwargs):
    acc = Accumulator(name="s", t0=0.0, recording=recording, **kwargs)
    t = np.arange(n) / rate
    acc.append_block(t, {"x": np.arange(n, dtype=np.float64), "y": -np.arange(n, dtype=np.float64)})
    return acc


def test_headers_and_header_dict_index_the_returned_arrays():
    acc = Accumulator(t0=0.0)
    acc.append(1.0, Sample(10, 20))
    acc.append(2.0, Sample(11, 21))
    assert acc.header_list == ["t", "x", "y"] == acc.columns
    data = acc.get_last_n()
    for name, index in acc.header_dict.items():
        assert list(data[:, index]) == list(acc.column(name))
    assert list(acc.column("y")) == [20.0, 21.0]
    assert list(acc.t) == [1.0, 2.0]


def test_timestamps_are_seconds_since_t0_and_datetimes_convert():
    acc = Accumulator(t0=100.0)
    acc.append(101.5, Sample(0, 0))
    assert acc.t[0] == 1.5
    acc2 = Accumulator()
    acc2.append(acc2.t0_datetime + timedelta(seconds=3), Sample(0, 0))
    assert acc2.t[0] == pytest.approx(3.0, abs=1e-3)


def test_sig_acc_init_on_first_data_and_reset_signals_in_order():
    acc = Accumulator()
    events = []
    acc.sig_acc_init.connect(lambda: events.append(("init", acc.header_list)))
    acc.sig_acc_resetting.connect(lambda: events.append(("resetting", acc.n_held)))
    acc.sig_acc_reset.connect(lambda: events.append(("reset", acc.n_held)))
    acc.append(1.0, Sample(1, 2))
    acc.append(2.0, Sample(1, 2))
    acc.append(3.0, Other(1, 2, 3))
    assert events == [
        ("init", ["t", "x", "y"]),
        ("resetting", 2),
        ("reset", 0),
        ("init", ["t", "a", "b", "c"]),
    ]
    assert acc.n_held == 1 and acc.n_received == 1


def test_reset_clears_data_keeps_columns_and_sets_monitored_headers():
    acc = filled(10)
    acc.reset(monitored_headers=["y"])
    assert acc.is_empty() and acc.n_received == 0
    assert acc.header_list == ["t", "x", "y"]
    assert acc.monitored_headers == ["y"]


def test_trimming_keeps_last_n_once_past_one_and_a_half_n_when_not_recording():
    acc = Accumulator(t0=0.0, max_history_if_not_running=100)
    for i in range(150):
        acc.append(float(i), Sample(i, 0))
    assert acc.n_held == 150
    acc.append(150.0, Sample(150, 0))
    assert acc.n_held == 100
    assert list(acc.column("x")) == [float(i) for i in range(51, 151)]
    assert acc.n_received == 151


def test_nothing_is_trimmed_while_recording_even_by_callable():
    state = {"on": True}
    acc = Accumulator(t0=0.0, max_history_if_not_running=10, recording=lambda: state["on"])
    acc.append_block(np.arange(1000.0), {"x": np.arange(1000.0)})
    assert acc.n_held == 1000
    state["on"] = False
    acc.trim_data()
    assert acc.n_held == 10 and acc.column("x")[0] == 990.0
    acc.recording = True
    acc.append_block(np.arange(1000.0, 1100.0), {"x": np.arange(100.0)})
    assert acc.n_held == 110


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 3000),
    window=st.floats(0, 5),
    rate=st.sampled_from([1.0, 7.0, 500.0, 1000.0]),
    jitter=st.booleans(),
)
def test_get_last_t_returns_exactly_the_samples_in_the_window(n, window, rate, jitter):
    rng = np.random.default_rng(n)
    t = np.arange(n) / rate
    if jitter and n:
        t = np.sort(t + rng.uniform(0, 0.5 / rate, n))
    acc = Accumulator(t0=0.0, recording=True)
    acc.append_block(t, {"v": np.arange(n, dtype=np.float64)})
    data = acc.get_last_t(window)
    expected = t[t > t[-1] - window] if n else t
    assert np.array_equal(data[:, 0], expected)
    assert np.array_equal(data[:, 1], np.flatnonzero(t > t[-1] - window) if n else [])
    cols = acc.get_last_t_columns(window, ["v"])
    assert list(cols) == ["t", "v"]
    assert np.array_equal(cols["t"], expected)


def test_get_last_t_is_a_view_of_the_storage_within_a_chunk():
    acc = filled(100_000)
    window = acc.get_last_t_columns(0.5, ["x"])
    assert len(window["x"]) == 500
    assert window["x"].base is not None  # a view, no copy of the history
    assert np.shares_memory(window["x"], acc.get_last_t(0.5))


def test_get_last_n():
    acc = filled(50)
    assert acc.get_last_n(3)[:, 1].tolist() == [47.0, 48.0, 49.0]
    assert acc.get_last_n(500).shape == (50, 3)
    assert acc.get_last_n().shape == (50, 3)


def test_get_fps_counts_intervals_on_a_500_hz_stream():
    acc = filled(2000, rate=500.0, fps_calc_points=10)
    assert acc.get_fps() == pytest.approx(500.0, rel=1e-9)
    acc = filled(2000, rate=500.0, fps_calc_points=1000)
    assert acc.get_fps() == pytest.approx(500.0, rel=1e-9)
    assert filled(1).get_fps() == 0.0
    assert Accumulator().get_fps() == 0.0


def test_values_at_abs_time_gives_the_closest_sample():
    acc = filled(1000, rate=100.0)
    target = acc.t0_datetime + timedelta(seconds=2.004)
    row = acc.values_at_abs_time(target)
    assert row.t == pytest.approx(2.0) and row.x == 200.0 and row.y == -200.0
    row = acc.values_at_abs_time(acc.t0_datetime + timedelta(seconds=2.006))
    assert row.x == 201.0
    naive_local = (acc.t0_datetime + timedelta(seconds=5)).astimezone().replace(tzinfo=None)
    assert acc.values_at_abs_time(naive_local).x == 500.0
    assert acc.values_at_abs_time(acc.t0_datetime - timedelta(days=1)).x == 0.0
    assert acc.values_at_abs_time(datetime.now().astimezone() + timedelta(days=1)).x == 999.0


def test_values_at_abs_time_refuses_non_datetimes_and_empty():
    with pytest.raises(TypeError, match="datetime"):
        filled(3).values_at_abs_time(1.0)
    with pytest.raises(LookupError, match="no samples"):
        Accumulator().values_at_abs_time(datetime.now())


def test_nan_and_decreasing_timestamps_are_kept_and_flagged():
    acc = Accumulator(t0=0.0, recording=True)
    t = np.array([0.0, 1.0, 2.0, 1.5, 1.7, 3.0, np.nan, 4.0])
    v = np.array([0, 1, 2, 3, 4, 5, 6, np.nan])
    acc.append_block(t[:4], {"v": v[:4]})
    acc.append_block(t[4:], {"v": v[4:]})
    assert acc.n_held == 8
    assert acc.flagged == 4
    assert acc.flagged_rows.tolist() == [3, 4, 6, 7]
    # windows still hold exactly the samples with t > latest - window
    data = acc.get_last_t(1.5)
    assert data[:, 0].tolist() == [3.0, 4.0]
    assert data[0, 1] == 5.0 and np.isnan(data[1, 1])


def test_window_after_time_went_back_is_still_exact():
    acc = Accumulator(t0=0.0, recording=True)
    t = np.array([0.0, 1.0, 2.0, 1.5, 2.5, 3.0])
    acc.append_block(t, {"v": np.arange(6.0)})
    assert acc.get_last_t(1.6)[:, 1].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert acc.get_last_t(2.1)[:, 1].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert acc.get_last_t_columns(1.0)["v"].tolist() == [4.0, 5.0]


def test_rows_since_hands_over_new_rows_as_arrow_batches():
    acc = filled(10)
    batch, n = acc.rows_since(0)
    assert isinstance(batch, pa.RecordBatch)
    assert batch.schema.names == ["t", "x", "y"] and n == 10
    assert batch.column("x").to_pylist() == [float(i) for i in range(10)]
    acc.append(1.0, (10.0, -10.0))
    batch, n = acc.rows_since(n)
    assert batch.num_rows == 1 and n == 11 and batch.column("x").to_pylist() == [10.0]
    batch, n = acc.rows_since(n)
    assert batch.num_rows == 0 and n == 11


def test_rows_since_copies():
    acc = filled(10)
    batch, _ = acc.rows_since(5)
    view = acc.get_last_n()
    assert not np.shares_memory(batch.column("x").to_numpy(), view)


def test_values_since_hands_plots_new_rows_as_one_float_block():
    acc = filled(0)
    for start in range(0, 5000, 700):  # many appends: the rows span several storage chunks
        t = np.arange(start, start + 700) / 1000.0
        acc.append_block(t, {"x": np.arange(start, start + 700, dtype=np.float64), "y": -t})
    t, values, n = acc.values_since(1000, ["y", "x"])
    assert n == 5600 and values.shape == (2, 4600) and values.dtype == np.float64
    np.testing.assert_array_equal(t, acc.column("t")[1000:])
    np.testing.assert_array_equal(values[1], np.arange(1000, 5600))  # in the order asked for
    np.testing.assert_array_equal(values[0], -t)
    values[:] = 0  # a copy: the accumulator keeps its data
    assert acc.column("x")[-1] == 5599
    assert acc.values_since(n, ["x"])[1].shape == (1, 0)
    with pytest.raises(KeyError, match="'z'"):
        acc.values_since(0, ["z"])


def test_values_since_converts_integer_columns():
    acc = Accumulator(name="s", t0=0.0)
    acc.append_block(np.arange(3) / 10, {"count": np.array([1, 2, 3], dtype=np.int64), "level": np.array([0.5, 1.5, 2.5])})
    t, values, n = acc.values_since(1, ["count", "level"])
    assert n == 3 and values.dtype == np.float64
    np.testing.assert_array_equal(values, [[2.0, 3.0], [1.5, 2.5]])
    np.testing.assert_array_equal(t, [0.1, 0.2])


def test_rows_since_refuses_trimmed_rows_and_counts_beyond_what_was_received():
    acc = Accumulator(t0=0.0, max_history_if_not_running=10)
    for i in range(16):
        acc.append(float(i), Sample(i, 0))
    assert acc.n_received == 16 and acc.n_held == 10
    with pytest.raises(RowsTrimmedError, match="trimmed"):
        acc.rows_since(3)
    batch, n = acc.rows_since(6)
    assert batch.num_rows == 10
    with pytest.raises(ValueError, match="only 16"):
        acc.rows_since(17)


def test_block_dtypes_are_kept():
    acc = Accumulator(t0=0.0)
    acc.append_block(np.arange(3.0), {"frame": np.arange(3, dtype=np.int32), "ok": np.ones(3, bool)})
    df = acc.get_dataframe()
    assert df.dtypes.astype(str).tolist() == ["float64", "int32", "bool"]
    acc.append(4.0, (3, False))
    assert acc.column("frame").tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="'frame'"):
        acc.append(5.0, (3.5, True))
    with pytest.raises(ValueError, match="'frame'"):
        acc.append(5.0, (float("nan"), True))
    with pytest.raises(ValueError, match="'frame'"):
        acc.append(5.0, (2**70, True))
    assert acc.n_held == 4


def test_huge_ints_are_refused_cleanly():
    acc = filled(2)
    with pytest.raises(ValueError, match="too large"):
        acc.append(3.0, (10**400, 1.0))
    assert acc.n_held == 2


@pytest.mark.parametrize(
    "sample, error, message",
    [
        (Sample("a", 1), TypeError, "'x' must be a number"),
        (Sample(1, None), TypeError, "'y' must be a number"),
        ((1.0,), ValueError, "1 values, expected 2"),
        ((1.0, 2.0, 3.0), ValueError, "3 values, expected 2"),
        (("1", 2.0), TypeError, "'x' must be a number"),
        (3.0, TypeError, "namedtuple, tuple or list"),
    ],
)
def test_bad_samples_raise_and_leave_the_accumulator_unchanged(sample, error, message):
    acc = filled(5)
    before = acc.get_dataframe()
    with pytest.raises(error, match=message):
        acc.append(1.0, sample)
    assert acc.get_dataframe().equals(before)
    assert acc.header_list == ["t", "x", "y"]


def test_bad_timestamp_raises():
    acc = filled(5)
    with pytest.raises(TypeError, match="timestamp"):
        acc.append("yesterday", (1.0, 2.0))
    assert acc.n_held == 5


def test_first_plain_tuple_needs_names():
    with pytest.raises(TypeError, match="namedtuple"):
        Accumulator().append(1.0, (1.0, 2.0))


def test_memory_stays_close_to_the_raw_size_and_history_is_never_copied():
    acc = Accumulator(t0=0.0, recording=True)
    for block in range(300):
        t = np.arange(block * 1000, (block + 1) * 1000) / 1000.0
        acc.append_block(t, {f"f{i}": t for i in range(10)})
        if block == 0:
            first_rows = acc.to_arrow().column("t").chunks[0].to_numpy()
    raw = acc.n_held * 11 * 8
    assert acc.nbytes <= 1.2 * raw
    # Growing never moved the first rows: they are still where they were written.
    assert np.shares_memory(first_rows, acc.to_arrow().column("t").chunks[0].to_numpy())
    assert np.array_equal(acc.t, np.arange(300_000) / 1000.0)


def test_dataframe_accumulator_is_an_accumulator():
    acc = DataFrameAccumulator(name="tail", fps_calc_points=5, monitored_headers=["y"])
    acc.append(1.0, Sample(1, 2))
    assert acc.get_dataframe().columns.tolist() == ["t", "x", "y"]
    assert acc.monitored_headers == ["y"]
    assert acc.get_last_t_columns(10.0).keys() == {"t", "y"}


def test_constructor_checks_its_arguments():
    with pytest.raises(TypeError, match="name"):
        Accumulator(name=3)
    with pytest.raises(ValueError, match="max_history"):
        Accumulator(max_history_if_not_running=0)


def test_empty_accumulator_reads():
    acc = Accumulator()
    assert acc.is_empty()
    assert acc.get_last_t(1.0).shape == (0, 1)
    assert acc.get_last_n(5).shape == (0, 1)
    batch, n = acc.rows_since(0)
    assert batch.num_rows == 0 and n == 0
    assert acc.get_dataframe().columns.tolist() == ["t"]


junk = st.one_of(
    st.text(max_size=5),
    st.none(),
    st.binary(max_size=3),
    st.lists(st.floats(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.complex_numbers(),
)


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-(2**53), 2**53), junk), min_size=0, max_size=4))
def test_any_input_is_appended_whole_or_refused_with_the_accumulator_unchanged(values):
    acc = filled(3)
    before = acc.get_dataframe()
    try:
        acc.append(10.0, values)
    except (TypeError, ValueError) as error:
        assert "sample" in str(error)
        assert acc.get_dataframe().equals(before)
    else:
        assert len(values) == 2
        assert acc.n_held == 4
        assert acc.get_last_n(1)[0, 1:].tolist() == [float(v) for v in values] or any(v != v for v in values)


def test_namedtuple_and_block_with_the_same_columns_share_one_schema():
    acc = Accumulator(t0=0.0)
    resets = []
    acc.sig_acc_reset.connect(lambda: resets.append(1))
    acc.append(0.0, Sample(1.0, 2.0))
    acc.append_block(np.array([1.0]), {"x": np.array([3.0]), "y": np.array([4.0])})
    Renamed = namedtuple("Renamed", ["x", "y"])
    acc.append(2.0, Renamed(5, 6.0))  # an int where floats were fits the float column
    assert resets == [] and acc.column("x").tolist() == [1.0, 3.0, 5.0]
