"""Stream logs: background Arrow IPC appends, torn files, exports."""

import errno
import os
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from rigbook.storage import StreamWriter, TaskReader, TaskWriter, export_stream, read_stream, read_table
from rigbook.storage import streams as streams_module


def batch(start, n=5):
    t = np.arange(start, start + n, dtype=np.float64) / 100
    return pa.record_batch({"t": t, "x": np.arange(start, start + n, dtype=np.int64)})


def test_append_flush_and_read_back(tmp_path):
    path = tmp_path / "streams" / "tracking.arrows"
    with StreamWriter(path) as writer:
        for i in range(10):
            writer.append(batch(5 * i))
        writer.flush()
        table = read_stream(path)  # readable while still open
        assert table.num_rows == 50
    table = read_stream(path)
    assert table.column("x").to_pylist() == list(range(50))
    # Plain pyarrow reads it too: it is an Arrow IPC stream.
    with pa.ipc.open_stream(path.read_bytes()) as reader:
        assert reader.read_all().num_rows == 50


def test_tables_and_an_explicit_schema(tmp_path):
    schema = batch(0).schema
    path = tmp_path / "s.arrows"
    with StreamWriter(path, schema=schema) as writer:
        writer.append(pa.Table.from_batches([batch(0), batch(5)]))
    assert read_stream(path).num_rows == 10


def test_empty_stream_with_schema_reads_as_empty_table(tmp_path):
    path = tmp_path / "s.arrows"
    StreamWriter(path, schema=batch(0).schema).close()
    table = read_stream(path)
    assert table.num_rows == 0 and table.column_names == ["t", "x"]


def test_suffix_is_added(tmp_path):
    with StreamWriter(tmp_path / "camera") as writer:
        writer.append(batch(0))
    assert (tmp_path / "camera.arrows").exists()
    assert read_stream(tmp_path / "camera").num_rows == 5


def test_schema_change_is_refused_naming_both_schemas(tmp_path):
    path = tmp_path / "tracking.arrows"
    with StreamWriter(path) as writer:
        writer.append(batch(0))
        other = pa.record_batch({"t": np.zeros(2), "x": np.zeros(2, dtype=np.float32)})
        with pytest.raises(ValueError, match="tracking") as info:
            writer.append(other)
        message = str(info.value)
        assert "x: int64" in message and "x: float" in message
        writer.append(batch(5))
    assert read_stream(path).column("x").to_pylist() == list(range(10))


def test_wrong_type_is_refused(tmp_path):
    with StreamWriter(tmp_path / "s.arrows") as writer:
        with pytest.raises(TypeError, match="RecordBatch"):
            writer.append({"t": [1.0]})


@pytest.mark.parametrize("bad", ["../x", ".hidden", "a\x07b", "x" * 129])
def test_bad_stream_names_create_nothing(tmp_path, bad):
    if "/" not in bad:  # a path may hold folders; its file name is the stream name
        with pytest.raises(ValueError, match="stream name"):
            StreamWriter(tmp_path / "streams" / f"{bad}.arrows")
    with pytest.raises(ValueError, match="stream name"):
        TaskWriter(tmp_path / "task").stream(bad)
    assert not (tmp_path / "streams").exists()
    assert not (tmp_path / "task" / "streams").exists()


def test_existing_log_is_never_rewritten(tmp_path):
    path = tmp_path / "s.arrows"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        StreamWriter(path)
    assert path.read_bytes() == b"precious"


def test_torn_file_gives_back_every_complete_batch(tmp_path):
    path = tmp_path / "s.arrows"
    with StreamWriter(path) as writer:
        sizes = []
        for i in range(4):
            writer.append(batch(5 * i))
            writer.flush()
            sizes.append(path.stat().st_size)
    full = path.read_bytes()
    for cut in range(0, len(full), 7):
        torn = tmp_path / "torn.arrows"
        torn.write_bytes(full[:cut])
        complete = sum(1 for s in sizes if s <= cut)
        table = read_stream(torn)
        assert table.num_rows == 5 * complete
        assert table.column("x").to_pylist() == list(range(5 * complete)) if complete else True
        torn.unlink()


def test_append_does_not_wait_for_the_disk(tmp_path, monkeypatch):
    release = threading.Event()
    started = threading.Event()

    class SlowFile:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def write(self, data):
            started.set()
            release.wait(10)
            return self.real.write(data)

    real_open = open
    monkeypatch.setattr(streams_module, "open", lambda *a, **k: SlowFile(real_open(*a, **k)), raising=False)
    writer = StreamWriter(tmp_path / "s.arrows")
    for i in range(20):
        writer.append(batch(i))  # returns although the writing thread is stuck
    assert started.wait(5)
    assert not release.is_set()
    release.set()
    writer.close()
    assert read_stream(tmp_path / "s.arrows").num_rows == 100


class FillsUp:
    """A file that takes ``capacity`` bytes, then fails like a full disk."""

    def __init__(self, real, capacity):
        self.real = real
        self.capacity = capacity

    def __getattr__(self, name):
        return getattr(self.real, name)

    def write(self, data):
        data = bytes(data)
        if len(data) > self.capacity:
            self.real.write(data[: self.capacity])
            self.capacity = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.capacity -= len(data)
        return self.real.write(data)


def test_background_error_is_raised_on_the_next_call(tmp_path, monkeypatch):
    real_open = open
    monkeypatch.setattr(
        streams_module, "open", lambda *a, **k: FillsUp(real_open(*a, **k), 3000), raising=False
    )
    path = tmp_path / "fail.arrows"
    writer = StreamWriter(path)
    writer.append(batch(0))
    writer.flush()
    with pytest.raises(OSError) as info:
        for i in range(1, 100):
            writer.append(batch(5 * i))
            writer.flush()
    assert info.value.errno == errno.ENOSPC and "fail" in str(info.value)
    with pytest.raises(OSError):
        writer.append(batch(0))  # still failed: never silently accepts data
    writer.close()  # already reported: closing does not raise again
    writer.close()
    table = read_stream(path)  # every batch written before the disk filled
    assert 5 <= table.num_rows < 500
    assert table.column("x").to_pylist() == list(range(table.num_rows))


def test_error_first_seen_at_close_is_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(
        streams_module.pa.ipc,
        "new_stream",
        lambda sink, schema: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")),
    )
    writer = StreamWriter(tmp_path / "s.arrows")
    writer.append(batch(0))
    with pytest.raises(OSError):
        writer.close()


def test_flushed_batches_get_fsynced_while_recording(tmp_path, monkeypatch):
    synced = threading.Event()
    real_fsync = os.fsync

    def recording_fsync(fd):
        real_fsync(fd)
        synced.set()

    monkeypatch.setattr(streams_module.os, "fsync", recording_fsync)
    writer = StreamWriter(tmp_path / "s.arrows")
    writer.append(batch(0))
    writer.flush()
    deadline = time.monotonic() + 5
    while not synced.is_set() and time.monotonic() < deadline:
        synced.wait(0.05)
    assert synced.is_set()  # without close and without any further append
    writer.close()


def test_export_to_every_format(tmp_path):
    task = TaskWriter(tmp_path / "task")
    with task.stream("tracking") as writer:
        writer.append(batch(0))
        writer.append(batch(5))
    log = tmp_path / "task" / "streams" / "tracking.arrows"
    for fmt in ["csv", "feather", "parquet", "hdf5", "json"]:
        out = export_stream(log, fmt)
        assert out.parent == tmp_path / "task" and out.name == f"tracking.{fmt}"
        df = read_table(out)
        assert df["x"].tolist() == list(range(10))
        np.testing.assert_array_equal(df["t"].to_numpy(), np.arange(10) / 100)
    task.close()
    reader = TaskReader(tmp_path / "task")
    assert reader.stream_names == ["tracking"]
    assert reader.stream("tracking").num_rows == 10


def test_task_close_closes_its_streams(tmp_path):
    task = TaskWriter(tmp_path / "task")
    writer = task.stream("s")
    writer.append(batch(0))
    task.close()
    with pytest.raises(ValueError, match="closed"):
        writer.append(batch(5))
    assert read_stream(tmp_path / "task" / "streams" / "s.arrows").num_rows == 5
