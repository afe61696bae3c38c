"""Natural naming, shortcuts, ambiguity, both pypet spellings, links."""

import pickle

import pytest

from rigbook.trajectory import NotUniqueNodeError, Parameter, PickleResult, Result, Trajectory, cartesian_product
from rigbook.trajectory.naturalnaming import ParameterGroup, ResultGroup


@pytest.fixture
def traj():
    traj = Trajectory("names", add_time=False, comment="c")
    traj.f_add_parameter("starwars.characters.han_solo", "Harrison Ford")
    traj.f_add_parameter("starwars.characters.luke", "Mark Hamill", comment="force")
    traj.f_add_config("ncores", 2)
    traj.f_add_derived_parameter("derived.d", 3.5)
    traj.f_add_result("analysis.mean", 1.25, std=0.5)
    return traj


def test_natural_naming_paths_and_shortcuts(traj):
    assert traj.parameters.starwars.characters.han_solo == "Harrison Ford"
    assert traj.han_solo == "Harrison Ford"
    assert traj["starwars.characters.luke"] == "Mark Hamill"
    assert traj.par.starwars.characters.luke == "Mark Hamill"
    assert traj.conf.ncores == 2
    assert traj.dpar.derived.d == 3.5
    # A result with several items stays a Result (pypet's fast-access rule);
    # one holding a single item named like itself gives its value.
    assert isinstance(traj.res.analysis.mean, Result)
    assert (traj.res.analysis.mean.mean, traj.res.analysis.mean.std) == (1.25, 0.5)
    traj.f_add_result("analysis.median", 1.0)
    assert traj.res.analysis.median == 1.0
    assert isinstance(traj.characters, ParameterGroup)
    assert traj.f_get("luke").v_full_name == "parameters.starwars.characters.luke"
    assert traj.f_get("luke", fast_access=True) == "Mark Hamill"


def test_ambiguous_shortcut_raises_not_unique(traj):
    traj.f_add_parameter_group("spaceballs.characters")
    with pytest.raises(NotUniqueNodeError, match="characters"):
        traj.characters
    with pytest.raises(NotUniqueNodeError):
        traj.f_get("characters")
    assert traj.starwars.characters.luke == "Mark Hamill"
    # NotUniqueNodeError is an AttributeError, as in pypet
    assert not hasattr(traj, "characters")


def test_missing_name_is_attribute_error(traj):
    with pytest.raises(AttributeError, match="nope"):
        traj.nope
    with pytest.raises(AttributeError):
        traj.f_get("starwars.nope")
    assert traj.f_get_default("nope", 7) == 7


def test_fast_access_off_returns_items(traj):
    traj.v_fast_access = False
    assert isinstance(traj.luke, Parameter)
    assert traj.luke.f_get() == "Mark Hamill"
    traj.vars.fast_access = True
    assert traj.luke == "Mark Hamill"


def test_func_and_vars_spelling(traj):
    traj.func.add_parameter("x", 1)
    assert traj.vars.name == "names"
    assert traj.parameters.f_get("x").vars.full_name == "parameters.x"
    assert traj.f_get("luke").vars.comment == "force"


def test_node_properties(traj):
    luke = traj.f_get("luke")
    assert (luke.v_name, luke.v_location, luke.v_depth, luke.v_branch) == (
        "luke", "parameters.starwars.characters", 4, "parameters")
    assert luke.v_is_leaf and not traj.characters.v_is_leaf
    assert traj.v_is_root and traj.f_get_root() is traj and traj.characters.f_get_root() is traj
    assert luke.v_run_branch == "trajectory"
    assert not luke.v_stored
    assert traj.characters.f_children() == 2 and traj.characters.f_has_children()
    assert set(traj.characters.f_get_children()) == {"han_solo", "luke"}
    assert traj.f_contains("luke", shortcuts=True) and not traj.f_contains("luke")
    assert traj.parameters.f_contains("starwars.characters.luke")
    assert luke in traj.parameters
    assert [n.v_name for n in traj.parameters.f_iter_leaves()] == ["luke", "han_solo"] or \
        sorted(n.v_name for n in traj.parameters.f_iter_leaves()) == ["han_solo", "luke"]
    assert traj.parameters.f_to_dict(fast_access=True, short_names=True) == {"han_solo": "Harrison Ford", "luke": "Mark Hamill"}
    assert traj.f_get_all("luke") == [luke]
    assert traj.f_get_parameters(fast_access=True)["parameters.starwars.characters.luke"] == "Mark Hamill"
    assert list(traj.f_get_config()) == ["config.ncores"]
    assert list(traj.f_get_derived_parameters()) == ["derived_parameters.derived.d"]
    assert list(traj.f_get_results()) == ["results.analysis.mean"]


def test_annotations(traj):
    luke = traj.f_get("luke")
    luke.f_set_annotations(jedi=True, 回="unicode", n=2**40)
    luke.v_annotations.side = "light"
    assert luke.f_get_annotations("jedi", "side") == (True, "light")
    assert luke.v_annotations.回 == "unicode"
    assert "jedi=True" in luke.f_ann_to_str()
    with pytest.raises(TypeError):
        luke.v_annotations.bad = object()


@pytest.mark.parametrize("bad", ["", "../evil", "a/b", "with space", "f_get", "v_name", "_private", "1abc"])
def test_bad_names_are_refused(traj, bad):
    with pytest.raises(ValueError, match="name"):
        traj.f_add_parameter(f"group.{bad}" if bad else "group.", 1)
    assert "group" not in traj.parameters.f_get_children()


def test_existing_leaf_cannot_be_added_twice(traj):
    with pytest.raises(AttributeError, match="already exists"):
        traj.f_add_parameter("starwars.characters.luke", "other")
    assert traj.luke == "Mark Hamill"


def test_constructor_and_instance_forms(traj):
    traj.f_add_result(PickleResult, "pickled.thing", {1, 2})
    assert isinstance(traj.f_get("pickled.thing"), PickleResult)
    traj.f_add_result(Result("made.outside", 5, comment="c"))
    assert traj.results.made.outside == 5
    traj.results.f_add_result_group("more.groups", comment="g")
    assert isinstance(traj.results.more.groups, ResultGroup)
    assert traj.results.more.groups.v_comment == "g"


def test_links(traj):
    traj.f_add_link("hero", traj.f_get("luke"))
    assert traj.hero == "Mark Hamill"
    traj.parameters.starwars.alias = traj.f_get("han_solo")
    assert traj.parameters.starwars.alias == "Harrison Ford"
    traj.f_remove_link("hero")
    with pytest.raises(AttributeError):
        traj.hero


def test_setting_a_leaf_by_attribute(traj):
    traj.parameters.starwars.characters.luke = "Someone else"
    assert traj.luke == "Someone else"


def test_as_run_restricts_search_to_the_run():
    traj = Trajectory("runs", add_time=False)
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2, 3]})
    for run in traj.f_iter_runs():
        traj.f_add_result("z", traj.x * 10)
        traj.f_add_derived_parameter("dz", traj.x + 0.5)
    assert traj.v_idx == -1
    with pytest.raises(NotUniqueNodeError):
        traj.z
    assert traj.run_00000001.z == 20
    assert traj.run_00000001.dz == 2.5
    traj.f_as_run("run_00000002")
    assert traj.z == 30 and traj.x == 3 and traj.dz == 3.5
    assert traj.crun.z == 30
    assert traj.results.runs.run_00000000.z == 10  # explicit runs stay reachable
    assert traj.f_get("results.runs.crun.z").v_full_name == "results.runs.run_00000002.z"
    traj.v_idx = -1
    assert traj.x == 1


def test_results_added_during_run_go_below_the_run():
    traj = Trajectory("runs", add_time=False)
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2]})
    traj.f_set_crun(1)
    res = traj.f_add_result("sub.z", 1)
    group = traj.f_add_result_group("grp")
    dp = traj.f_add_derived_parameter("dp", 2)
    assert res.v_full_name == "results.runs.run_00000001.sub.z"
    assert group.v_full_name == "results.runs.run_00000001.grp"
    assert dp.v_full_name == "derived_parameters.runs.run_00000001.dp"
    assert res.v_run_branch == "run_00000001"
    traj.f_restore_default()
    assert traj.f_add_result("runs.$.w", 1).v_full_name == "results.runs.run_ALL.w"


def test_iteration_during_as_run_skips_other_runs():
    traj = Trajectory("it", add_time=False)
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2, 3]})
    for run in traj.f_iter_runs():
        traj.f_add_result("z", 1)
    traj.f_as_run(1)
    leaves = [n.v_full_name for n in traj.results.f_iter_leaves()]
    assert leaves == ["results.runs.run_00000001.z"]


def test_trajectory_pickles_without_open_file(tmp_path):
    traj = Trajectory("p", add_time=False, filename=str(tmp_path / "p.hdf5"))
    traj.f_add_parameter("x", 1)
    traj.f_explore(cartesian_product({"x": [1, 2]}))
    traj.f_store()
    from rigbook.trajectory import pypetconstants as pc

    traj.v_storage_service.store(pc.OPEN_FILE, None)
    assert traj.v_storage_service.is_open
    copy = pickle.loads(pickle.dumps(traj))
    traj.v_storage_service.store(pc.CLOSE_FILE, None)
    assert not copy.v_storage_service.is_open
    assert copy.x == 1 and copy.f_get("x").f_get_range() == (1, 2)
    assert copy.v_filename == traj.v_filename


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(name=st.one_of(st.text(min_size=0, max_size=10), st.lists(st.sampled_from(['par','res','dpar','conf','crun','$','runs','run_00000001','x','parameters','results','f_x','_']), min_size=1, max_size=4).map('.'.join)))
def test_any_name_is_refused_cleanly_or_usable(name):
    traj = Trajectory("n", add_time=False)
    try:
        node = traj.f_add_parameter(name, 1)
    except ValueError as error:
        assert "name" in str(error)
        assert traj.parameters.f_children() == 0
        return
    assert node.v_full_name.startswith("parameters.")
    assert traj.f_get(node.v_full_name, shortcuts=False) is node
    assert traj.f_get(node.v_full_name, fast_access=True) == 1
    if name.split(".")[-1] not in ("crun", "$"):
        assert node.v_name == name.split(".")[-1]


@pytest.mark.parametrize("comment", ["nul \x00 inside", "lone \ud800"])
def test_comments_hdf5_cannot_store_are_refused(comment):
    traj = Trajectory("c", add_time=False)
    with pytest.raises(ValueError, match="comment"):
        traj.f_add_parameter("p", 1, comment=comment)
    assert traj.parameters.f_children() == 0


def test_assigning_new_nodes_adds_them():
    traj = Trajectory("assign", add_time=False)
    traj.par.x = Parameter("x", 3, "I am x!")
    traj.res.r = Result("r", 1, extra=2)
    assert traj.x == 3 and traj.f_get("x").v_full_name == "parameters.x"
    assert traj.f_get("results.r").extra == 2
    traj.par.alias = traj.f_get("x")  # a node already in the tree becomes a link
    assert traj.par.f_has_link("alias") and traj.par.alias == 3
