import json
import os

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as pf
import pyarrow.parquet as pq
import pytest

from rigbook.storage import FORMATS, read_table, write_table


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 257
    return {
        "t": np.cumsum(rng.random(n)),
        "x": rng.normal(size=n) * 1e-300,
        "count": rng.integers(-(2**62), 2**62, n),
        "small": rng.integers(0, 100, n).astype(np.int16),
        "f32": rng.random(n).astype(np.float32),
        "flag": rng.random(n) > 0.5,
        "whole": np.arange(n, dtype=float),
    }


def read_with_plain_tools(path, fmt):
    """Read an export the way a user without Rigbook would."""
    if fmt == "csv":
        return pd.read_csv(path)
    if fmt == "feather":
        return pf.read_table(path).to_pandas()
    if fmt == "parquet":
        return pq.read_table(path).to_pandas()
    if fmt == "json":
        with open(path) as f:
            return pd.DataFrame.from_records(json.load(f))
    with h5py.File(path, "r") as f:
        return pd.DataFrame({c: f[c][()] for c in f.attrs["columns"]})


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_is_exact(tmp_path, table, fmt):
    path = write_table(table, tmp_path / "stream", fmt)
    assert path == tmp_path / f"stream{FORMATS[fmt]}"
    back = read_with_plain_tools(path, fmt)
    assert list(back.columns) == list(table)
    for name, values in table.items():
        got = back[name].to_numpy()
        if fmt in ("csv", "json"):  # text keeps the value exactly, not the width
            got = got.astype(values.dtype)
        assert np.array_equal(got, values), name
        if fmt in ("feather", "parquet", "hdf5"):
            assert got.dtype == values.dtype, name
    assert back["t"].dtype == np.float64
    assert back["flag"].dtype == bool
    # read_table is the same as the plain read
    pd.testing.assert_frame_equal(read_table(path).astype(back.dtypes), back)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_nan_and_infinity(tmp_path, fmt):
    values = np.array([1.0, np.nan, np.inf, -np.inf, -0.0, 1e15, 5e-324])
    path = write_table({"v": values}, tmp_path / "special", fmt)
    back = read_with_plain_tools(path, fmt)["v"].to_numpy(dtype=float)
    if fmt == "json":  # JSON has no infinities: every non-finite value is null
        expected = np.where(np.isfinite(values), values, np.nan)
    else:
        expected = values
    assert np.array_equal(back, expected, equal_nan=True)
    assert np.signbit(back[4])


def test_json_is_standard_json_with_floats_kept_floats(tmp_path):
    path = write_table({"t": np.array([0.0, 1.0, 2.5]), "n": np.array([1, 2, 3])}, tmp_path / "a.json")
    with open(path) as f:
        rows = json.load(f)
    assert rows == [{"t": 0.0, "n": 1}, {"t": 1.0, "n": 2}, {"t": 2.5, "n": 3}]
    assert isinstance(rows[1]["t"], float) and isinstance(rows[1]["n"], int)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_strings_and_unicode(tmp_path, fmt):
    df = pd.DataFrame({"name": ["a,b", 'quote"d', "new\nline", "日本", "007"], "v": [1.5, 2, 3, 4, 5]})
    path = write_table(df, tmp_path / "s", fmt)
    back = read_table(path)
    assert list(back["name"].astype(str)) == list(df["name"])


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_empty_table(tmp_path, fmt):
    path = write_table({"t": np.array([], float), "x": np.array([], float)}, tmp_path / "e", fmt)
    assert path.exists()
    if fmt != "csv":
        assert len(read_table(path)) == 0


def test_unknown_format_names_it(tmp_path):
    with pytest.raises(ValueError, match="'xlsx'.*csv, feather, parquet, hdf5, json"):
        write_table({"t": [1.0]}, tmp_path / "x", "xlsx")
    assert list(tmp_path.iterdir()) == []


def test_format_inferred_from_suffix(tmp_path):
    path = write_table({"t": [1.0]}, tmp_path / "x.parquet")
    assert pq.read_table(path).column_names == ["t"]
    with pytest.raises(ValueError, match="no suffix"):
        write_table({"t": [1.0]}, tmp_path / "noext")


def test_columns_of_different_length_are_refused(tmp_path):
    with pytest.raises(ValueError, match="different lengths"):
        write_table({"t": [1.0, 2.0], "x": [1.0]}, tmp_path / "x", "csv")


def test_unwritable_destination_keeps_existing_file(tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("t\n1\n")
    with pytest.raises(ValueError):
        write_table({"a/b": [1.0]}, tmp_path / "keep.hdf5")
    missing_folder = tmp_path / "nope" / "x.csv"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_table({"t": [1.0]}, missing_folder)
    assert target.read_text() == "t\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder_raises_permission_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            write_table({"t": [1.0]}, folder / "x.csv")
    finally:
        folder.chmod(0o700)


def test_accepts_arrow_and_structured_arrays(tmp_path):
    structured = np.zeros(3, dtype=[("t", float), ("x", np.int32)])
    structured["t"] = [0.1, 0.2, 0.3]
    p1 = write_table(structured, tmp_path / "a", "feather")
    p2 = write_table(pa.table({"t": [0.1, 0.2, 0.3], "x": pa.array([0, 0, 0], pa.int32())}), tmp_path / "b", "feather")
    pd.testing.assert_frame_equal(read_table(p1), read_table(p2))
