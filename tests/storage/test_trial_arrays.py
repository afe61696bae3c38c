"""Trial arrays: labelled, ragged trials, never confused with stream exports, AxoPy's API."""

import json

import h5py
import numpy as np
import pyarrow as pa
import pytest

from rigbook.storage import Array, Storage, TaskReader, TaskWriter, Trial, export_stream


def tracked_trial(i, n_samples):
    trial = Trial({"trial": i})
    samples = np.vstack([np.arange(n_samples) / 500.0, np.full(n_samples, i), np.zeros(n_samples)])
    trial.add_array("trial_tracker", data=samples, stack_axis=1, fields=["t", "x", "y"],
                    time_field="t", units={"t": "s", "x": "mm", "y": "mm"})
    return trial


def test_labels_are_hdf5_attributes_a_plain_reader_sees(tmp_path):
    with TaskWriter(tmp_path / "task") as task:
        task.write(tracked_trial(0, 10))
    with h5py.File(tmp_path / "task" / "trial_tracker.hdf5", "r") as f:
        assert f.attrs["rigbook_trial_array"] == 1
        assert list(f.attrs["fields"]) == ["t", "x", "y"]
        assert f.attrs["time_field"] == "t"
        assert f.attrs["field_axis"] == 0
        assert json.loads(f.attrs["units"]) == {"t": "s", "x": "mm", "y": "mm"}
        assert f["0"].shape == (3, 10)
    labels = TaskReader(tmp_path / "task").array_labels("trial_tracker")
    assert labels["fields"] == ["t", "x", "y"] and labels["units"]["x"] == "mm"


def test_repetitions_one_sample_apart_read_back_padded(tmp_path):
    with TaskWriter(tmp_path / "task") as task:
        for i, n in enumerate((250, 251, 250)):
            task.write(tracked_trial(i, n))
    reader = TaskReader(tmp_path / "task")
    stacked = reader.array("trial_tracker")
    assert stacked.shape == (3, 3, 251)
    assert np.isnan(stacked[0, :, 250]).all() and not np.isnan(stacked[1]).any()
    assert [s[1] for s in reader.array_shapes("trial_tracker")] == [250, 251, 250]


def test_same_lengths_keep_their_dtype(tmp_path):
    with TaskWriter(tmp_path / "task") as task:
        for i in range(3):
            trial = Trial({"trial": i})
            trial.add_array("counts", data=np.arange(4, dtype=np.int16))
            task.write(trial)
    assert TaskReader(tmp_path / "task").array("counts").dtype == np.int16


def test_stream_exports_are_not_trial_arrays(tmp_path):
    task_folder = tmp_path / "task"
    with TaskWriter(task_folder) as task:
        task.write(tracked_trial(0, 5))
        with task.stream("tracker") as log:
            log.append(pa.record_batch({"t": np.arange(3.0), "x": np.arange(3.0)}))
    export_stream(task_folder / "streams" / "tracker.arrows", "hdf5")
    assert (task_folder / "tracker.hdf5").exists()
    reader = TaskReader(task_folder)
    assert reader.array_names == ["trial_tracker"]
    with pytest.raises(ValueError, match="no trial array 'tracker'"):
        reader.array("tracker")


def test_an_array_and_a_stream_export_cannot_share_a_file(tmp_path):
    task_folder = tmp_path / "task"
    with TaskWriter(task_folder) as task:
        trial = Trial()
        trial.add_array("tracker", data=np.zeros(3))
        task.write(trial)
        with task.stream("tracker") as log:
            log.append(pa.record_batch({"t": np.arange(3.0)}))
    with pytest.raises(FileExistsError, match="tracker.hdf5"):
        export_stream(task_folder / "streams" / "tracker.arrows", "hdf5")
    assert TaskReader(task_folder).array("tracker").shape == (1, 3)


def test_labels_are_checked_where_given():
    with pytest.raises(ValueError, match="time_field 'time'"):
        Array(fields=["t", "x"], time_field="time")
    with pytest.raises(ValueError, match="'z'"):
        Array(fields=["t", "x"], units={"z": "mm"})
    with pytest.raises(TypeError, match="fields"):
        Array(fields="tx")


def test_fields_must_match_the_rows(tmp_path):
    with TaskWriter(tmp_path / "task") as task:
        trial = Trial({"trial": 0})
        trial.add_array("a", data=np.zeros((2, 5)), fields=["t", "x", "y"])
        with pytest.raises(ValueError, match="3 fields"):
            task.write(trial)
        assert len(task.trials) == 0


def test_axopy_array_and_add_array_with_data():
    array = Array(data=np.ones((2, 3)), stack_axis=1)
    array.stack(np.zeros((2, 1)))
    assert array.data.shape == (2, 4)
    trial = Trial({"trial": 0})
    added = trial.add_array("emg", data=np.ones((4, 2)), stack_axis=0)
    assert added.stack_axis == 0 and trial.arrays["emg"].data.shape == (4, 2)
    assert Array(None, 0).data is None


def test_closing_a_replaced_tasks_writer_leaves_the_new_task_alone(tmp_path):
    storage = Storage(tmp_path, allow_overwrite=True)
    storage.subject_id = "s"
    w1 = storage.create_task("t")
    trial = Trial({"version": "old"})
    trial.add_array("a", data=np.zeros(3))
    w1.write(trial)
    w2 = storage.create_task("t")
    trial = Trial({"version": "new"})
    trial.add_array("a", data=np.ones(3))
    w2.write(trial)
    w1.close()
    assert (tmp_path / "s" / "t" / ".a.journal").exists()  # still the new writer's
    w2.close()
    new = storage.require_task("t")
    assert new.trials["version"].tolist() == ["new"]
    np.testing.assert_array_equal(new.array("a"), [[1.0, 1.0, 1.0]])
    (old_folder,) = (tmp_path / ".replaced" / "s").iterdir()
    old = TaskReader(old_folder)
    assert old.trials["version"].tolist() == ["old"]
    np.testing.assert_array_equal(old.array("a"), [[0.0, 0.0, 0.0]])
    assert old.journal_only_arrays == []


def test_killed_writer_says_the_array_is_only_in_the_journal(tmp_path):
    task = TaskWriter(tmp_path / "task")
    task.write(tracked_trial(0, 4))
    reader = TaskReader(tmp_path / "task")
    assert reader.journal_only_arrays == ["trial_tracker"]
    assert reader.array("trial_tracker").shape == (1, 3, 4)
    task.close()
    assert reader.journal_only_arrays == []


def test_recover_keeps_the_labels(tmp_path):
    task = TaskWriter(tmp_path / "task")
    task.write(tracked_trial(0, 4))
    (tmp_path / "task" / "trial_tracker.hdf5").write_bytes(b"torn")  # what a kill can leave
    reader = TaskReader(tmp_path / "task")
    assert reader.array_names == ["trial_tracker"]
    assert reader.recover() == ["trial_tracker"]
    with h5py.File(tmp_path / "task" / "trial_tracker.hdf5", "r") as f:
        assert list(f.attrs["fields"]) == ["t", "x", "y"]
    task._finalizer.detach()


def test_an_array_named_like_an_existing_export_is_refused_and_not_listed(tmp_path):
    task_folder = tmp_path / "task"
    with TaskWriter(task_folder) as task:
        with task.stream("tracker") as log:
            log.append(pa.record_batch({"t": np.arange(3.0)}))
        export_stream(task_folder / "streams" / "tracker.arrows", "hdf5")
        before = (task_folder / "tracker.hdf5").read_bytes()
        trial = Trial()
        trial.add_array("tracker", data=np.zeros(3))
        with pytest.raises(FileExistsError, match="tracker.hdf5"):
            task.write(trial)
    assert (task_folder / "tracker.hdf5").read_bytes() == before
    assert TaskReader(task_folder).array_names == []
