"""The storage service and the model meet only through records and documented methods."""

import ast
from pathlib import Path

import h5py
import pytest

import rigbook.trajectory
from rigbook.trajectory import Trajectory, load_trajectory

PACKAGE = Path(rigbook.trajectory.__file__).parent
MODEL = {"trajectory", "tree", "node", "naturalnaming", "parameter", "result", "storing", "runs", "merge",
         "environment"}
SERVICE_SIDE = ["storageservice", "storeload", "records", "h5columns", "h5runinfo", "codec", "storagewriter",
                "overview", "trust", "netlock", "netqueue"]


def imported_modules(path):
    """Every rigbook.trajectory module a file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rigbook.trajectory"):
            if node.module == "rigbook.trajectory":
                found.update(alias.name for alias in node.names)
            else:
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("rigbook.trajectory."))
    return found


@pytest.mark.parametrize("module", SERVICE_SIDE)
def test_the_service_side_imports_no_model(module):
    assert imported_modules(PACKAGE / f"{module}.py") & MODEL == set()


@pytest.mark.parametrize("module", ["storageservice", "storeload", "h5runinfo", "h5columns"])
def test_the_service_writes_no_private_attribute_of_the_model(module):
    """No ``x.__dict__`` but its own: the model changes through its documented methods only."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    foreign = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr == "__dict__"
               and not (isinstance(node.value, ast.Name) and node.value.id == "self")]
    assert foreign == []


def test_a_file_naming_a_class_that_is_no_leaf_is_refused_not_instantiated(tmp_path):
    filename = tmp_path / "named.hdf5"
    traj = Trajectory("named", add_time=False, filename=str(filename))
    traj.f_add_parameter("p", 1)
    traj.f_store()
    with h5py.File(filename, "r+") as f:
        f["named/parameters/p"].attrs["__class__"] = "subprocess.Popen"
    with pytest.raises(TypeError, match="'subprocess.Popen' as a leaf class, but it is not a parameter"):
        load_trajectory("named", filename=str(filename))


def test_loading_from_another_file_keeps_the_service_settings(tmp_path):
    first = Trajectory("one", add_time=False, filename=str(tmp_path / "a.hdf5"), complevel=3)
    first.f_add_parameter("p", 1)
    first.f_store()
    other = Trajectory("one", add_time=False, filename=str(tmp_path / "b.hdf5"), complevel=3)
    other.f_load(filename=str(tmp_path / "a.hdf5"))
    assert other.v_filename == str(tmp_path / "a.hdf5")
    assert other.v_storage_service.complevel == 3
    assert other.p == 1


@pytest.mark.parametrize("module", ["trajectory", "storing", "runs", "tree", "node", "parameter", "result"])
def test_the_model_is_given_its_service_and_imports_none(module):
    assert imported_modules(PACKAGE / f"{module}.py") & {"storageservice", "storeload", "h5columns"} == set()


def test_a_trajectory_given_only_a_filename_gets_the_registered_default_service(tmp_path):
    from rigbook.trajectory import HDF5StorageService

    traj = Trajectory("t", add_time=False, filename=str(tmp_path / "t.hdf5"), complevel=4)
    assert type(traj.v_storage_service) is HDF5StorageService
    assert traj.v_storage_service.complevel == 4


@pytest.mark.parametrize("module", ["runs", "storing", "storeload", "storageservice", "records"])
def test_no_part_imports_the_trajectory_it_belongs_to(module):
    assert "trajectory" not in imported_modules(PACKAGE / f"{module}.py")
