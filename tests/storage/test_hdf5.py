"""read_hdf5 / write_hdf5: one dataset at a time, plain h5py files."""

import h5py
import numpy as np
import pytest

from rigbook.storage import read_hdf5, write_hdf5


def test_round_trip_default_dataset(tmp_path):
    path = tmp_path / "a.hdf5"
    data = np.arange(12.0).reshape(3, 4)
    write_hdf5(path, data)
    np.testing.assert_array_equal(read_hdf5(path), data)
    with h5py.File(path, "r") as f:
        assert list(f.keys()) == ["data"]


@pytest.mark.parametrize("value", [3, 2.5, True, np.int64(2**40), "héllo"])
def test_scalars(tmp_path, value):
    path = tmp_path / "s.hdf5"
    write_hdf5(path, value, dataset="x")
    got = read_hdf5(path, "x")
    assert got == value
    assert np.ndim(got) == 0


def test_adds_datasets_to_an_existing_file(tmp_path):
    path = tmp_path / "a.hdf5"
    write_hdf5(path, [1, 2], "first")
    write_hdf5(path, ["x", "y"], "names")
    assert read_hdf5(path, "first").tolist() == [1, 2]
    assert read_hdf5(path, "names").tolist() == ["x", "y"]


def test_existing_dataset_is_a_value_error_and_is_kept(tmp_path):
    path = tmp_path / "a.hdf5"
    write_hdf5(path, [1, 2])
    with pytest.raises(ValueError, match="'data'"):
        write_hdf5(path, [3])
    assert read_hdf5(path).tolist() == [1, 2]


def test_missing_dataset_names_file_and_dataset(tmp_path):
    path = tmp_path / "a.hdf5"
    write_hdf5(path, [1])
    with pytest.raises(KeyError) as info:
        read_hdf5(path, "nope")
    assert "nope" in str(info.value) and "a.hdf5" in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_hdf5(tmp_path / "missing.hdf5")


def test_bad_dataset_names(tmp_path):
    for bad in ["", "a/b", "."]:
        with pytest.raises(ValueError):
            write_hdf5(tmp_path / "a.hdf5", [1], bad)
    assert not (tmp_path / "a.hdf5").exists()
