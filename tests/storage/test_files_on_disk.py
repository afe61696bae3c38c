"""Files respect the umask, folders are fsynced, and nothing is replaced unless asked."""

import os
import zipfile

import numpy as np
import pyarrow as pa
import pytest

from rigbook.storage import (
    Storage,
    StreamInfo,
    StreamWriter,
    TaskWriter,
    Trial,
    export_stream,
    storage_to_zip,
    write_table,
)
from rigbook.storage import atomic as atomic_module
from rigbook.storage import durability
from rigbook.storage.atomic import atomic_open

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path):
    return os.stat(path).st_mode & 0o777


def make_session(root):
    with TaskWriter(root / "s" / "task") as task:
        trial = Trial({"block": 0, "trial": 0})
        trial.add_array("tracker").stack(np.zeros((2, 3)))
        task.write(trial)
        info = StreamInfo(t0_wall_clock="2026-12-05T10:00:00+00:00")
        with task.stream("camera", metadata=info) as log:
            log.append(pa.record_batch({"t": np.arange(3.0)}))
        task.pickle({"a": 1}, "extra")
    return root / "s" / "task"


def test_every_file_follows_the_umask(tmp_path, umask):
    expected = 0o666 & ~umask
    task = make_session(tmp_path)
    files = [task / "trials.csv", task / ".trials.types.json", task / "tracker.hdf5",
             task / "streams" / "camera.arrows", task / "extra.pkl"]
    for fmt in ("csv", "feather", "parquet", "hdf5", "json"):
        files.append(export_stream(task / "streams" / "camera.arrows", fmt))
    files.append(task / "camera.csv.meta.json")
    files.append(task / "camera.json.meta.json")
    with atomic_open(task / "metadata.json", "w") as f:
        f.write("{}")
    files.append(task / "metadata.json")
    files.append(storage_to_zip(tmp_path / "s", tmp_path / "s.zip"))
    assert {str(p): oct(mode(p)) for p in files} == {str(p): oct(expected) for p in files}


def test_journal_follows_the_umask_while_recording(tmp_path, umask):
    task = TaskWriter(tmp_path / "task")
    trial = Trial()
    trial.add_array("a").stack(np.zeros(3))
    task.write(trial)
    assert mode(tmp_path / "task" / ".a.journal") == 0o666 & ~umask
    task.close()


def test_folder_is_fsynced_after_a_replace_and_a_new_log(tmp_path, monkeypatch):
    synced = []
    real = durability.fsync_folder
    monkeypatch.setattr(atomic_module, "fsync_folder", lambda p: synced.append(p) or real(p))
    from rigbook.storage import streams

    monkeypatch.setattr(streams, "fsync_folder", lambda p: synced.append(p) or real(p))
    with atomic_open(tmp_path / "a.json", "w") as f:
        f.write("{}")
    assert synced == [tmp_path]
    StreamWriter(tmp_path / "logs" / "x.arrows").close()
    assert synced[-1] == tmp_path / "logs"


@pytest.mark.parametrize("fmt", ["csv", "feather", "parquet", "hdf5", "json"])
def test_write_table_refuses_to_replace_unless_asked(tmp_path, fmt):
    path = write_table({"t": [1.0]}, tmp_path / "x", fmt)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=str(path)):
        write_table({"t": [2.0]}, tmp_path / "x", fmt)
    assert path.read_bytes() == before
    write_table({"t": [2.0]}, tmp_path / "x", fmt, overwrite=True)
    assert path.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_left_over_sidecar_blocks_a_new_csv(tmp_path):
    (tmp_path / "x.csv.meta.json").write_text("{}")
    with pytest.raises(FileExistsError, match="x.csv.meta.json"):
        write_table({"t": [1.0]}, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_export_stream_refuses_to_replace_unless_asked(tmp_path):
    with StreamWriter(tmp_path / "streams" / "cam.arrows") as log:
        log.append(pa.record_batch({"t": np.arange(3.0)}))
    out = export_stream(tmp_path / "streams" / "cam.arrows", "parquet")
    with pytest.raises(FileExistsError, match="cam.parquet"):
        export_stream(tmp_path / "streams" / "cam.arrows", "parquet")
    assert export_stream(tmp_path / "streams" / "cam.arrows", "parquet", overwrite=True) == out


def test_zip_refuses_to_replace_unless_asked(tmp_path):
    make_session(tmp_path / "data")
    out = tmp_path / "data.zip"
    out.write_bytes(b"not mine")
    with pytest.raises(FileExistsError, match="data.zip"):
        storage_to_zip(tmp_path / "data")
    assert out.read_bytes() == b"not mine"
    with pytest.raises(FileExistsError):
        Storage(tmp_path / "data").to_zip()
    storage_to_zip(tmp_path / "data", overwrite=True)
    assert zipfile.is_zipfile(out)


def test_a_new_array_files_folder_is_fsynced_with_its_first_sync(tmp_path, monkeypatch):
    synced = []
    real = durability.fsync_folder
    monkeypatch.setattr(durability, "fsync_folder", lambda p: synced.append(p) or real(p))
    with TaskWriter(tmp_path / "task") as task:
        trial = Trial()
        trial.add_array("a", data=np.zeros(3))
        task.write(trial)
    assert tmp_path / "task" in synced
