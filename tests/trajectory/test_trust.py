"""Loading never runs code from a file: only pickles this user's Rigbook signed are unpickled."""

import os
import stat

import h5py
import pytest

from rigbook.trajectory import (
    Environment,
    PickleParameter,
    PickleResult,
    Trajectory,
    load_trajectory,
)
from rigbook.trajectory import trust
from rigbook.trajectory.resume import ResumeState
from rigbook.trajectory.trust import UntrustedPickleError


class _CreatesFile:
    """Unpickling this creates a file: the proof that a load ran code from the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _store_with_foreign_pickles(filename, payload):
    """A file as someone else's Rigbook (another key) would write it."""
    traj = Trajectory("foreign", add_time=False, filename=str(filename))
    traj.f_add_parameter(PickleParameter, "obj", payload)
    traj.f_add_result(PickleResult, "thing", payload, other={1, 2})
    traj.f_store()


@pytest.fixture
def other_user(tmp_path, monkeypatch):
    """Switch to another user's config folder (another signing key) for the duration of a block."""
    own = os.environ["RIGBOOK_CONFIG_DIR"]

    class Switch:
        def __enter__(self):
            monkeypatch.setenv("RIGBOOK_CONFIG_DIR", str(tmp_path / "other-user-config"))

        def __exit__(self, *exc):
            monkeypatch.setenv("RIGBOOK_CONFIG_DIR", own)

    return Switch()


def test_own_pickles_load_as_before(tmp_path):
    filename = tmp_path / "own.hdf5"
    traj = Trajectory("own", add_time=False, filename=str(filename))
    traj.f_add_parameter(PickleParameter, "obj", {1, 2, 3})
    traj.f_add_result(PickleResult, "thing", frozenset("ab"), other=[{1}])
    traj.f_explore({"obj": [{1}, {2, 3}]})
    traj.f_store()

    loaded = load_trajectory("own", filename=str(filename), load_all=2)
    assert loaded.f_get("obj").f_get_default() == {1, 2, 3}
    assert list(loaded.f_get("obj").f_get_range()) == [{1}, {2, 3}]
    assert loaded.results.thing.thing == frozenset("ab")
    assert loaded.results.thing.other == [{1}]


def test_key_file_is_private_and_created_once(tmp_path):
    key = trust.secret()
    path = trust.secret_path()
    assert path.parent == tmp_path / "rigbook-config"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert trust.secret() == key == path.read_bytes()


def test_crafted_class_attribute_never_runs_code(tmp_path):
    """A Parameter whose bytes are a malicious pickle, relabelled PickleParameter in the file."""
    marker = tmp_path / "marker"
    import pickle

    evil = pickle.dumps(_CreatesFile(marker))
    filename = tmp_path / "crafted.hdf5"
    traj = Trajectory("crafted", add_time=False, filename=str(filename))
    traj.f_add_parameter("evil", evil)
    traj.f_store()
    with h5py.File(filename, "r+") as f:
        group = f["crafted/parameters/evil"]
        assert "PickleParameter" not in str(group.attrs["__class__"])
        group.attrs["__class__"] = "PickleParameter"

    with pytest.raises(UntrustedPickleError, match=r"parameters\.evil.*allow_pickle=True"):
        load_trajectory("crafted", filename=str(filename))
    with pytest.raises(UntrustedPickleError, match=r"parameters\.evil"):
        fresh = Trajectory("crafted", add_time=False, filename=str(filename))
        fresh.f_load()
    assert not marker.exists()

    # Asked explicitly, the caller gets numpy's convention: their choice, their file.
    load_trajectory("crafted", filename=str(filename), allow_pickle=True)
    assert marker.exists()


def test_foreign_pickles_need_allow_pickle(tmp_path, other_user):
    filename = tmp_path / "foreign.hdf5"
    with other_user:
        _store_with_foreign_pickles(filename, {"a": 1})

    with pytest.raises(UntrustedPickleError, match=r"'parameters\.obj'") as raised:
        load_trajectory("foreign", filename=str(filename))
    assert raised.value.item == "parameters.obj"

    traj = load_trajectory("foreign", filename=str(filename), allow_pickle=True, load_all=2)
    assert traj.obj == {"a": 1}
    assert traj.results.thing.other == {1, 2}

    # Results load later on demand: the same rule, named down to the item.
    skeleton = load_trajectory("foreign", filename=str(filename), load_parameters=0, load_results=1)
    with pytest.raises(UntrustedPickleError, match=r"results\.thing\.(thing|other)"):
        skeleton.f_load_item("results.thing")
    skeleton.f_load_item("results.thing", allow_pickle=True)
    assert skeleton.results.thing.thing == {"a": 1}


def test_group_loaders_take_allow_pickle_too(tmp_path, other_user):
    filename = tmp_path / "foreign.hdf5"
    with other_user:
        _store_with_foreign_pickles(filename, {"a": 1})
    skeleton = load_trajectory("foreign", filename=str(filename), load_parameters=0, load_results=0)
    with pytest.raises(UntrustedPickleError, match=r"results\.thing"):
        skeleton.results.f_load_child("thing")
    assert skeleton.results.f_load_child("thing", allow_pickle=True).other == {1, 2}
    with pytest.raises(UntrustedPickleError, match=r"parameters\.obj"):
        skeleton.parameters.f_load()
    skeleton.parameters.f_load(allow_pickle=True)
    assert skeleton.obj == {"a": 1}


def _pickle_in_run(traj):
    traj.f_add_result(PickleResult, "runs.$.obj", {traj.x})


def test_run_results_are_checked_too(tmp_path, other_user):
    filename = tmp_path / "runs.hdf5"
    with other_user:
        env = Environment("runs", filename=str(filename), report_progress=False, log_config=None)
        env.trajectory.f_add_parameter("x", 0)
        env.trajectory.f_explore({"x": [1, 2]})
        env.run(_pickle_in_run)
        env.disable_logging()

    with pytest.raises(UntrustedPickleError, match=r"results\.runs\.run_0000000[01]\.obj"):
        load_trajectory("runs", filename=str(filename), load_all=2)
    traj = load_trajectory("runs", filename=str(filename), load_all=2, allow_pickle=True)
    assert traj.results.runs.run_00000001.obj == {2}


def test_resume_recipe_of_another_user_is_refused(tmp_path, other_user):
    with other_user:
        state = ResumeState(tmp_path / "resume", "traj")
        state.write_recipe({"func": len})
        state.start(total=2)
        state.append_run(0, {"data": 1})
        state.close()
    with pytest.raises(UntrustedPickleError, match="recipe.pkl"):
        state.read_recipe()
    with pytest.raises(UntrustedPickleError, match="runs.journal"):
        state.read_journal()
    assert state.read_recipe(allow_pickle=True) == {"func": len}
    assert state.read_journal(allow_pickle=True) == {0: {"data": 1}}
    trusting = ResumeState(tmp_path / "resume", "traj", allow_pickle=True)
    assert trusting.read_recipe() == {"func": len}
    assert trusting.read_journal() == {0: {"data": 1}}


def _double(traj):
    traj.f_add_result("z", traj.x * 2)


def test_resuming_an_exploration_of_another_user_needs_allow_pickle(tmp_path, other_user):
    def make():
        env = Environment("res", filename=str(tmp_path / "res.hdf5"), report_progress=False, log_config=None,
                          resumable=True, delete_resume=False)
        env.trajectory.f_add_parameter("x", 0)
        env.trajectory.f_explore({"x": [1, 2, 3]})
        return env

    with other_user:
        env = make()
        env.run(_double)
    with pytest.raises(UntrustedPickleError, match="recipe.pkl"):
        env.resume()
    assert env.resume(allow_pickle=True) == []  # nothing left to do, but the recipe was read


def test_own_resume_files_load(tmp_path):
    state = ResumeState(tmp_path / "resume", "traj")
    state.write_recipe({"func": len})
    state.start(total=1)
    state.append_run(0, [1])
    state.close()
    assert state.read_recipe() == {"func": len}
    assert state.read_journal() == {0: [1]}


def test_tampered_signature_is_refused(tmp_path):
    blob = bytearray(trust.dumps([1, 2]))
    blob[-2] ^= 0xFF  # the pickle changed after signing
    with pytest.raises(UntrustedPickleError, match="'x.y'"):
        trust.loads(bytes(blob), "x.y")


def _key_of_this_process(start, keys):
    trust._secrets.clear()  # as a fresh process: nothing cached
    start.wait(30)
    keys.put(trust.secret())


def test_processes_creating_the_key_at_once_all_get_the_same_one(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    start, keys = context.Event(), context.Queue()
    processes = [context.Process(target=_key_of_this_process, args=(start, keys)) for _ in range(4)]
    for process in processes:
        process.start()
    start.set()
    found = [keys.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(30)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert len(set(found)) == 1 and found[0] == trust.secret_path().read_bytes()
    assert [p.name for p in trust.secret_path().parent.iterdir()] == ["trust.key"]  # no temporary left
