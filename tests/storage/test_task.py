"""TaskWriter / TaskReader: trials, per-trial arrays, pickles, failures."""

import errno
import os
import pickle

import h5py
import numpy as np
import pytest

from rigbook.storage import Array, TaskReader, TaskWriter, Trial, read_hdf5
from rigbook.storage import arrays as arrays_module


def make_trial(i, n_chunks=3):
    trial = Trial({"block": i // 10, "trial": i, "label": f"t{i:03d}"})
    emg = trial.add_array("emg", stack_axis=1)
    for c in range(n_chunks):
        emg.stack(np.full((8, 5), i * 100 + c, dtype=np.float64))
    trial.add_array("cursor").stack(np.arange(4.0).reshape(2, 2) + i)
    return trial


def write_task(root, n):
    writer = TaskWriter(root)
    for i in range(n):
        writer.write(make_trial(i))
    return writer


def expected_emg(i, n_chunks=3):
    return np.concatenate([np.full((8, 5), i * 100 + c, dtype=np.float64) for c in range(n_chunks)], axis=1)


def test_trials_and_arrays_read_back(tmp_path):
    writer = write_task(tmp_path / "task", 5)
    writer.close()
    reader = TaskReader(tmp_path / "task")
    df = reader.trials
    assert df["trial"].tolist() == list(range(5))
    assert df["label"].tolist() == [f"t{i:03d}" for i in range(5)]
    emg = reader.array("emg")
    assert emg.shape == (5, 8, 15)
    for i in range(5):
        np.testing.assert_array_equal(emg[i], expected_emg(i))
    cursors = list(reader.iterarray("cursor"))
    assert [c.tolist() for c in cursors] == [(np.arange(4.0).reshape(2, 2) + i).tolist() for i in range(5)]
    assert reader.array_names == ["cursor", "emg"]


def test_hdf5_files_are_plain_h5py_with_one_dataset_per_trial(tmp_path):
    write_task(tmp_path / "task", 4).close()
    with h5py.File(tmp_path / "task" / "emg.hdf5", "r") as f:
        assert sorted(f.keys(), key=int) == ["0", "1", "2", "3"]
        np.testing.assert_array_equal(f["2"][()], expected_emg(2))
    np.testing.assert_array_equal(read_hdf5(tmp_path / "task" / "emg.hdf5", "3"), expected_emg(3))
    # A clean close leaves no journal behind.
    assert not [p.name for p in (tmp_path / "task").iterdir() if p.name.endswith(".journal")]


def test_reader_sees_trials_while_the_writer_runs(tmp_path):
    writer = write_task(tmp_path / "task", 3)
    reader = TaskReader(tmp_path / "task")
    assert len(reader.trials) == 3
    np.testing.assert_array_equal(reader.array("emg")[2], expected_emg(2))
    writer.write(make_trial(3))
    np.testing.assert_array_equal(reader.array("emg")[3], expected_emg(3))
    writer.close()


def test_write_clears_the_trial_arrays(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    trial = make_trial(0)
    writer.write(trial)
    assert trial.arrays["emg"].data is None
    trial.arrays["emg"].stack(np.ones((8, 2)))
    trial.arrays["cursor"].stack(np.ones((2, 2)))
    writer.write(trial)
    writer.close()
    arrays = list(TaskReader(tmp_path / "task").iterarray("emg"))
    assert arrays[1].shape == (8, 2)


def test_array_never_stacked_is_written_empty(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    trial = Trial({"trial": 0})
    trial.add_array("unused")
    writer.write(trial)
    writer.close()
    (data,) = TaskReader(tmp_path / "task").iterarray("unused")
    assert data.size == 0


def test_trials_of_different_lengths_are_nan_padded_with_their_shapes(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    for n_chunks in (1, 2):
        writer.write(make_trial(n_chunks, n_chunks=n_chunks))
    writer.close()
    reader = TaskReader(tmp_path / "task")
    emg = reader.array("emg")
    assert emg.shape == (2, 8, 10)
    np.testing.assert_array_equal(emg[0, :, :5], expected_emg(1, 1))
    assert np.isnan(emg[0, :, 5:]).all()
    np.testing.assert_array_equal(emg[1], expected_emg(2, 2))
    assert reader.array_shapes("emg") == [(8, 5), (8, 10)]
    assert [a.shape for a in reader.iterarray("emg")] == [(8, 5), (8, 10)]


def test_unknown_array_name_lists_the_arrays(tmp_path):
    write_task(tmp_path / "task", 1).close()
    with pytest.raises(ValueError, match="cursor, emg"):
        list(TaskReader(tmp_path / "task").iterarray("nope"))


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "tab\there"])
def test_bad_array_names_are_refused_before_anything_is_written(tmp_path, bad):
    writer = TaskWriter(tmp_path / "task")
    trial = Trial({"trial": 0})
    trial.arrays[bad] = Array()
    trial.arrays[bad].stack(np.ones(3))
    with pytest.raises(ValueError, match="array name"):
        writer.write(trial)
    with pytest.raises(ValueError, match="array name"):
        Trial().add_array(bad)
    assert sorted(p.name for p in (tmp_path / "task").iterdir()) == []
    assert not (tmp_path / "x.hdf5").exists()


def test_non_numeric_array_is_refused_and_writes_nothing(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    writer.write(make_trial(0))
    trial = make_trial(1)
    trial.arrays["names"] = np.array(["a", "b"])
    with pytest.raises(TypeError, match="'names'"):
        writer.write(trial)
    writer.close()
    assert len(TaskReader(tmp_path / "task").trials) == 1


def test_plain_arrays_are_accepted_as_trial_arrays(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    trial = Trial({"trial": 0})
    trial.arrays["raw"] = np.arange(6, dtype=np.int16).reshape(2, 3)
    writer.write(trial)
    writer.close()
    (raw,) = TaskReader(tmp_path / "task").iterarray("raw")
    assert raw.dtype == np.int16 and raw.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_existing_task_is_never_rewritten(tmp_path):
    write_task(tmp_path / "task", 2).close()
    before = (tmp_path / "task" / "trials.csv").read_bytes()
    with pytest.raises(FileExistsError):
        TaskWriter(tmp_path / "task")
    assert (tmp_path / "task" / "trials.csv").read_bytes() == before


def test_full_disk_in_array_write_keeps_earlier_trials(tmp_path, monkeypatch):
    writer = write_task(tmp_path / "task", 3)
    real_writev = os.writev

    def full_disk(fd, buffers):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(arrays_module.os, "writev", full_disk)
    with pytest.raises(OSError) as info:
        writer.write(make_trial(3))
    assert info.value.errno == errno.ENOSPC
    reader = TaskReader(tmp_path / "task")
    assert reader.trials["trial"].tolist() == [0, 1, 2]
    for i, emg in enumerate(reader.iterarray("emg")):
        np.testing.assert_array_equal(emg, expected_emg(i))
    monkeypatch.setattr(arrays_module.os, "writev", real_writev)
    writer.write(make_trial(3))  # space freed: the same trial goes through
    writer.close()
    reader = TaskReader(tmp_path / "task")
    assert reader.trials["trial"].tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(reader.array("emg")[3], expected_emg(3))


def test_full_disk_after_a_partial_journal_record(tmp_path, monkeypatch):
    writer = write_task(tmp_path / "task", 2)
    real_writev = os.writev

    def partial_then_full(fd, buffers):
        real_writev(fd, [bytes(buffers[0])[:10]])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(arrays_module.os, "writev", partial_then_full)
    with pytest.raises(OSError):
        writer.write(make_trial(2))
    monkeypatch.setattr(arrays_module.os, "writev", real_writev)
    writer.write(make_trial(2))
    # The journal must still parse past the failed attempt.
    emg = list(TaskReader(tmp_path / "task").iterarray("emg"))
    assert len(emg) == 3
    np.testing.assert_array_equal(emg[2], expected_emg(2))
    writer.close()


def test_hdf5_failure_keeps_journal_so_nothing_is_lost(tmp_path, monkeypatch):
    writer = write_task(tmp_path / "task", 2)
    real = arrays_module.ArrayFileWriter._write_dataset

    def failing(self, index, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(arrays_module.ArrayFileWriter, "_write_dataset", failing)
    with pytest.raises(OSError):
        writer.write(make_trial(2))
    monkeypatch.setattr(arrays_module.ArrayFileWriter, "_write_dataset", real)
    writer.write(make_trial(2))
    writer.close()
    reader = TaskReader(tmp_path / "task")
    assert [p for p in reader.root.iterdir() if p.name.endswith(".journal")]
    np.testing.assert_array_equal(reader.array("emg")[2], expected_emg(2))
    assert reader.recover() == ["emg"]  # the array whose HDF5 write failed
    with h5py.File(tmp_path / "task" / "emg.hdf5", "r") as f:
        np.testing.assert_array_equal(f["2"][()], expected_emg(2))
        assert sorted(f.keys()) == ["0", "1", "2"]


def test_pickles_round_trip_and_are_not_overwritten_silently(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    writer.pickle({"a": [1, 2]}, "state")
    with pytest.raises(FileExistsError):
        writer.pickle({"a": 3}, "state")
    writer.pickle({"a": 3}, "state", overwrite=True)
    assert TaskReader(tmp_path / "task").pickle("state") == {"a": 3}
    with pytest.raises(ValueError, match="pickle name"):
        writer.pickle(1, "../evil")
    with pytest.raises(FileNotFoundError, match="missing"):
        TaskReader(tmp_path / "task").pickle("missing")


def test_reading_a_task_never_unpickles(tmp_path, monkeypatch):
    write_task(tmp_path / "task", 2).close()
    TaskWriter.pickle(TaskWriter(tmp_path / "other"), [1], "obj")

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickled without being asked")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    reader = TaskReader(tmp_path / "task")
    reader.trials, reader.array("emg"), reader.array_names, reader.stream_names


def test_task_reader_docstring_warns_about_pickles():
    assert "runs code" in TaskReader.pickle.__doc__


def test_closed_task_refuses_writes(tmp_path):
    writer = write_task(tmp_path / "task", 1)
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(make_trial(1))


def test_trials_without_the_array_yield_none_and_block_stacking(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    writer.write(Trial({"trial": 0}))  # no arrays at all
    writer.write(make_trial(1))
    writer.close()
    reader = TaskReader(tmp_path / "task")
    first, second = reader.iterarray("emg")
    assert first is None
    np.testing.assert_array_equal(second, expected_emg(1))
    emg = reader.array("emg")
    assert np.isnan(emg[0]).all()
    np.testing.assert_array_equal(emg[1], expected_emg(1))
    assert reader.array_shapes("emg") == [None, (8, 15)]


def test_array_of_mixed_dtypes_widens(tmp_path):
    writer = TaskWriter(tmp_path / "task")
    for data in (np.array([1, 2], dtype=np.int32), np.array([0.5, 1.5])):
        trial = Trial({})
        trial.arrays["v"] = data
        writer.write(trial)
    writer.close()
    stacked = TaskReader(tmp_path / "task").array("v")
    assert stacked.dtype == np.float64 and stacked.tolist() == [[1.0, 2.0], [0.5, 1.5]]


def test_read_hdf5_works_while_the_writer_has_the_file_open(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    writer = write_task(tmp_path / "task", 2)
    writer._arrays["emg"]._file.flush()  # what the once-a-second flush does
    path = tmp_path / "task" / "emg.hdf5"
    np.testing.assert_array_equal(read_hdf5(path, "1"), expected_emg(1))
    repo = Path(__file__).resolve().parents[2]
    code = (
        "import sys; from rigbook.storage import read_hdf5; "
        "print(read_hdf5(sys.argv[1], '1').sum())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(repo)), timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == expected_emg(1).sum()
    writer.close()


def test_a_dropped_writer_still_finishes_its_files(tmp_path):
    import gc

    writer = write_task(tmp_path / "task", 2)
    del writer
    gc.collect()
    assert not list((tmp_path / "task").glob(".*.journal"))  # HDF5 complete, journal dropped
    with h5py.File(tmp_path / "task" / "emg.hdf5", "r") as f:
        np.testing.assert_array_equal(f["1"][()], expected_emg(1))


def test_writer_left_open_at_exit_is_finished(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, numpy as np; from rigbook.storage import TaskWriter, Trial\n"
        "w = TaskWriter(sys.argv[1])\n"
        "t = Trial({'trial': 0}); t.add_array('emg').stack(np.ones((2, 3)))\n"
        "w.write(t)\n"  # no close: the interpreter exit must finish the files
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "task")],
        check=True, env=dict(os.environ, PYTHONPATH=str(repo)), timeout=60,
    )
    assert not list((tmp_path / "task").glob(".*.journal"))
    with h5py.File(tmp_path / "task" / "emg.hdf5", "r") as f:
        assert f["0"][()].tolist() == [[1.0] * 3] * 2
