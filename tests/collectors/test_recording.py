"""StreamRecorder: new rows of every accumulator appended to streams/<name>.arrows."""

import errno
import os
import signal
import subprocess
import sys
from collections import namedtuple

import numpy as np
import pytest

from rigbook.collectors import Accumulator
from rigbook.collectors.recording import StreamRecorder
from rigbook.storage import read_stream

Sample = namedtuple("Sample", ["x", "y"])
Other = namedtuple("Other", ["speed"])


def feed(acc, start, n, sample_type=Sample):
    for i in range(start, start + n):
        acc.append(float(i), sample_type(*([float(i)] * len(sample_type._fields))))


def test_polls_append_every_new_row_and_close_writes_the_rest(tmp_path):
    tail = Accumulator(name="tail", t0=0.0, recording=True)
    stim = Accumulator(name="stimulus", t0=0.0, recording=True)
    recorder = StreamRecorder({"tail": tail, "stimulus": stim}, tmp_path)
    feed(tail, 0, 100)
    recorder.poll()
    feed(tail, 100, 50)
    feed(stim, 0, 7, Other)
    recorder.poll()
    feed(tail, 150, 5)
    recorder.close()
    table = read_stream(tmp_path / "streams" / "tail.arrows")
    assert table.column_names == ["t", "x", "y"]
    assert table.column("x").to_pylist() == [float(i) for i in range(155)]
    assert table.column("t").to_pylist() == [float(i) for i in range(155)]
    assert read_stream(tmp_path / "streams" / "stimulus.arrows").num_rows == 7
    assert recorder.paths == {
        "tail": [tmp_path / "streams" / "tail.arrows"],
        "stimulus": [tmp_path / "streams" / "stimulus.arrows"],
    }


def test_flush_puts_everything_on_disk_while_recording_continues(tmp_path):
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    with StreamRecorder([acc], tmp_path) as recorder:
        feed(acc, 0, 20)
        recorder.flush()
        assert read_stream(tmp_path / "streams" / "tail.arrows").num_rows == 20
        feed(acc, 20, 1)
    assert read_stream(tmp_path / "streams" / "tail.arrows").num_rows == 21


def test_schema_change_continues_in_a_new_file_without_losing_rows(tmp_path):
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    recorder = StreamRecorder([acc], tmp_path)
    feed(acc, 0, 10)
    recorder.poll()
    feed(acc, 10, 5)  # not polled yet when the schema changes
    feed(acc, 0, 3, Other)
    recorder.poll()
    feed(acc, 3, 2, Other)
    recorder.close()
    first = read_stream(tmp_path / "streams" / "tail.arrows")
    second = read_stream(tmp_path / "streams" / "tail_2.arrows")
    assert first.column_names == ["t", "x", "y"] and first.num_rows == 15
    assert second.column_names == ["t", "speed"]
    assert second.column("speed").to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert recorder.paths["tail"] == [tmp_path / "streams" / "tail.arrows", tmp_path / "streams" / "tail_2.arrows"]


def test_reset_with_the_same_columns_keeps_the_file(tmp_path):
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    recorder = StreamRecorder([acc], tmp_path)
    feed(acc, 0, 4)
    acc.reset()
    feed(acc, 4, 3)
    recorder.close()
    assert read_stream(tmp_path / "streams" / "tail.arrows").column("x").to_pylist() == [0, 1, 2, 3, 4, 5, 6]
    assert not (tmp_path / "streams" / "tail_2.arrows").exists()


def test_only_rows_from_the_start_are_recorded_unless_asked(tmp_path):
    acc = Accumulator(name="tail", t0=0.0)
    feed(acc, 0, 5)
    with StreamRecorder([acc], tmp_path / "a"):
        feed(acc, 5, 2)
    assert read_stream(tmp_path / "a" / "streams" / "tail.arrows").column("x").to_pylist() == [5.0, 6.0]
    with StreamRecorder([acc], tmp_path / "b", include_held=True):
        pass
    assert read_stream(tmp_path / "b" / "streams" / "tail.arrows").num_rows == 7


def test_rows_trimmed_before_recording_are_counted_lost(tmp_path):
    acc = Accumulator(name="tail", t0=0.0, max_history_if_not_running=10, recording=False)
    recorder = StreamRecorder([acc], tmp_path)
    feed(acc, 0, 30)
    recorder.close()
    recorded = read_stream(tmp_path / "streams" / "tail.arrows").column("x").to_pylist()
    assert recorder.lost["tail"] > 0
    assert recorder.lost["tail"] + len(recorded) == 30
    assert recorded == [float(i) for i in range(recorder.lost["tail"], 30)]


def test_an_existing_log_is_never_overwritten(tmp_path):
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "tail.arrows").write_bytes(b"earlier session")
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    with StreamRecorder([acc], tmp_path) as recorder:
        feed(acc, 0, 2)
    assert (tmp_path / "streams" / "tail.arrows").read_bytes() == b"earlier session"
    assert recorder.paths["tail"] == [tmp_path / "streams" / "tail_2.arrows"]


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 200, "bad\x00name"])
def test_bad_stream_names_are_refused_before_anything_is_created(tmp_path, name):
    with pytest.raises(ValueError):
        StreamRecorder([Accumulator(name=name)], tmp_path / "session")
    assert not (tmp_path / "session").exists()


def test_duplicate_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'tail'"):
        StreamRecorder([Accumulator(name="tail"), Accumulator(name="tail")], tmp_path)


def test_unicode_names_work(tmp_path):
    acc = Accumulator(name="queue_de_poisson_é", t0=0.0, recording=True)
    with StreamRecorder([acc], tmp_path):
        feed(acc, 0, 1)
    assert read_stream(tmp_path / "streams" / "queue_de_poisson_é.arrows").num_rows == 1


def test_closed_recorder_refuses_polls_and_is_closed_once(tmp_path):
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    recorder = StreamRecorder([acc], tmp_path)
    recorder.close()
    recorder.close()
    with pytest.raises(ValueError, match="closed"):
        recorder.poll()
    feed(acc, 0, 3, Other)  # resets after close do not touch the recorder
    assert acc.n_held == 3


KILLED_RECORDER = """
import sys, time
from collections import namedtuple
from rigbook.collectors import Accumulator
from rigbook.collectors.recording import StreamRecorder
S = namedtuple("S", "x")
acc = Accumulator(name="tail", t0=0.0, recording=True)
recorder = StreamRecorder([acc], sys.argv[1])
for i in range(5000):
    acc.append(float(i), S(float(i)))
    if i % 100 == 99:
        recorder.poll()
recorder.flush()
print("flushed", flush=True)
i = 5000
while True:
    acc.append(float(i), S(float(i)))
    i += 1
    if i % 100 == 0:
        recorder.poll()
"""


def test_a_killed_recording_process_leaves_every_flushed_row_readable(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", KILLED_RECORDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "flushed"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(20)
    table = read_stream(tmp_path / "streams" / "tail.arrows")
    x = table.column("x").to_numpy()
    assert len(x) >= 5000
    assert np.array_equal(x, np.arange(len(x), dtype=float))


class FullDisk:
    """A StreamWriter whose appends fail while ``full`` is set, as on a full disk."""

    def __init__(self):
        self.full = False

    def writer_class(self):
        disk = self
        from rigbook.storage import StreamWriter

        class Writer(StreamWriter):
            def append(self, batch):
                if disk.full:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return super().append(batch)

        return Writer


def read_all(paths):
    tables = [read_stream(p) for p in paths]
    return np.concatenate([t.column("x").to_numpy() for t in tables])


def test_a_full_disk_suspends_the_log_and_writing_resumes_in_a_new_part_without_losing_rows(tmp_path, monkeypatch):
    monkeypatch.setattr("rigbook.collectors.recording.RETRY_INTERVAL_S", 0.0)
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    recorder = StreamRecorder([acc], tmp_path)
    disk = FullDisk()
    recorder._writer_class = disk.writer_class()
    feed(acc, 0, 3)
    recorder.poll()
    recorder.flush()
    disk.full = True
    feed(acc, 3, 4)
    recorder.poll()  # fails: the stream waits, the rows stay in the accumulator
    assert recorder.suspended == ["tail"]
    assert recorder.outages["tail"][0]["start"] == 3.0 and recorder.outages["tail"][0]["end"] is None
    feed(acc, 7, 2)
    recorder.poll()  # still full
    disk.full = False
    recorder.poll()  # room again: resumes in streams/tail_2.arrows
    assert recorder.suspended == []
    feed(acc, 9, 1)
    recorder.close()
    assert [p.name for p in recorder.paths["tail"]] == ["tail.arrows", "tail_2.arrows"]
    assert np.array_equal(read_all(recorder.paths["tail"]), np.arange(10.0))  # every row, once
    assert recorder.outages["tail"] == [{"start": 3.0, "end": 3.0, "error": "[Errno 28] No space left on device"}]
    assert recorder.lost_spans["tail"] == [] and recorder.lost["tail"] == 0


def test_rows_that_a_reset_clears_while_the_disk_is_full_are_counted_lost_with_their_span(tmp_path):
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    recorder = StreamRecorder([acc], tmp_path)
    disk = FullDisk()
    recorder._writer_class = disk.writer_class()
    feed(acc, 0, 3)
    recorder.poll()
    disk.full = True
    feed(acc, 3, 2)
    recorder.poll()
    feed(acc, 0, 1, Other)  # a schema change resets the accumulator: it must not raise inside append
    assert acc.header_list == ["t", "speed"]
    assert recorder.lost_spans["tail"] == [{"start": 3.0, "end": 4.0, "rows": 2}]
    disk.full = False
    recorder.close()
    assert np.array_equal(read_stream(recorder.paths["tail"][0]).column("x").to_numpy(), [0.0, 1.0, 2.0])


def test_after_a_full_disk_the_whole_recording_reads_back_though_the_live_window_moved_on(tmp_path, monkeypatch):
    monkeypatch.setattr("rigbook.collectors.recording.RETRY_INTERVAL_S", 0.0)
    acc = Accumulator(name="tail", t0=0.0, recording=True, live_window=2.0)
    recorder = StreamRecorder([acc], tmp_path)
    disk = FullDisk()
    recorder._writer_class = disk.writer_class()
    for start in range(0, 1000, 100):  # (rows leave RAM a storage chunk at a time)
        feed(acc, start, 100)
        recorder.flush()
    assert acc.n_held < 1000  # the live window moved on: older rows are only in the log
    disk.full = True
    feed(acc, 1000, 50)
    recorder.poll()
    assert recorder.suspended == ["tail"]
    disk.full = False
    recorder.poll()  # resumes in tail_2.arrows
    for start in range(1050, 2000, 50):
        feed(acc, start, 50)
        recorder.poll()
    recorder.close()
    assert [p.name for p in recorder.paths["tail"]] == ["tail.arrows", "tail_2.arrows"]
    assert acc.n_held < 2000
    assert np.array_equal(acc.get_dataframe()["x"].to_numpy(), np.arange(2000.0))  # part 1, part 2 and RAM
    assert np.array_equal(read_all(recorder.paths["tail"]), np.arange(2000.0))
    assert recorder.lost["tail"] == 0
