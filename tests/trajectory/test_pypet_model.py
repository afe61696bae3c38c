"""Issue 14, points 1-9: pypet 0.6.1's documented trajectory behaviour, checked against rigbook.trajectory."""

import logging
import os

import numpy as np
import pytest

from rigbook.trajectory import (
    ArrayParameter,
    Environment,
    NotUniqueNodeError,
    Parameter,
    PickleParameter,
    Result,
    Trajectory,
    load_trajectory,
)
from rigbook.trajectory import pypetconstants as pc


def explored(name="t", filename=None, values=(1, 2, 3)):
    traj = Trajectory(name, add_time=False, filename=None if filename is None else str(filename))
    traj.f_add_parameter("x", values[0])
    traj.f_explore({"x": list(values)})
    return traj


def load(filename, name="t", **kwargs):
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name=name, **kwargs)
    return loaded


# ------------------------------------------------------------ 1. results added through a group during a run

def add_through_group(traj):
    traj.results.f_add_result("z", traj.x * 10)
    traj.derived_parameters.f_add_derived_parameter("d", traj.x + 1)
    traj.f_add_result("runs.$.direct", traj.x)


def test_results_added_through_a_group_go_below_their_run(tmp_path):
    filename = tmp_path / "point1.hdf5"
    env = Environment(trajectory="t", filename=str(filename), log_config=None, report_progress=False)
    traj = env.trajectory
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2, 3]})
    env.run(add_through_group)
    loaded = load(filename, load_all=pc.LOAD_DATA)
    assert [loaded.f_get(f"results.runs.run_{i:08d}.z").f_get() for i in range(3)] == [10, 20, 30]
    assert loaded.f_get("derived_parameters.runs.run_00000002.d").f_get() == 4
    assert loaded.f_get("results.runs.run_00000001.direct").f_get() == 2
    assert not loaded.f_contains("results.z", shortcuts=False)


def test_auto_run_prepend_can_be_switched_off():
    traj = explored()
    traj.v_auto_run_prepend = False
    traj.v_idx = 1
    assert traj.results.f_add_result("plain", 1).v_full_name == "results.plain"
    traj.v_auto_run_prepend = True
    assert traj.results.f_add_result("inrun", 1).v_full_name == "results.runs.run_00000001.inrun"
    runs = traj.results.runs
    assert runs.f_add_result("below_runs", 1).v_full_name == "results.runs.run_00000001.below_runs"


# ------------------------------------------------------------ 2. assigning nodes to group attributes

def test_assigned_node_with_an_empty_name_takes_the_attribute_name():
    traj = Trajectory("t", add_time=False)
    traj.parameters.p = Parameter("", 42)
    assert traj.f_get("parameters.p").f_get() == 42
    assert "" not in traj.parameters.f_get_children()


def test_assigned_node_with_a_dotted_name_creates_the_groups():
    traj = Trajectory("t", add_time=False)
    traj.parameters.g = Parameter("g.sub.p", 43)
    assert traj.f_get("parameters.g.sub.p").f_get() == 43
    assert not traj.f_get("parameters.g").v_is_leaf


def test_assigned_node_whose_name_contradicts_the_attribute_is_refused():
    traj = Trajectory("t", add_time=False)
    with pytest.raises(AttributeError, match="'other'.*'p'"):
        traj.parameters.p = Parameter("other", 1)
    with pytest.raises(AttributeError, match="'pp.q'.*'p'"):
        traj.parameters.p = Parameter("pp.q", 1)  # 'pp' is not the group 'p'
    assert traj.parameters.f_get_children() == {}


def test_assigned_node_refused_by_the_tree_keeps_its_name():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter("p", 1)
    orphan = Parameter("", 2)
    with pytest.raises(AttributeError, match="already exists"):
        traj.parameters.p = orphan
    assert orphan.v_full_name == ""


def test_assigning_values_and_items():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter("g.x", 1)
    traj.f_add_result("several", a=1, b=2)
    traj.parameters["g.x"] = 5
    assert traj.x == 5
    with pytest.raises(AttributeError, match="several items"):
        traj.results.several = 3
    traj.par.alias = traj.f_get("x")  # a node of the tree becomes a link
    assert traj.parameters.f_has_link("alias")


# ------------------------------------------------------------ 3. cyclic links

def cyclic(filename=None):
    traj = Trajectory("t", add_time=False, filename=None if filename is None else str(filename))
    traj.f_add_parameter("a.x", 1)
    traj.f_add_parameter("b.y", 2)
    traj.parameters.a.f_add_link("to_b", traj.parameters.b)
    traj.parameters.b.f_add_link("to_a", traj.parameters.a)
    return traj


def test_cyclic_links_end_in_iteration():
    traj = cyclic()
    names = [n.v_full_name for n in traj.parameters.f_iter_nodes()]
    assert sorted(set(names)) == ["parameters.a", "parameters.a.x", "parameters.b", "parameters.b.y"]
    leaves = sorted(n.v_full_name for n in traj.parameters.f_iter_leaves())
    assert leaves == ["parameters.a.x", "parameters.b.y"]


def test_cyclic_links_store_and_load(tmp_path):
    filename = tmp_path / "cyclic.hdf5"
    cyclic(filename).f_store()
    loaded = load(filename, load_all=pc.LOAD_DATA)
    assert loaded.parameters.a.to_b.y == 2 and loaded.parameters.b.to_a.x == 1


# ------------------------------------------------------------ 5. string arrays of different lengths

@pytest.mark.parametrize("cls", [ArrayParameter, PickleParameter, Parameter])
def test_string_arrays_of_different_lengths_explore_and_round_trip(tmp_path, cls):
    filename = tmp_path / "strings.hdf5"
    values = [np.array(["a", "bb"]), np.array(["ccc", "dddd", "e"]), np.array(["much longer text"])]
    traj = Trajectory("t", add_time=False, filename=str(filename))
    traj.f_add_parameter(cls, "words", values[0])
    traj.f_explore({"words": values})
    traj.f_store()
    back = load(filename).f_get("words").f_get_range()
    assert [list(v) for v in back] == [list(v) for v in values]
    assert [v.dtype.kind for v in back] == ["U"] * 3


def test_bytes_arrays_of_different_lengths_explore():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter(ArrayParameter, "raw", np.array([b"a"]))
    traj.f_explore({"raw": [np.array([b"a"]), np.array([b"longer"])]})
    assert len(traj) == 2


def test_strings_do_not_explore_together_with_numbers():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter(ArrayParameter, "a", np.array(["x"]))
    with pytest.raises(TypeError, match="'parameters.a'"):
        traj.f_explore({"a": [np.array(["x"]), np.array([1.0])]})


# ------------------------------------------------------------ 6. wildcards

def test_set_wildcard_places_the_run_in_its_run_set():
    traj = explored()
    traj.v_idx = 1
    node = traj.f_add_result("$set.$.myresult", 42)
    assert node.v_full_name == "results.run_set_00000.run_00000001.myresult"
    assert traj.f_add_result("crunset.crun.other", 1).v_full_name == "results.run_set_00000.run_00000001.other"
    assert traj.f_get("$set.$.myresult").f_get() == 42


def test_f_wildcard_translates_for_any_run():
    traj = explored()
    assert traj.f_wildcard("$") == "run_ALL" and traj.f_wildcard("$set") == "run_set_ALL"
    assert traj.f_wildcard("$", 3) == "run_00000003"
    assert traj.f_wildcard("crunset", 2500) == "run_set_00002"
    traj.v_idx = 2
    assert traj.f_wildcard("crun") == "run_00000002"
    with pytest.raises(ValueError, match="'\\$nope'"):
        traj.f_wildcard("$nope")


def test_custom_wildcard_functions():
    def group_of(idx):
        return "pair_ALL" if idx < 0 else f"pair_{idx // 2}"

    traj = Trajectory("t", add_time=False, wildcard_functions={("$pair", "cpair"): group_of})
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": [0, 1, 2, 3]})
    traj.v_idx = 3
    assert traj.f_add_result("cpair.r", 1).v_full_name == "results.runs.run_00000003.pair_1.r"
    assert traj.f_wildcard("$pair", -1) == "pair_ALL"
    assert ("$pair", "cpair") in traj.v_wildcard_functions


def test_environment_passes_wildcard_functions(tmp_path):
    env = Environment(trajectory="t", filename=str(tmp_path / "w.hdf5"), log_config=None,
                      wildcard_functions={("$w",): lambda idx: "w_ALL" if idx < 0 else f"w{idx}"})
    assert env.trajectory.f_wildcard("$w", 4) == "w4"


# ------------------------------------------------------------ 7. f_iter_nodes(predicate=run indices)

def test_predicate_tuple_keeps_only_the_named_runs():
    traj = explored(values=(1, 2, 3, 4))
    for idx in range(4):
        traj.v_idx = idx
        traj.f_add_result("r", idx)
    traj.f_restore_default()
    traj.f_add_result("runs.run_ALL.summary", 0)
    names = {n.v_name for n in traj.results.f_iter_nodes(predicate=(1, -1))}
    assert {"run_00000001", "run_ALL"} <= names
    assert not names & {"run_00000000", "run_00000002", "run_00000003"}
    values = sorted(n.f_get() for n in traj.results.f_iter_leaves() if n.v_name == "r")
    assert values == [0, 1, 2, 3]
    kept = [n.f_get() for n in traj.results.f_iter_nodes(predicate=(1, -1)) if n.v_is_leaf]
    assert sorted(kept) == [0, 1]
    assert sorted(n.f_get() for n in traj.results.f_iter_leaves() if n.v_name == "r") == [0, 1, 2, 3]
    kept = [n.f_get() for n in traj.results.f_iter_nodes(predicate=("run_00000002",)) if n.v_is_leaf]
    assert kept == [2]
    with pytest.raises(ValueError, match="'results'"):
        list(traj.f_iter_nodes(predicate=("results",)))


def test_predicate_function_spares_the_subtree():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter("keep.x", 1)
    traj.f_add_parameter("skip.y", 2)
    names = [n.v_full_name for n in traj.parameters.f_iter_nodes(predicate=lambda n: n.v_name != "skip")]
    assert names == ["parameters.keep", "parameters.keep.x"]


# ------------------------------------------------------------ 8. smaller differences

def test_v_is_parameter():
    traj = Trajectory("t", add_time=False)
    assert traj.f_add_parameter("p", 1).v_is_parameter
    assert traj.f_add_config("c", 1).v_is_parameter
    assert not traj.f_add_result("r", 1).v_is_parameter
    assert not traj.parameters.v_is_parameter and traj.parameters.v_is_group


def test_result_f_get():
    result = Result("r", a=1, b=2)
    with pytest.raises(ValueError, match="several items"):
        result.f_get()
    assert result.f_get("a", "b") == [1, 2]
    assert Result("r", 5, other=6).f_get("r") == 5
    assert Result("single", x=3).f_get() == 3
    with pytest.raises(AttributeError, match="empty"):
        Result("empty").f_get()


def test_store_max_depth(tmp_path):
    filename = tmp_path / "depth.hdf5"
    traj = Trajectory("t", add_time=False, filename=str(filename))
    traj.f_add_result("shallow", 1)
    traj.f_add_result("deep.deeper.leaf", 2)
    traj.f_store(max_depth=2)
    loaded = load(filename, load_all=pc.LOAD_DATA)
    assert loaded.f_get("results.shallow").f_get() == 1
    assert not loaded.f_contains("results.deep.deeper.leaf", shortcuts=False)
    traj.f_store()
    assert load(filename, load_all=pc.LOAD_DATA).f_get("results.deep.deeper.leaf").f_get() == 2


def test_delete_only_with_remove_from_item(tmp_path):
    filename = tmp_path / "delete.hdf5"
    traj = Trajectory("t", add_time=False, filename=str(filename))
    traj.f_add_result("r", a=1, b=2)
    traj.f_store()
    traj.f_delete_item("r", delete_only=["a"], remove_from_item=True)
    assert traj.f_get("r").f_to_dict() == {"b": 2}
    loaded = load(filename, load_results=pc.LOAD_DATA)
    assert loaded.f_get("r").f_to_dict() == {"b": 2}
    traj.f_add_result("s", a=1, b=2)
    traj.f_store()
    traj.f_delete_item("s", delete_only=["a"])  # without remove_from_item memory keeps the item
    assert traj.f_get("s").f_to_dict() == {"a": 1, "b": 2}


def test_get_default_with_auto_load_falls_back_when_data_is_missing(tmp_path):
    filename = tmp_path / "default.hdf5"
    traj = Trajectory("t", add_time=False, filename=str(filename))
    traj.f_add_parameter("x", 1)
    traj.f_store()
    loaded = load(filename, load_all=pc.LOAD_SKELETON)
    assert loaded.f_get_default("not_there", 99, auto_load=True) == 99
    assert loaded.f_get_default("x", 99, auto_load=True) == 1


def link_tree():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter("a.x", 1)
    traj.f_add_parameter("deep.deeper.x", 2)
    traj.parameters.f_add_link("l", traj.f_get("parameters.deep.deeper"))
    return traj


def test_not_unique_through_links():
    traj = link_tree()
    with pytest.raises(NotUniqueNodeError, match="x"):
        traj.parameters.f_get("x")
    assert traj.parameters.f_get("x", with_links=False).f_get() == 1
    traj.v_with_links = False
    assert traj.parameters.x == 1


def test_link_with_dotted_name_creates_the_group():
    traj = link_tree()
    traj.f_add_link("results.shortcuts.to_a", traj.f_get("parameters.a"))
    assert traj.results.shortcuts.to_a.x == 1
    assert traj.results.shortcuts.f_links() == 1


def test_link_to_a_node_outside_the_tree_is_refused():
    traj = Trajectory("t", add_time=False)
    other = Trajectory("o", add_time=False)
    stranger = other.f_add_parameter("s", 1)
    with pytest.raises(ValueError, match="'parameters.s'.*not a node of this trajectory"):
        traj.parameters.f_add_link("s", stranger)
    with pytest.raises(ValueError, match="not a node of this trajectory"):
        traj.parameters.f_add_link("free", Parameter("free", 1))


def test_get_all_without_shortcuts_counts_consecutive_names():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter("a.b.x", 1)
    traj.f_add_parameter("c.b.x", 2)
    traj.f_add_parameter("b.d.x", 3)
    assert len(traj.f_get_all("b.x")) == 3
    assert len(traj.f_get_all("b.x", shortcuts=False)) == 2
    assert len(traj.f_get_all("x", shortcuts=False)) == 3


def test_to_dict_nested_from_a_group():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter("g.a", 1)
    traj.f_add_parameter("g.h.b", 2)
    nested = traj.parameters.g.f_to_dict(nested=True, fast_access=True)
    assert nested == {"a": 1, "h": {"b": 2}}  # pypet: from a group, keys start below it
    assert traj.f_to_dict(nested=True, fast_access=True) == {"parameters": {"g": {"a": 1, "h": {"b": 2}}}}
    with pytest.raises(ValueError, match="short_names and nested"):
        traj.parameters.f_to_dict(nested=True, short_names=True)


def test_short_add_aliases():
    traj = Trajectory("t", add_time=False)
    traj.f_aconf("c", 1)
    traj.f_apar("p", 2)
    traj.f_adpar("d", 3)
    traj.f_ares("r", 4)
    traj.parameters.f_apar("g.q", 5)
    assert [traj.c, traj.p, traj.d, traj.r, traj.q] == [1, 2, 3, 4, 5]
    assert traj.f_get("derived_parameters.d").v_full_name == "derived_parameters.d"


def test_group_navigation_helpers():
    traj = link_tree()
    group = traj.parameters
    assert group.v_root is traj and group.a.v_root is traj
    assert group.kids.a is traj.f_get("parameters.a")
    assert group.kids.l is traj.f_get("parameters.deep.deeper")
    with pytest.raises(AttributeError, match="'x'"):
        group.kids.x  # kids never search below the children
    assert sorted(group.f_dir_data()) == ["a", "deep", "l"]
    assert group.f_links() == 1
    traj.f_get("parameters.a").f_remove()
    assert "a" not in group.f_get_children() and "parameters.a.x" not in traj


def test_no_clobber_keeps_the_first_item(caplog):
    traj = Trajectory("t", add_time=False)
    traj.f_add_result("r", 1)
    with pytest.raises(AttributeError, match="already exists"):
        traj.f_add_result("r", 2)
    traj.v_no_clobber = True
    with caplog.at_level(logging.WARNING, logger="rigbook.trajectory"):
        assert traj.f_add_result("r", 2).f_get() == 1
    assert "no_clobber" in caplog.text


def test_migrate_with_pypet_filename_keyword(tmp_path):
    traj = Trajectory("t", add_time=False, filename=str(tmp_path / "old.hdf5"))
    traj.f_add_parameter("x", 7)
    traj.f_store()
    traj.f_migrate(filename=str(tmp_path / "new.hdf5"))
    traj.f_store()
    assert load(tmp_path / "new.hdf5").x == 7


def test_load_trajectory_without_run_information(tmp_path):
    filename = tmp_path / "info.hdf5"
    env = Environment(trajectory="t", filename=str(filename), log_config=None, report_progress=False)
    env.trajectory.f_add_parameter("x", 1)
    env.trajectory.f_explore({"x": [1, 2]})
    env.run(lambda traj: None)
    with_info = load_trajectory(name="t", filename=str(filename))
    assert with_info.f_is_completed()
    without = load_trajectory(name="t", filename=str(filename), with_run_information=False)
    assert len(without) == 2 and not without.f_is_completed(1)


def test_exploring_an_explored_parameter_again_is_a_type_error():
    traj = explored()
    with pytest.raises(TypeError, match="parameters.x.*f_expand"):
        traj.f_explore({"x": [4, 5, 6]})
    assert traj.f_get("x").f_get_range() == (1, 2, 3)


def test_removing_the_only_explored_parameter_leaves_one_run():
    traj = explored()
    assert len(traj) == 3
    traj.f_remove_item("x")
    assert len(traj) == 1 and list(traj.f_get_run_names()) == ["run_00000000"]


def test_set_properties():
    traj = Trajectory("t", add_time=False)
    traj.f_set_properties(fast_access=False, v_shortcuts=False)
    assert not traj.v_fast_access and not traj.v_shortcuts
    with pytest.raises(AttributeError, match="'colour'"):
        traj.f_set_properties(colour="red")


# ------------------------------------------------------------ 4. Environment keywords

def env(tmp_path, **kwargs):
    kwargs.setdefault("log_config", None)
    kwargs.setdefault("report_progress", False)
    return Environment(trajectory="t", filename=str(tmp_path / "env.hdf5"), **kwargs)


def test_environment_accepts_pypet_defaults_of_missing_features(tmp_path):
    environment = env(tmp_path, use_scoop=False, port=None, niceness=None, timeout=None, wildcard_functions=None,
                      cpu_cap=100.0, memory_cap=(100.0, 0.0), swap_cap=100, immediate_postproc=False,
                      git_message="", git_fail=False, sumatra_project=None, sumatra_reason="", sumatra_label=None,
                      do_single_runs=True, report_progress=(5, "pypet", logging.INFO))
    assert environment.v_traj is environment.trajectory


@pytest.mark.parametrize("keyword, value", [
    ("use_scoop", True), ("niceness", 10), ("cpu_cap", 50.0), ("memory_cap", (80.0, 100.0)),
    ("swap_cap", 20.0), ("git_message", "commit!"), ("sumatra_project", "/p"), ("do_single_runs", False),
    ("immediate_postproc", True), ("config", "env.ini"),
])
def test_environment_refuses_a_missing_feature_by_name(tmp_path, keyword, value):
    with pytest.raises(NotImplementedError, match=keyword):
        env(tmp_path, **{keyword: value})


def test_environment_maps_deprecated_keywords(tmp_path):
    with pytest.warns(DeprecationWarning, match="continuable"):
        environment = env(tmp_path, continuable=False, delete_continue=True, freeze_pool_input=False,
                          use_hdf5=True, pandas_append=False)
    assert environment.trajectory.v_storage_service is not None


def test_environment_passes_trajectory_properties(tmp_path):
    environment = env(tmp_path, v_with_links=False, auto_load=True)
    assert environment.trajectory.v_with_links is False and environment.trajectory.v_auto_load is True


def test_environment_ncores_zero_means_all_cores(tmp_path):
    environment = env(tmp_path, ncores=0)
    assert environment.trajectory.f_get(f"config.environment.{environment.name}.ncores").f_get() == os.cpu_count()


def test_port_without_a_network_wrap_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="port"):
        env(tmp_path, port=5555)


def test_environment_as_context_manager_closes_its_log(tmp_path):
    with Environment(trajectory="t", filename=str(tmp_path / "ctx.hdf5"), log_folder=str(tmp_path / "logs"),
                     report_progress=False) as environment:
        log_file = environment.log_file
        assert log_file is not None
        handlers = logging.getLogger("rigbook.trajectory").handlers
        assert any(getattr(h, "baseFilename", None) == str(log_file) for h in handlers)
    handlers = logging.getLogger("rigbook.trajectory").handlers
    assert not any(getattr(h, "baseFilename", None) == str(log_file) for h in handlers)


def scaled(traj, factor, offset=0):
    traj.f_add_result("y", traj.x * factor + offset)
    return traj.x * factor + offset


def test_run_map_with_pypet_signature(tmp_path):
    environment = env(tmp_path)
    environment.trajectory.f_add_parameter("x", 1)
    environment.trajectory.f_explore({"x": [1, 2, 3]})
    results = environment.run_map(scaled, [10, 20, 30], offset=iter([1, 2, 3]))
    assert results == [(0, 11), (1, 42), (2, 93)]


# ------------------------------------------------------------ 9. overwrite_file

def test_overwrite_file_removes_the_file_once_when_the_service_is_made(tmp_path):
    filename = tmp_path / "shared.hdf5"
    filename.write_bytes(b"old content that is not even HDF5")
    first = Trajectory("first", add_time=False, filename=str(filename), overwrite_file=True)
    second = Trajectory("second", add_time=False, filename=str(filename), overwrite_file=True)
    assert not filename.exists()
    first.f_add_parameter("a", 1)
    second.f_add_parameter("b", 2)
    first.f_store()
    second.f_store()
    assert load(filename, name="first").a == 1
    assert load(filename, name="second").b == 2


def test_links_loaded_from_disk_take_part_in_searches(tmp_path):
    filename = tmp_path / "links.hdf5"
    traj = link_tree()
    traj.v_storage_service = Trajectory("x", add_time=False, filename=str(filename)).v_storage_service
    traj.f_store()
    loaded = load(filename, load_all=pc.LOAD_DATA)
    assert loaded.parameters.l.x == 2
    with pytest.raises(NotUniqueNodeError):
        loaded.parameters.f_get("x")
    loaded.parameters.f_remove_link("l")
    assert loaded.parameters.f_get("x").f_get() == 1


def test_get_from_runs_finds_results_below_run_sets():
    traj = explored()
    for idx in range(3):
        traj.v_idx = idx
        traj.f_add_result("$set.$.myresult", idx * 2)
    traj.f_restore_default()
    assert list(traj.f_get_from_runs("myresult", fast_access=True).values()) == [0, 2, 4]


def test_wrap_mode_none(tmp_path):
    assert env(tmp_path, wrap_mode=pc.WRAP_MODE_NONE).trajectory is not None  # one process: nothing to wrap
    with pytest.raises(NotImplementedError, match="'NONE'"):
        env(tmp_path, wrap_mode=pc.WRAP_MODE_NONE, multiproc=True)


def test_links_do_not_leak_into_branch_dictionaries_and_overviews(tmp_path):
    import h5py

    filename = tmp_path / "overview.hdf5"
    traj = Trajectory("t", add_time=False, filename=str(filename))
    traj.f_add_parameter("p", 1)
    traj.f_add_result("deep.group.r", 2)
    traj.results.f_add_link("to_params", traj.parameters)
    traj.parameters.f_add_link("to_results", traj.results)
    assert list(traj.f_get_results()) == ["results.deep.group.r"]
    assert list(traj.f_get_parameters()) == ["parameters.p"]
    traj.f_lock_parameters()
    traj.f_store()
    with h5py.File(filename, "r") as f:
        overview = f["t/_overview/results_overview"]
        text = str(overview[...]) if hasattr(overview, "shape") else str({k: overview[k][...] for k in overview})
    assert "deep.group.r" in text and "parameters.p" not in text


def add_to_run_set(traj):
    traj.f_add_result("$set.$.myresult", traj.x * 3)


def test_run_set_results_are_stored_and_loaded(tmp_path):
    filename = tmp_path / "sets.hdf5"
    environment = Environment(trajectory="t", filename=str(filename), log_config=None, report_progress=False)
    environment.trajectory.f_add_parameter("x", 1)
    environment.trajectory.f_explore({"x": [1, 2, 3]})
    environment.run(add_to_run_set)
    loaded = load(filename, load_all=pc.LOAD_DATA)
    assert loaded.f_get("results.run_set_00000.run_00000002.myresult").f_get() == 9
    assert list(loaded.f_get_from_runs("myresult", fast_access=True).values()) == [3, 6, 9]


def multiply_through_links(traj):
    traj.f_add_result("runs.$.z", traj.mylink1 * traj.mylink2)
    traj.res.runs.crun.f_add_link("para_x", traj.f_get("par.x"))
    traj.f_add_link("res.runs.crun.sub.para_y", traj.f_get("par.y"))


@pytest.mark.parametrize("options", [{}, {"multiproc": True, "ncores": 2, "wrap_mode": pc.WRAP_MODE_QUEUE}])
def test_links_at_the_root_and_in_runs_are_stored(tmp_path, options):
    filename = tmp_path / "links14.hdf5"
    environment = Environment(trajectory="t", filename=str(filename), log_config=None, report_progress=False,
                              **options)
    traj = environment.trajectory
    traj.f_add_parameter("x", 1)
    traj.f_add_parameter("y", 1)
    traj.f_add_link("mylink1", traj.f_get("x"))
    traj.f_add_link("mylink2", traj.f_get("y"))
    traj.f_explore({"x": [1, 2, 3], "y": [6, 7, 8]})
    environment.run(multiply_through_links)
    loaded = load_trajectory(name="t", filename=str(filename), load_all=pc.LOAD_DATA)
    loaded.v_idx = 2
    assert loaded.mylink1 == 3 and loaded.mylink2 == 8
    assert loaded.res.crun.z == 24
    assert loaded.res.crun.para_x == 3 and loaded.res.crun.sub.para_y == 8
