"""The HDF5 storage service: messages, partial loads, delete, backup, merge, compression."""

import json
import pickle

import h5py
import hdf5plugin  # noqa: F401  (blosc readable by plain h5py)
import numpy as np
import pytest

from rigbook.trajectory import (
    DataNotInStorageError,
    HDF5StorageService,
    LazyStorageService,
    NoSuchServiceError,
    Trajectory,
    pypetconstants as pc,
)
from rigbook.trajectory.errors import VersionMismatchError


def explored(filename, name="traj", n=4, **kwargs):
    traj = Trajectory(name, add_time=False, filename=str(filename), **kwargs)
    traj.f_add_parameter("x", 1)
    traj.f_add_parameter("y", 0.5)
    traj.f_explore({"x": list(range(n))})
    for run in traj.f_iter_runs():
        traj.f_add_result("z", traj.x * 2, comment="double")
        traj.f_add_result("big", np.full(5, traj.x, dtype=np.int32), label=f"run {traj.x}")
    traj.f_add_result("summary", total=sum(range(n)) * 2)
    traj.f_store()
    return traj


def reload(filename, name="traj", **kwargs):
    traj = Trajectory(filename=str(filename))
    traj.f_load(name=name, **kwargs)
    return traj


def test_partial_loads(tmp_path):
    filename = tmp_path / "p.hdf5"
    explored(filename)
    skeleton = reload(filename, load_parameters=2, load_results=1)
    leaf = skeleton.f_get("results.runs.run_00000002.big")
    assert leaf.f_is_empty()
    skeleton.f_load_item(leaf, load_only=["label"])
    assert leaf.f_to_dict() == {"label": "run 2"}
    skeleton.f_load_item(leaf, load_except=["label"])
    assert np.array_equal(leaf.big, np.full(5, 2, dtype=np.int32))
    top = skeleton.f_get("results.summary")
    skeleton.f_load_item(top)
    assert top.total == 12
    nothing = reload(filename, load_all=0)
    assert not nothing.results.f_has_children() and len(nothing) == 4
    with pytest.raises(ValueError, match="not both"):
        skeleton.f_load_items([leaf], load_only=["a"], load_except=["b"])


def test_load_child_and_auto_load(tmp_path):
    filename = tmp_path / "c.hdf5"
    explored(filename)
    traj = reload(filename, load_all=0)
    traj.results.f_load_child("summary")
    assert traj.results.f_get("summary").total == 12
    traj.v_auto_load = True
    assert traj.f_get("results.runs.run_00000003.z", auto_load=True).z == 6


def test_update_skeleton_adds_new_runs_results(tmp_path):
    filename = tmp_path / "s.hdf5"
    writer = explored(filename)
    reader = reload(filename, load_all=2)
    writer.f_as_run(1)
    writer.f_add_result("late", 99)
    writer.f_store()
    writer.f_restore_default()
    reader.f_update_skeleton()
    late = reader.f_get("results.runs.run_00000001.late")
    assert late.f_is_empty()
    reader.f_load_item(late)
    assert late.late == 99


def test_store_item_overwrite(tmp_path):
    filename = tmp_path / "o.hdf5"
    traj = explored(filename)
    traj.f_add_result("mygroup.myresult", partA=42, partB=44, partC=46)
    traj.f_store()
    res = traj.f_get("mygroup.myresult")
    res.partA = 333
    res.partB = "I am going to change to a string"
    traj.f_store_item("mygroup.myresult", overwrite=["partA", "partB"])
    run_res = traj.f_get("results.runs.run_00000001.z")
    run_res.z = -1
    traj.f_store_item(run_res, overwrite=True)
    loaded = reload(filename, load_all=2)
    assert loaded.f_get("mygroup.myresult").f_to_dict() == {"partA": 333, "partB": "I am going to change to a string", "partC": 46}
    assert loaded.f_get_from_runs("z", fast_access=True, use_indices=True) == {0: 0, 1: -1, 2: 4, 3: 6}


def test_store_items_needs_a_stored_trajectory(tmp_path):
    traj = Trajectory("t", add_time=False, filename=str(tmp_path / "t.hdf5"))
    traj.f_add_result("r", 1)
    with pytest.raises(TypeError, match="f_store"):
        traj.f_store_item("r")


def test_delete_items(tmp_path):
    filename = tmp_path / "d.hdf5"
    traj = explored(filename)
    traj.f_add_result("mygroup.myresult", partA=1, partB=2)
    traj.f_store()
    traj.f_delete_item("mygroup.myresult", delete_only=["partA"], remove_from_trajectory=True)
    assert traj.f_get("mygroup.myresult").f_to_dict() == {"partB": 2}
    traj.f_delete_item("results.runs.run_00000002.big")
    traj.f_delete_item("summary", remove_from_trajectory=True, remove_empty_groups=True)
    assert "summary" not in traj.results.f_get_children()
    with pytest.raises(TypeError, match="explored"):
        traj.f_delete_item("x")
    loaded = reload(filename, load_all=2)
    assert loaded.f_get("mygroup.myresult").f_to_dict() == {"partB": 2}
    assert sorted(loaded.f_get_from_runs("big", use_indices=True)) == [0, 1, 3]
    assert len(loaded.f_get_from_runs("z")) == 4
    assert "summary" not in loaded.results.f_get_children()
    with pytest.raises(DataNotInStorageError):
        traj.f_delete_item("results.runs.run_00000002.big")


def test_delete_a_whole_run_group(tmp_path):
    filename = tmp_path / "dg.hdf5"
    traj = explored(filename)
    traj.f_delete_item("results.runs.run_00000000", recursive=True)
    loaded = reload(filename, load_all=2)
    assert sorted(loaded.f_get_from_runs("z", use_indices=True)) == [1, 2, 3]


def test_backup(tmp_path):
    filename = tmp_path / "b.hdf5"
    traj = explored(filename)
    traj.f_backup()
    backup = tmp_path / "backup_traj.hdf5"
    assert backup.exists()
    copy = reload(backup, load_all=2)
    assert copy.f_get_from_runs("z", fast_access=True, use_indices=True) == {0: 0, 1: 2, 2: 4, 3: 6}
    with pytest.raises(ValueError, match="already holds"):
        traj.f_backup(backup_filename=str(backup))


@pytest.mark.parametrize("same_file", [True, False])
def test_merge(tmp_path, same_file):
    first = tmp_path / "one.hdf5"
    second = first if same_file else tmp_path / "two.hdf5"
    a = explored(first, name="a", n=3)
    b = Trajectory("b", add_time=False, filename=str(second))
    b.f_add_parameter("x", 1)
    b.f_add_parameter("y", 0.5)
    b.f_explore({"x": [2, 2, 10], "y": [0.5, 0.75, 0.75]})  # the first is a duplicate of a run of a
    for run in b.f_iter_runs():
        b.f_add_result("z", b.x * 2 + b.y)
        b.f_set_crun(b.v_idx)
        b._set_finish()
    b.f_add_derived_parameter("only_in_b", "hello")
    b.f_store()
    b_loaded = reload(second, name="b", load_all=1)
    a.f_merge(b_loaded, remove_duplicates=True, delete_other_trajectory=same_file)
    assert len(a) == 5
    assert list(a.f_get("x").f_get_range()) == [0, 1, 2, 2, 10]
    assert list(a.f_get("y").f_get_range()) == [0.5, 0.5, 0.5, 0.75, 0.75]
    merged = reload(first, name="a", load_all=2)
    assert merged.f_get_from_runs("z", fast_access=True, use_indices=True) == {
        0: 0, 1: 2, 2: 4, 3: 4.75, 4: 20.75}
    assert merged.f_is_completed(4) and not merged.f_is_completed(0)
    assert merged.only_in_b == "hello"
    assert any(k.startswith("config.merge.") for k in merged.f_get_config())
    with h5py.File(second, "r") as f:
        assert ("b" in f) is (not same_file)  # deleted after merging only when asked


def test_merge_with_trial_parameter_and_incompatible_space(tmp_path):
    a = Trajectory("a", add_time=False)
    a.f_add_parameter("trial", 0)
    a.f_explore({"trial": [0, 1]})
    b = Trajectory("b", add_time=False)
    b.f_add_parameter("trial", 0)
    b.f_explore({"trial": [0, 1, 2]})
    a.f_merge(b, trial_parameter="trial", keep_info=False)
    assert a.f_get("trial").f_get_range() == (0, 1, 2, 3, 4)
    c = Trajectory("c", add_time=False)
    c.f_add_parameter("other", 0)
    with pytest.raises(TypeError, match="parameter space"):
        a.f_merge(c)


def test_several_trajectories_in_one_file_and_load_by_index(tmp_path):
    filename = tmp_path / "many.hdf5"
    explored(filename, name="first", n=2)
    explored(filename, name="second", n=3)
    assert len(reload(filename, name=None, index=0)) == 2
    traj = Trajectory(filename=str(filename))
    traj.f_load(index=-1)
    assert traj.v_name == "second" and len(traj) == 3
    with pytest.raises(DataNotInStorageError, match="nope"):
        reload(filename, name="nope")
    with pytest.raises(DataNotInStorageError):
        reload(tmp_path / "missing.hdf5")


def test_name_clash_is_refused_and_data_kept(tmp_path):
    filename = tmp_path / "clash.hdf5"
    explored(filename)
    with pytest.raises(RuntimeError, match="already exists"):
        explored(filename)
    assert reload(filename, load_all=2).f_get("results.summary").total == 12


def test_load_as_new(tmp_path):
    filename = tmp_path / "new.hdf5"
    explored(filename)
    fresh = Trajectory("rerun", add_time=False, filename=str(filename))
    fresh.f_load(name="traj", as_new=True)
    assert fresh.v_name == "rerun" and len(fresh) == 4
    assert not fresh.results.f_has_children()
    fresh.f_get("y").f_set(0.25)  # unlocked
    fresh.f_store()
    assert len(reload(filename, name="rerun")) == 4


def test_compression_options(tmp_path):
    for complib in ("zlib", "gzip", "lzf", "blosc"):
        filename = tmp_path / f"{complib}.hdf5"
        traj = Trajectory("c", add_time=False, filename=str(filename), complib=complib, complevel=5)
        traj.f_add_result("data", np.zeros(10000))
        traj.f_store()
        with h5py.File(filename, "r") as f:
            dataset = f["c/results/data/data"]
            assert dataset[...].sum() == 0
            assert dataset.compression is not None or dataset._filters
            settings = json.loads(f["c"].attrs["hdf5_settings"])
            assert settings["complib"] == complib and settings["complevel"] == 5
    with pytest.raises(ValueError, match="lzo"):
        HDF5StorageService(str(tmp_path / "x.hdf5"), complib="lzo")
    with pytest.raises(ValueError, match="complib"):
        Trajectory("c", filename=str(tmp_path / "y.hdf5"), complib="zip")


def test_bad_messages(tmp_path):
    service = HDF5StorageService(str(tmp_path / "m.hdf5"))
    with pytest.raises(NoSuchServiceError, match="NOPE"):
        service.store("NOPE", None)
    with pytest.raises(NoSuchServiceError):
        service.load("NOPE", None)
    lazy = LazyStorageService()
    traj = Trajectory("lazy", add_time=False)
    traj.v_storage_service = lazy
    traj.f_add_result("r", 1)
    traj.f_store()


def test_file_kept_open_for_many_single_runs(tmp_path):
    filename = tmp_path / "open.hdf5"
    traj = Trajectory("open", add_time=False, filename=str(filename))
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": list(range(50))})
    traj.f_store()
    service = traj.v_storage_service
    service.store(pc.OPEN_FILE, None, trajectory_name="open")
    for idx in range(50):
        traj.f_set_crun(idx)
        traj._set_start()
        traj.f_add_result("r", np.arange(3) + idx, n=idx)
        traj._set_finish()
        payload = traj._run_payload(store_final=True)
        payload = pickle.loads(pickle.dumps(payload))
        service.store(pc.LIST, [(pc.SINGLE_RUN, payload, (), {"store_final": True})], trajectory_name="open")
    traj.f_restore_default()
    service.store(pc.FLUSH, None)
    service.store(pc.CLOSE_FILE, None)
    assert not service.is_open
    loaded = reload(filename, name="open", load_all=2)
    assert loaded.f_is_completed()
    assert loaded.f_get_from_runs("r", use_indices=True)[49].n == 49
    with h5py.File(filename, "r") as f:
        assert f["open/_run_data/results/r/r/values"].shape == (50, 3)


def test_single_run_message_with_trajectory(tmp_path):
    filename = tmp_path / "sr.hdf5"
    traj = Trajectory("sr", add_time=False, filename=str(filename))
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": [0, 1]})
    traj.f_store()
    traj.f_set_crun(1)
    traj.f_add_result("r", 5)
    traj._set_finish()
    traj.v_storage_service.store(pc.SINGLE_RUN, traj, trajectory_name="sr", store_final=True)
    traj.f_restore_default()
    loaded = reload(filename, name="sr", load_all=2)
    assert loaded.f_is_completed(1) and not loaded.f_is_completed(0)
    assert loaded.run_00000001.r == 5


def test_overview_tables_are_not_capped(tmp_path):
    filename = tmp_path / "ov.hdf5"
    traj = Trajectory("ov", add_time=False, filename=str(filename), large_overview_tables=True)
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": list(range(1500))})
    for run in traj.f_iter_runs():
        traj.f_add_result("r", 1)
    traj.f_store()
    with h5py.File(filename, "r") as f:
        assert f["ov/_overview/results_runs_overview/run"].shape == (1500,)
        assert f["ov/_overview/results_summary/runs"][...].tolist() == [1500]
        assert f["ov/_runs/completed"].shape == (1500,)


def test_newer_format_is_refused_unless_forced(tmp_path):
    filename = tmp_path / "v.hdf5"
    explored(filename)
    with h5py.File(filename, "a") as f:
        f["traj"].attrs["rigbook_format"] = 99
        f["traj"].attrs["rigbook_version"] = "9.9.9"
    with pytest.raises(VersionMismatchError, match="force=True"):
        reload(filename)
    assert len(reload(filename, force=True)) == 4


def test_other_patch_version_loads(tmp_path):
    filename = tmp_path / "pv.hdf5"
    explored(filename)
    with h5py.File(filename, "a") as f:
        f["traj"].attrs["rigbook_version"] = "0.1.99"
    assert reload(filename).v_version == "0.1.99"


def test_migrate_to_new_file(tmp_path):
    traj = explored(tmp_path / "old.hdf5")
    traj.f_migrate(new_name="moved", new_filename=str(tmp_path / "new.hdf5"))
    traj.f_store()
    moved = reload(tmp_path / "new.hdf5", name="moved", load_all=2)
    assert moved.f_get("results.summary").total == 12 and len(moved) == 4


def test_group_annotations_and_links_stored(tmp_path):
    filename = tmp_path / "g.hdf5"
    traj = Trajectory("g", add_time=False, filename=str(filename))
    group = traj.f_add_parameter_group("grp", comment="a group")
    group.v_annotations.note = "ü"
    traj.f_add_parameter("grp.p", 1)
    traj.parameters.f_add_link("shortcut", traj.f_get("grp.p"))
    traj.f_store()
    loaded = reload(filename, name="g")
    assert loaded.parameters.grp.v_comment == "a group"
    assert loaded.parameters.grp.v_annotations.note == "ü"
    assert loaded.parameters.shortcut == 1


def test_store_data_modes(tmp_path):
    filename = tmp_path / "modes.hdf5"
    traj = Trajectory("modes", add_time=False, filename=str(filename))
    traj.f_add_result("r", a=1)
    traj.f_store()
    traj.f_get("r").f_set(b=2)
    traj.f_store()  # STORE_DATA adds new parts, leaves old ones
    traj.f_get("r").a = 10
    traj.f_store(store_data=pc.STORE_DATA_SKIPPING)
    assert reload(filename, name="modes", load_all=2).f_get("r").f_to_dict() == {"a": 1, "b": 2}
    traj.f_store(store_data=pc.OVERWRITE_DATA)
    assert reload(filename, name="modes", load_all=2).f_get("r").f_to_dict() == {"a": 10, "b": 2}


def test_load_modes(tmp_path):
    filename = tmp_path / "lm.hdf5"
    traj = explored(filename)
    traj.f_get("results.summary").total = -1
    traj.f_load(load_results=pc.LOAD_DATA)  # keeps non-empty items in memory
    assert traj.f_get("results.summary").total == -1
    traj.f_load(load_results=pc.OVERWRITE_DATA)
    assert traj.f_get("results.summary").total == 12


def test_access_data(tmp_path):
    filename = tmp_path / "ad.hdf5"
    traj = explored(filename)
    service = traj.v_storage_service
    service.store(pc.OPEN_FILE, None, trajectory_name="traj")
    try:
        data = service.store(pc.ACCESS_DATA, "_run_data.results.z", trajectory_name="traj", item_name="z",
                             request="__getitem__", args=("values",))
        assert data[...].tolist() == [0, 2, 4, 6]
    finally:
        service.store(pc.CLOSE_FILE, None)


def test_overwrite_store_rewrites_runs_but_never_with_skeletons(tmp_path):
    filename = tmp_path / "ow.hdf5"
    explored(filename)
    skeleton = reload(filename, load_parameters=2, load_results=1)
    skeleton.f_load_item("results.runs.run_00000001.z")
    skeleton.f_get("results.runs.run_00000001.z").z = 100
    skeleton.f_store(store_data=pc.OVERWRITE_DATA)
    loaded = reload(filename, load_all=2)
    assert loaded.f_get_from_runs("z", fast_access=True, use_indices=True) == {0: 0, 1: 100, 2: 4, 3: 6}
    assert loaded.f_get("results.runs.run_00000002.big").label == "run 2"


def test_deleting_many_run_leaves_at_once(tmp_path):
    filename = tmp_path / "many_del.hdf5"
    traj = explored(filename, n=40)
    traj.f_delete_items([f"results.runs.run_{i:08d}.z" for i in range(0, 40, 2)])
    loaded = reload(filename, load_all=2)
    assert sorted(loaded.f_get_from_runs("z", use_indices=True)) == list(range(1, 40, 2))
    assert len(loaded.f_get_from_runs("big")) == 40
    # deleted items stay deleted on the next store
    traj.f_store()
    assert sorted(reload(filename, load_all=2).f_get_from_runs("z", use_indices=True)) == list(range(1, 40, 2))


def test_merge_needs_something_explored():
    a, b = Trajectory("a", add_time=False), Trajectory("b", add_time=False)
    for t in (a, b):
        t.f_add_parameter("p", 1)
    with pytest.raises(ValueError, match="trial_parameter"):
        a.f_merge(b)
    with pytest.raises(ValueError, match="f_expand"):
        a.f_expand({})


def test_run_leaf_comments_and_annotations(tmp_path):
    filename = tmp_path / "ann.hdf5"
    traj = Trajectory("ann", add_time=False, filename=str(filename), purge_duplicate_comments=False)
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": [0, 1, 2]})
    for run in traj.f_iter_runs():
        res = traj.f_add_result("r", traj.x, comment="same" if traj.x < 2 else "different")
        if traj.x == 1:
            res.v_annotations.quality = np.float32(0.5)
    traj.f_store()
    loaded = reload(filename, name="ann", load_all=1)
    leaves = loaded.f_get_from_runs("r", use_indices=True)
    assert [leaves[i].v_comment for i in range(3)] == ["same", "same", "different"]
    assert leaves[1].v_annotations.quality == np.float32(0.5) and type(leaves[1].v_annotations.quality) is np.float32
    assert leaves[0].v_annotations.f_is_empty()


def test_unreadable_file_is_reported_and_left_alone(tmp_path):
    filename = tmp_path / "garbage.hdf5"
    filename.write_bytes(b"this is not HDF5" * 10)
    with pytest.raises(DataNotInStorageError, match="garbage.hdf5"):
        reload(filename)
    traj = Trajectory("t", add_time=False, filename=str(filename))
    traj.f_add_parameter("x", 1)
    with pytest.raises(OSError, match="garbage.hdf5"):
        traj.f_store()
    assert filename.read_bytes() == b"this is not HDF5" * 10


def test_migrate_back_in_store(tmp_path):
    filename = tmp_path / "m.hdf5"
    traj = explored(filename)
    traj.f_migrate(new_filename=str(tmp_path / "elsewhere.hdf5"))
    traj.f_store()
    traj.f_migrate(new_filename=str(filename), in_store=True)
    traj.f_add_result("added_later", 1)
    traj.f_store()
    assert reload(filename, load_all=2).results.added_later == 1


def test_store_child_and_group_store(tmp_path):
    filename = tmp_path / "child.hdf5"
    traj = Trajectory("child", add_time=False, filename=str(filename))
    traj.f_add_result("a.b.c", 1)
    traj.f_store()
    traj.f_add_result("a.b.d", 2)
    traj.f_add_result("a.e", 3)
    traj.results.a.f_store_child("b", recursive=True)
    loaded = reload(filename, name="child", load_all=2)
    assert loaded.results.a.b.d == 2 and "e" not in loaded.results.a.f_get_children()
    traj.results.f_get("a").f_store(recursive=True)
    assert reload(filename, name="child", load_all=2).results.a.e == 3
    with pytest.raises(ValueError, match="no child"):
        traj.results.f_store_child("nope")


def test_merge_moving_nodes_removes_them_from_the_other(tmp_path):
    filename = tmp_path / "move.hdf5"
    a = explored(filename, name="a", n=2)
    b = explored(filename, name="b", n=3)
    b.f_get("x").f_unlock()
    b_loaded = reload(filename, name="b", load_all=1)
    a.f_merge(b_loaded, move_nodes=True, keep_info=False)
    assert len(a) == 5
    assert reload(filename, name="a", load_all=2).f_get_from_runs("z", fast_access=True, use_indices=True) == {
        0: 0, 1: 2, 2: 0, 3: 2, 4: 4}
    assert reload(filename, name="b", load_all=2).f_get_from_runs("z") == {}
    assert len(reload(filename, name="b")) == 3


def test_storing_a_stored_run_leaf_again_adds_only_new_parts(tmp_path):
    filename = tmp_path / "again.hdf5"
    traj = explored(filename)
    leaf = traj.f_get("results.runs.run_00000001.big")
    leaf.f_set(extra="new part")
    leaf.label = "changed in memory"
    traj.f_store_item(leaf)
    traj.f_store_item(leaf, overwrite=["label"])
    loaded = reload(filename, load_all=2).f_get("results.runs.run_00000001.big")
    assert loaded.f_to_dict().keys() == {"big", "label", "extra"}
    assert loaded.label == "changed in memory" and loaded.extra == "new part"
    with h5py.File(filename, "r") as f:
        assert f["traj/_run_data/results/big/__meta__/run_idx"][...].tolist().count(1) == 1
        assert f["traj/_run_data/results/big/big/run_idx"][...].tolist().count(1) == 1


def test_per_run_zero_dimensional_array_keeps_a_non_native_byte_order(tmp_path):
    filename = tmp_path / "endian.hdf5"
    traj = Trajectory("traj", add_time=False, filename=str(filename))
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2]})
    for run in traj.f_iter_runs():
        traj.f_add_result("scalar_array", np.array(traj.x, dtype=">i4"))
    traj.f_store()
    loaded = reload(filename, load_results=pc.LOAD_DATA)
    for idx, name in enumerate(("run_00000000", "run_00000001")):
        value = loaded.f_get(f"results.runs.{name}.scalar_array").scalar_array
        assert value.dtype == np.dtype(">i4") and value.shape == () and int(value) == idx + 1
