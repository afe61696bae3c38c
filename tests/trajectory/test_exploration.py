"""Parameters, locking, presets, exploration, run information."""

import numpy as np
import pytest

from rigbook.trajectory import (
    ArrayParameter,
    ParameterLockedException,
    PresettingError,
    Trajectory,
    cartesian_product,
)


def make():
    traj = Trajectory("explore", add_time=False)
    traj.f_add_parameter("a", 1)
    traj.f_add_parameter("b", 1.0)
    return traj


def test_cartesian_product_last_key_fastest():
    assert cartesian_product({"a": [1, 2], "b": ["x", "y", "z"]}) == {
        "a": [1, 1, 1, 2, 2, 2], "b": ["x", "y", "z", "x", "y", "z"]}
    combined = cartesian_product({"a": [1, 2], "b": [3, 4], "c": [0, 9]}, [("a", "b"), "c"])
    assert combined == {"a": [1, 1, 2, 2], "b": [3, 3, 4, 4], "c": [0, 9, 0, 9]}
    with pytest.raises(ValueError):
        cartesian_product({"a": [1, 2], "b": [3]}, [("a", "b")])


def test_explore_needs_equal_lengths_and_parameters():
    traj = make()
    with pytest.raises(ValueError, match="same length"):
        traj.f_explore({"a": [1, 2], "b": [1.0]})
    traj.f_add_result("r", 1)
    with pytest.raises(ValueError, match="only parameters"):
        traj.f_explore({"r": [1, 2]})
    with pytest.raises(AttributeError, match="nope"):
        traj.f_explore({"nope": [1]})
    with pytest.raises(TypeError, match="float64"):
        traj.f_explore({"b": np.arange(2.0)})  # numpy floats for a python float parameter
    traj.f_explore({"a": [1, 2, 3], "b": np.arange(3.0).tolist()})
    assert len(traj) == 3
    assert traj.f_get_run_names() == ["run_00000000", "run_00000001", "run_00000002"]
    assert traj.f_idx_to_run(2) == "run_00000002" and traj.f_idx_to_run("run_00000002") == 2


def test_explore_after_store_is_type_error_use_expand(tmp_path):
    traj = make()
    traj.v_storage_service = None
    traj = Trajectory("e", add_time=False, filename=str(tmp_path / "e.hdf5"))
    traj.f_add_parameter("a", 1)
    traj.f_explore({"a": [1, 2]})
    traj.f_store()
    with pytest.raises(TypeError, match="f_expand"):
        traj.f_explore({"a": [5, 6]})
    traj.f_expand({"a": [3, 4]})
    assert traj.f_get("a").f_get_range() == (1, 2, 3, 4)
    traj.f_store()
    loaded = Trajectory(filename=str(tmp_path / "e.hdf5"))
    loaded.f_load(name="e")
    assert len(loaded) == 4 and loaded.f_get("a").f_get_range() == (1, 2, 3, 4)
    with pytest.raises(TypeError, match="stored"):
        traj.f_shrink()


def test_expand_must_cover_every_explored_parameter():
    traj = make()
    traj.f_explore({"a": [1, 2], "b": [1.0, 2.0]})
    with pytest.raises(TypeError, match="parameters.b"):
        traj.f_expand({"a": [3]})
    traj.f_shrink()
    assert len(traj) == 1 and not traj.f_get("a").v_explored


def test_locking_during_a_run():
    traj = make()
    traj.f_explore({"a": [1, 2]})
    traj.f_set_crun(0)
    assert traj.b == 1.0
    with pytest.raises(ParameterLockedException):
        traj.f_get("b").f_set(3.0)
    traj.f_restore_default()
    traj.f_get("b").f_set(3.0)
    assert traj.b == 3.0
    traj.f_lock_parameters()
    with pytest.raises(ParameterLockedException, match="parameters.a"):
        traj.f_get("a").f_empty()


def test_presets():
    traj = Trajectory("presets", add_time=False)
    traj.f_preset_parameter("group.p", 44)
    traj.f_preset_config("c", "x")
    traj.f_add_parameter("group.p", 11)
    traj.f_add_config("c", "default")
    assert traj.group.p == 44 and traj.c == "x"
    traj._prepare_experiment()
    traj.f_preset_parameter("never", 1)
    with pytest.raises(PresettingError, match="parameters.never"):
        traj._prepare_experiment()


def test_find_idx_and_run_information():
    traj = make()
    traj.f_explore(cartesian_product({"a": [1, 2, 3, 4], "b": [1.0, 2.0]}))
    assert list(traj.f_find_idx(["a", "b"], lambda a, b: a == 2 or b == 2.0)) == [1, 2, 3, 5, 7]
    assert not traj.f_is_completed()
    traj.f_set_crun(3)
    traj._set_start()
    traj._set_finish()
    traj.f_restore_default()
    info = traj.f_get_run_information(3)
    assert info["completed"] == 1 and info["idx"] == 3 and info["name"] == "run_00000003"
    assert "a: 2" in info["parameter_summary"]
    assert traj.f_is_completed(3) and not traj.f_is_completed("run_00000002")
    assert len(traj.f_get_run_information()) == 8


def test_array_parameter_and_ranges():
    traj = Trajectory("arr", add_time=False)
    traj.f_add_parameter(ArrayParameter, "arr", np.zeros(3))
    traj.f_explore({"arr": [np.zeros(3), np.ones(3)]})
    traj.f_as_run(1)
    assert np.array_equal(traj.arr, np.ones(3))
    with pytest.raises(TypeError):
        traj.f_get("arr").f_expand([np.zeros(3, dtype=np.int64)])


def test_is_empty():
    traj = Trajectory("empty", add_time=False)
    traj.f_add_config("c", 1)
    assert traj.f_is_empty()
    traj.f_add_parameter("p", 1)
    assert not traj.f_is_empty()


def test_remove_items_from_memory():
    traj = make()
    traj.f_add_result("deep.group.r", 1)
    traj.f_remove_item("deep.group.r", remove_empty_groups=True)
    assert "deep" not in traj.results.f_get_children()
    traj.f_explore({"a": [1, 2]})
    traj.f_remove_item("a")  # pypet: removing the only explored parameter leaves a single run
    assert len(traj) == 1 and traj.f_get_explored_parameters() == {}


def test_get_from_runs_derived_parameters_both_spellings():
    traj = make()
    traj.f_explore({"a": [1, 2, 3]})
    for run in traj.f_iter_runs():
        traj.f_add_derived_parameter("d", traj.a * 1.5)
    assert list(traj.f_get_from_runs("d", "d", True, True).values()) == [1.5, 3.0, 4.5]
    assert list(traj.f_get_from_runs("d", where="derived_parameters", fast_access=True)) == [
        "run_00000000", "run_00000001", "run_00000002"]
    assert traj.f_get_from_runs("nothing_here") == {}
    with pytest.raises(ValueError, match="where"):
        traj.f_get_from_runs("d", where="config")
