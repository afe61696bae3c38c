"""pypet's tutorial flow, written as a pypet user would, against rigbook.trajectory."""

import h5py
import numpy as np
import pytest

from rigbook.trajectory import Trajectory, cartesian_product


def multiply(traj):
    z = traj.x * traj.y
    traj.f_add_result("z", z, comment="Result of our simulation!")


@pytest.fixture
def stored_tutorial(tmp_path):
    filename = tmp_path / "hdf5" / "example_01.hdf5"
    traj = Trajectory("Multiplication", filename=str(filename), file_title="Example_01_First_Steps",
                      comment="I am a simple example!")
    traj.f_add_parameter("x", 1.0, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1.0, comment="I am the second dimension!")
    traj.f_explore(cartesian_product({"x": [1.0, 2.0, 3.0, 4.0], "y": [6.0, 7.0, 8.0]}))
    for run_name in traj.f_iter_runs():
        multiply(traj)
    traj.f_store()
    return filename, traj


def test_reload_reads_run_results(stored_tutorial):
    filename, original = stored_tutorial
    traj = Trajectory(filename=str(filename))
    traj.f_load(index=-1, load_parameters=2, load_results=2)
    assert traj.v_name == original.v_name
    assert len(traj) == 12
    assert traj.run_00000001.z == 7.0
    assert traj.res.runs.run_00000011.z == 32.0
    assert traj.results.runs.run_00000004.f_get("z").v_comment == "Result of our simulation!"
    assert traj.f_get_explored_parameters().keys() == {"parameters.x", "parameters.y"}
    assert list(traj.f_get_range()) == list(original.f_get_range())
    zs = traj.f_get_from_runs("z", fast_access=True, use_indices=True)
    assert list(zs.values()) == [x * y for x in [1.0, 2.0, 3.0, 4.0] for y in [6.0, 7.0, 8.0]]


def test_as_run_gives_run_values(stored_tutorial):
    filename, _ = stored_tutorial
    traj = Trajectory(filename=str(filename))
    traj.f_load(index=-1, load_parameters=2, load_results=2)
    traj.f_as_run(5)
    assert (traj.v_idx, traj.v_as_run) == (5, "run_00000005")
    assert (traj.x, traj.y, traj.z) == (2.0, 8.0, 16.0)
    traj.f_as_run(None)
    assert traj.v_idx == -1 and traj.x == 1.0


def test_file_is_plain_hdf5(stored_tutorial):
    filename, traj = stored_tutorial
    with h5py.File(filename, "r") as f:
        group = f[traj.v_name]
        assert group.attrs["rigbook_format"] == 1
        column = group["_run_data/results/z/z"]
        assert column["run_idx"][...].tolist() == list(range(12))
        assert np.array_equal(column["values"][...], [x * y for x in [1.0, 2.0, 3.0, 4.0] for y in [6.0, 7.0, 8.0]])
        assert group["parameters/x"].attrs["data"] == 1.0
        assert group["_overview/explored_parameters_overview/name"].asstr()[...].tolist() == ["parameters.x", "parameters.y"]
        # runs are columns, not thousands of groups
        assert "runs" not in group["results"] or len(group["results/runs"]) == 0


def test_skeleton_then_items(stored_tutorial):
    filename, _ = stored_tutorial
    traj = Trajectory(filename=str(filename))
    traj.f_load(index=-1)  # default: results as skeleton
    leaf = traj.f_get("results.runs.run_00000002.z")
    assert leaf.f_is_empty()
    traj.f_load_item(leaf)
    assert leaf.z == 8.0
