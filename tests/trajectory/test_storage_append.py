"""Storing one run into a file that already holds many touches only that run's rows.

A LOCK-mode worker opens the file, stores one run (``SINGLE_RUN``) and closes
it. If that read or rewrote whole run-information or column tables, the cost
of every store would grow with the runs already stored. These tests record
the h5py dataset reads and slice writes while one run is stored and check
that nothing of the other runs is read or written, and compare every dataset
before and after: other runs' rows are unchanged and per-run columns only
grew by the new row (numeric appends use h5py's low-level write, which only
the before/after comparison sees).
"""

import pickle

import h5py
import numpy as np
import pytest

from rigbook.trajectory import HDF5StorageService, Trajectory, pypetconstants as pc

STORED = 300


def _run(traj, idx):
    traj.f_set_crun(idx)
    traj.f_add_result("summary", mean=idx * 0.5, count=idx, label=f"run {idx}")
    traj.f_add_derived_parameter("half", idx / 2)
    traj._set_finish()
    payload = traj._run_payload(store_final=True)
    traj.f_restore_default()
    return payload


@pytest.fixture
def filled(tmp_path):
    """A trajectory of STORED + 2 runs whose first STORED runs are on disk, and a worker's copy of its service."""
    filename = tmp_path / "many.hdf5"
    traj = Trajectory("traj", add_time=False)
    service = HDF5StorageService(str(filename), trajectory=traj)
    traj.v_storage_service = service
    traj.f_add_parameter("x", 0.0)
    traj.f_explore({"x": [float(i) for i in range(STORED + 2)]})
    traj.f_store()
    service.store(pc.OPEN_FILE, None, trajectory_name="traj")
    for idx in range(STORED):
        service.store(pc.SINGLE_RUN, _run(traj, idx), store_final=True)
    service.store(pc.CLOSE_FILE, None)
    worker = pickle.loads(pickle.dumps(service))
    return traj, worker, filename


def _rows(dataset, key):
    """Row positions a dataset selection covers (first axis)."""
    if not isinstance(key, tuple):
        key = (key,)
    first = key[0] if key else Ellipsis
    rows = np.arange(dataset.shape[0]) if dataset.shape else np.arange(1)
    if first is Ellipsis:
        return rows
    return np.atleast_1d(rows[first])


@pytest.fixture
def recorded(monkeypatch):
    """Every Dataset read and write as ``(kind, dataset name, length before, rows)``."""
    calls = []
    read, write = h5py.Dataset.__getitem__, h5py.Dataset.__setitem__

    def recording_read(self, args, *more, **kwargs):
        calls.append(("read", self.name, self.shape[0] if self.shape else 0, _rows(self, args)))
        return read(self, args, *more, **kwargs)

    def recording_write(self, args, value):
        calls.append(("write", self.name, self.shape[0] if self.shape else 0, _rows(self, args)))
        return write(self, args, value)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording_read)
    monkeypatch.setattr(h5py.Dataset, "__setitem__", recording_write)
    return calls


def _snapshot(filename):
    data = {}
    with h5py.File(filename, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data[name] = obj[...]
        f.visititems(visit)
    return data


def test_storing_one_run_reads_and_writes_only_its_own_rows(filled, recorded):
    traj, worker, filename = filled
    idx = STORED
    payload = _run(traj, idx)
    worker.store(pc.SINGLE_RUN, payload, store_final=True)
    assert not worker.is_open
    touched = [c for c in recorded if "/_runs/" in c[1] or "/_run_data/" in c[1]]
    assert any(kind == "write" and "/_runs/" in name for kind, name, _, _ in touched)
    for kind, name, length, rows in touched:
        if "/_runs/" in name:
            assert rows.tolist() == [idx], f"{kind} of rows {rows.tolist()} of {name} while storing run {idx}"
        else:
            assert kind == "write", f"{name} ({length} rows) was read while storing run {idx}"
            assert rows.min() >= length - 1, f"{name}: rows {rows.tolist()} rewritten, it had {length}"


def test_storing_one_run_leaves_every_other_run_unchanged_on_disk(filled):
    traj, worker, filename = filled
    before = _snapshot(filename)
    idx = STORED + 1
    worker.store(pc.SINGLE_RUN, _run(traj, idx), store_final=True)
    after = _snapshot(filename)
    assert set(before) <= set(after)
    for name, old in before.items():
        new = after[name]
        if "/_runs/" in name:
            assert new.shape == old.shape
            others = np.arange(len(old)) != idx
            assert new[others].tolist() == old[others].tolist(), name
        elif "/_run_data/" in name:
            assert len(new) == len(old) + 1, f"{name} grew from {len(old)} to {len(new)} rows"
            assert new[: len(old)].tolist() == old.tolist(), name
        else:
            assert new.tolist() == old.tolist(), name
    with h5py.File(filename, "r") as f:
        assert f["traj/_runs/completed"][idx] == 1
        assert f["traj/_runs/completed"][STORED] == 0
        assert f["traj/_runs/completed"][:STORED].all()


def test_runs_stored_one_by_one_in_scattered_order_load_back(filled, tmp_path):
    traj, worker, filename = filled
    for idx in (STORED + 1, STORED):
        worker.store(pc.SINGLE_RUN, _run(traj, idx), store_final=True)
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="traj", load_results=pc.LOAD_DATA, load_derived_parameters=pc.LOAD_DATA)
    assert loaded.f_is_completed()
    counts = loaded.f_get_from_runs("summary", fast_access=False, use_indices=True)
    assert {i: leaf.count for i, leaf in counts.items()} == {i: i for i in range(STORED + 2)}
    labels = [loaded.f_get_run_information(i)["parameter_summary"] for i in range(STORED + 2)]
    assert labels[STORED] and labels[STORED + 1] and all(labels)
