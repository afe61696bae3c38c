"""Storage-service contract details other parts of Rigbook rely on."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from rigbook.trajectory import HDF5StorageService, Result, SingleRun, Trajectory
from rigbook.trajectory import pypetconstants as pc


class RecordingWrapper:
    """A stand-in for a wrapper: forwards to the real service and records messages."""

    def __init__(self, service):
        self.service = service
        self.messages = []
        self.is_open = False
        self.multiproc_safe = True

    def store(self, msg, stuff, *args, **kwargs):
        self.messages.append(("store", msg))
        return self.service.store(msg, stuff, *args, **kwargs)

    def load(self, msg, stuff, *args, **kwargs):
        self.messages.append(("load", msg))
        return self.service.load(msg, stuff, *args, **kwargs)


def test_storage_service_can_be_replaced_by_a_wrapper(tmp_path):
    traj = Trajectory("w", add_time=False, filename=str(tmp_path / "w.hdf5"))
    wrapper = RecordingWrapper(traj.v_storage_service)
    traj.v_storage_service = wrapper
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2]})
    traj.f_store()
    traj.f_set_crun(0)
    traj.__dict__["_is_run"] = True  # what the Environment does during a run
    traj.f_add_result("r", 3)
    traj.f_store()
    traj.__dict__["_is_run"] = False
    traj.f_restore_default()
    traj.f_load(load_results=1)
    assert wrapper.messages == [("store", pc.TRAJECTORY), ("store", pc.SINGLE_RUN), ("load", pc.TRAJECTORY)]
    assert traj.v_filename is None  # a wrapper has no filename attribute
    loaded = Trajectory(filename=str(tmp_path / "w.hdf5"))
    loaded.f_load(name="w", load_all=2)
    assert loaded.run_00000000.r == 3


def test_only_init_stores_meta_data_only(tmp_path):
    filename = tmp_path / "init.hdf5"
    traj = Trajectory("init", add_time=False, filename=str(filename))
    traj.f_add_parameter("x", 1)
    traj.f_add_result("r", 1)
    traj.f_explore({"x": [1, 2, 3]})
    traj.f_store(only_init=True)
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="init", load_all=2)
    assert len(loaded) == 3 and "r" not in loaded.results.f_get_children()
    traj.f_store()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="init", load_all=2)
    assert loaded.results.r == 1


def test_other_data_groups_and_generic_leaves(tmp_path):
    filename = tmp_path / "other.hdf5"
    traj = Trajectory("other", add_time=False, filename=str(filename))
    leaf = traj.f_add_leaf("mydata.values", 1, 2)
    traj.f_add_group("mydata.sub", comment="generic")
    assert leaf.v_full_name == "mydata.values"
    traj.f_add_leaf("results.generic", 5)
    traj.f_store()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="other", load_all=2)
    assert loaded.mydata.f_get("values").f_get(0, 1) == [1, 2]
    assert loaded.mydata.sub.v_comment == "generic"
    assert loaded.results.generic == 5


def test_unicode_names(tmp_path):
    filename = tmp_path / "uni.hdf5"
    traj = Trajectory("Versuch_ü", add_time=False, filename=str(filename))
    traj.f_add_parameter("größe", 1.5, comment="Größe in µm")
    traj.f_store()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="Versuch_ü")
    assert loaded.größe == 1.5 and loaded.f_get("größe").v_comment == "Größe in µm"


@pytest.mark.parametrize("bad", ["", "../up", "a/b", ".hidden", "with.dot", "tab\tname"])
def test_bad_trajectory_names(bad):
    with pytest.raises(ValueError, match="trajectory name"):
        Trajectory(bad, add_time=False)


def test_default_filename_in_folder(tmp_path):
    traj = Trajectory("folder", add_time=False, filename=str(tmp_path) + os.sep)
    assert traj.v_filename == os.path.join(str(tmp_path), "folder.hdf5")


def test_single_run_from_parent():
    traj = Trajectory("parent", add_time=False)
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2, 3]})
    run = SingleRun("run_00000002", 2, traj)
    assert run.v_idx == 2 and run.x == 3
    assert traj.v_idx == -1 and traj.x == 1  # the parent is untouched


def test_settings_from_file_title_and_service_arguments(tmp_path):
    import h5py

    filename = tmp_path / "title.hdf5"
    traj = Trajectory("t", add_time=False, filename=str(filename), file_title="My title", complevel=0,
                      fletcher32=True)
    traj.f_add_result("r", list(range(5)))
    traj.f_store()
    with h5py.File(filename, "r") as f:
        assert f.attrs["title"] == "My title"
    assert isinstance(traj.v_storage_service, HDF5StorageService)
    assert traj.v_storage_service.settings()["fletcher32"] is True


WRITER = textwrap.dedent("""
    import sys, time
    from rigbook.trajectory import Trajectory
    from rigbook.trajectory import pypetconstants as pc
    traj = Trajectory("killed", add_time=False, filename=sys.argv[1])
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": list(range(100))})
    traj.f_store()
    service = traj.v_storage_service
    service.store(pc.OPEN_FILE, None, trajectory_name="killed")
    for idx in range(60):
        traj.f_set_crun(idx)
        traj.f_add_result("r", idx)
        traj._set_finish()
        service.store(pc.SINGLE_RUN, traj, trajectory_name="killed", store_final=True)
    service.store(pc.FLUSH, None)
    print("flushed", flush=True)
    time.sleep(60)
""")


def test_killed_writer_keeps_flushed_runs(tmp_path):
    filename = tmp_path / "killed.hdf5"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(filename)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "flushed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="killed", load_all=2)
    assert sorted(loaded.f_get_from_runs("r", fast_access=True, use_indices=True).values()) == list(range(60))
    assert [loaded.f_is_completed(i) for i in (0, 59, 60)] == [True, True, False]


def test_load_trajectory_helper_and_auto_load(tmp_path):
    from rigbook.trajectory import load_trajectory

    filename = tmp_path / "helper.hdf5"
    traj = Trajectory("helper", add_time=False, filename=str(filename))
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2]})
    for run in traj.f_iter_runs():
        traj.f_add_result("z", traj.x + 1)
    traj.f_add_result("deep.total", 5)
    traj.f_store()
    loaded = load_trajectory(name="helper", filename=str(filename), load_all=0)
    assert len(loaded) == 2 and not loaded.results.f_has_children()
    loaded.v_auto_load = True
    assert loaded.results.deep.total == 5
    assert loaded.f_get("results.runs.run_00000001.z", auto_load=True).z == 3
    with pytest.raises(ValueError, match="name or the index"):
        load_trajectory(filename=str(filename))


class CustomResult(Result):
    """A user's result class, stored by its module path."""


def test_custom_classes_come_back_through_dynamic_imports(tmp_path):
    import h5py

    filename = tmp_path / "custom.hdf5"
    traj = Trajectory("custom", add_time=False, filename=str(filename), dynamic_imports=[CustomResult])
    traj.f_add_result(CustomResult, "mine", 1)
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": [0, 1]})
    for run in traj.f_iter_runs():
        traj.f_add_result(CustomResult, "per_run", 2)
    traj.f_store()
    loaded = Trajectory(filename=str(filename), dynamically_imported_classes=[CustomResult])
    loaded.f_load(name="custom", load_all=2)
    assert type(loaded.f_get("results.mine")) is CustomResult
    assert type(loaded.f_get("results.runs.run_00000001.per_run")) is CustomResult
    with h5py.File(filename, "a") as f:
        f["custom/results/mine"].attrs["__class__"] = "nowhere.Missing"
    with pytest.raises(ImportError, match="nowhere.Missing"):
        Trajectory(filename=str(filename)).f_load(name="custom", load_all=1)


def test_pickled_service_never_truncates_the_file(tmp_path):
    import pickle

    filename = tmp_path / "ow.hdf5"
    traj = Trajectory("ow", add_time=False, filename=str(filename), overwrite_file=True)
    copy = pickle.loads(pickle.dumps(traj.v_storage_service))
    traj.f_add_parameter("x", 1)
    traj.f_store()
    other = Trajectory("other", add_time=False)
    other.v_storage_service = copy
    other.f_store()
    names = []
    for name in ("ow", "other"):
        loaded = Trajectory(filename=str(filename))
        loaded.f_load(name=name)
        names.append(loaded.v_name)
    assert names == ["ow", "other"]


def test_service_settings_become_config_parameters(tmp_path):
    traj = Trajectory("cfg", add_time=False, filename=str(tmp_path / "cfg.hdf5"), complib="blosc", complevel=4)
    assert traj.config.hdf5.complib == "blosc" and traj.config.hdf5.complevel == 4
    assert traj.f_is_empty()
    assert traj.f_to_dict(copy=True, short_names=False)["config.hdf5.complib"].f_get() == "blosc"


def test_pypet_style_custom_parameter(tmp_path):
    from rigbook.trajectory import Parameter

    class Scaled(Parameter):
        """pypet-style: _store/_load(load_dict) of its own."""

        def _store(self):
            return {"data": self._default, "scale": 10}

        def _load(self, load_dict):
            # pypet's protocol: the range comes as an ObjectTable with a 'data' column.
            self._default = self._data = load_dict["data"] * load_dict["scale"] // 10
            if "explored_data" in load_dict:
                self._explored_range = list(load_dict["explored_data"]["data"])
                self._explored = True

    filename = tmp_path / "custom_param.hdf5"
    traj = Trajectory("cp", add_time=False, filename=str(filename), dynamic_imports=[Scaled])
    traj.f_add_parameter(Scaled, "s", 4)
    traj.f_explore({"s": [4, 5]})
    traj.f_store()
    loaded = Trajectory(filename=str(filename), dynamic_imports=[Scaled])
    loaded.f_load(name="cp")
    assert type(loaded.f_get("s")) is Scaled
    assert loaded.s == 4 and loaded.f_get("s").f_get_range() == (4, 5)
