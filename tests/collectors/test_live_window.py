"""Flat memory while recording: a live window in RAM, older rows read back from the stream log."""

from collections import namedtuple
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pytest

from rigbook.collectors import Accumulator
from rigbook.collectors.recording import StreamRecorder
from rigbook.storage import read_stream, read_stream_rows

RATE = 1000.0  # samples per second of the synthetic stream
BIG = 2**53 + 12345  # an int64 that float64 would round


def block(start, n):
    """Samples start..start+n-1 of a stream with one field of each kind the log must keep exactly."""
    index = np.arange(start, start + n)
    times = index / RATE
    values = {
        "frame": index.astype(np.int64) + BIG,
        "lfp": (index % 30000 - 15000).astype(np.int16),
        "gain": (index * 0.25).astype(np.float32),
        "lick": index % 3 == 0,
        "x": np.sin(index * 0.001),
    }
    return times, values


def expected_frame(start, stop):
    times, values = block(start, stop - start)
    return pd.DataFrame({"t": times, **values})


def record(acc, recorder, n_total, step=250):
    for start in range(0, n_total, step):
        acc.append_block(*block(start, step))
        recorder.poll()


@pytest.fixture
def recorded(tmp_path):
    """20 s of a 1 kHz stream recorded with a 2 s live window (recorder still open)."""
    acc = Accumulator(name="probe", t0=0.0, recording=True, live_window=2.0)
    recorder = StreamRecorder([acc], tmp_path)
    record(acc, recorder, 20_000)
    yield acc, recorder
    recorder.close()


def test_only_the_live_window_stays_in_memory_while_recording(recorded):
    acc, _ = recorded
    assert acc.n_received == 20_000
    # 2 s at 1 kHz, plus at most a chunk of slack
    assert 2_000 <= acc.n_held < 4_000
    assert acc.t[0] < acc.t[-1] - 2.0


def test_get_dataframe_returns_every_recorded_row_exactly_with_dtypes(recorded):
    acc, _ = recorded
    frame = acc.get_dataframe()
    pd.testing.assert_frame_equal(frame, expected_frame(0, 20_000), check_exact=True)
    assert frame["frame"].iloc[-1] == BIG + 19_999  # int64 above 2**53, not rounded


def test_save_writes_every_recorded_row(recorded, tmp_path):
    acc, _ = recorded
    path = acc.save(tmp_path / "export", "feather")
    frame = feather.read_feather(path)
    pd.testing.assert_frame_equal(frame, expected_frame(0, 20_000), check_exact=True)


def test_get_last_n_and_get_last_t_reach_back_into_the_log(recorded):
    acc, _ = recorded
    older = acc.get_last_n(15_000)
    assert older.shape == (15_000, 6)
    np.testing.assert_array_equal(older[:, 0], np.arange(5_000, 20_000) / RATE)
    np.testing.assert_array_equal(older[:, 2], np.arange(5_000, 20_000) % 30000 - 15000)
    times = np.arange(20_000) / RATE
    in_window = times[times > times[-1] - 10.0]  # exactly the samples of the last 10 s
    assert in_window[0] < 19.999 - 8.0  # far older than the 2 s held in RAM
    np.testing.assert_array_equal(acc.get_last_t(10.0)[:, 0], in_window)
    assert acc.get_last_n().shape[0] == 20_000
    columns = acc.get_last_t_columns(10.0, ["lfp"])
    index = np.arange(20_000 - len(in_window), 20_000)
    np.testing.assert_array_equal(columns["lfp"], (index % 30000 - 15000).astype(np.int16))
    assert columns["lfp"].dtype == np.int16


def test_values_at_abs_time_finds_a_row_older_than_the_window(recorded):
    acc, _ = recorded
    row = acc.values_at_abs_time(acc.t0_datetime + timedelta(seconds=3.0004))
    assert row.t == 3.0
    assert row.frame == BIG + 3000
    assert row.lick is True
    row = acc.values_at_abs_time(acc.t0_datetime + timedelta(seconds=-5))
    assert row.t == 0.0


def test_rows_stay_readable_after_the_recorder_closed(recorded):
    acc, recorder = recorded
    recorder.close()
    pd.testing.assert_frame_equal(acc.get_dataframe(), expected_frame(0, 20_000), check_exact=True)


def test_after_a_schema_change_the_new_part_is_read_back(tmp_path):
    Old = namedtuple("Old", ["a"])
    acc = Accumulator(name="probe", t0=0.0, recording=True, live_window=1.0)
    recorder = StreamRecorder([acc], tmp_path)
    for i in range(3000):
        acc.append(i / RATE, Old(float(i)))
        if i % 100 == 0:
            recorder.poll()
    record_from = 3000
    for start in range(record_from, record_from + 8000, 500):
        acc.append_block(*block(start, 500))
        recorder.poll()
    assert [p.name for p in recorder.paths["probe"]] == ["probe.arrows", "probe_2.arrows"]
    assert acc.n_held < 8000
    pd.testing.assert_frame_equal(acc.get_dataframe(), expected_frame(3000, 11_000).reset_index(drop=True),
                                  check_exact=True)
    recorder.close()
    # The first part still holds every row of the first schema.
    assert read_stream(recorder.paths["probe"][0]).column("a").to_pylist() == [float(i) for i in range(3000)]


def test_a_reset_keeps_reading_the_same_file_from_the_right_row(tmp_path):
    acc = Accumulator(name="probe", t0=0.0, recording=True, live_window=1.0)
    recorder = StreamRecorder([acc], tmp_path)
    record(acc, recorder, 5000)
    acc.reset()
    for start in range(5000, 10_000, 250):
        acc.append_block(*block(start, 250))
        recorder.poll()
    assert recorder.paths["probe"] == [tmp_path / "streams" / "probe.arrows"]
    assert acc.n_held < 5000
    pd.testing.assert_frame_equal(acc.get_dataframe(), expected_frame(5000, 10_000), check_exact=True)
    recorder.close()


def test_keep_everything_mode_holds_every_row(tmp_path):
    acc = Accumulator(name="probe", t0=0.0, recording=True, live_window=None)
    with StreamRecorder([acc], tmp_path) as recorder:
        record(acc, recorder, 10_000)
        assert acc.n_held == 10_000


def test_not_recording_nothing_is_read_from_disk_and_trimming_is_unchanged():
    acc = Accumulator(name="probe", t0=0.0, max_history_if_not_running=100, live_window=1.0)
    acc.append_block(*block(0, 1000))
    assert acc.logged is None
    assert acc.n_held == 100
    assert len(acc.get_dataframe()) == 100


def test_a_bad_live_window_is_refused_naming_it():
    with pytest.raises(ValueError, match="live_window"):
        Accumulator(live_window=0)


def test_read_stream_rows_reads_a_range_of_a_log(recorded):
    acc, recorder = recorded
    recorder.flush()
    path = recorder.paths["probe"][0]
    table = read_stream_rows(path, 4321, 4400, ["t", "frame"])
    assert table.column_names == ["t", "frame"]
    assert table.column("frame").to_pylist() == [BIG + i for i in range(4321, 4400)]
    assert read_stream_rows(path, 19_990).num_rows == 10
    with pytest.raises(KeyError, match="nope"):
        read_stream_rows(path, 0, 1, ["nope"])


def test_memory_held_stays_flat_as_the_recording_goes_on(tmp_path):
    acc = Accumulator(name="probe", t0=0.0, recording=True, live_window=2.0)
    with StreamRecorder([acc], tmp_path) as recorder:
        record(acc, recorder, 20_000)
        after_20_s = acc.nbytes
        for start in range(20_000, 200_000, 250):
            acc.append_block(*block(start, 250))
            recorder.poll()
        assert acc.n_received == 200_000
        assert acc.nbytes <= after_20_s  # the chunks that left the window are reused, not added to
    assert len(acc.get_dataframe()) == 200_000


@pytest.mark.parametrize("fmt", ["csv", "feather", "parquet", "hdf5", "json"])
def test_every_export_holds_every_row_and_the_binary_ones_every_dtype(recorded, tmp_path, fmt):
    from rigbook.storage.tables import read_table

    acc, _ = recorded
    back = read_table(acc.save(tmp_path / "export", fmt))
    expected = expected_frame(0, 20_000)
    assert list(back.columns) == list(expected.columns)
    for name in expected.columns:
        got = back[name].to_numpy()
        if fmt in ("csv", "json"):  # text keeps each value exactly, not the column's width
            got = got.astype(expected[name].dtype)
        else:
            assert got.dtype == expected[name].dtype, name
        np.testing.assert_array_equal(got, expected[name].to_numpy(), err_msg=name)
