"""Accumulator.save: every format reads back exactly with pandas, pyarrow and h5py."""

import json
import os

import h5py
import numpy as np
import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.feather as pf
import pyarrow.parquet as pq
import pytest

from rigbook.collectors import Accumulator


@pytest.fixture
def acc():
    rng = np.random.default_rng(1)
    n = 5000
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    acc.append_block(
        np.cumsum(rng.uniform(0.0005, 0.0015, n)),
        {
            "angle": rng.normal(size=n) * 1e-3,
            "tiny": rng.normal(size=n) * 1e-300,
            "frame": np.arange(n, dtype=np.int64) * 3,
            "ok": rng.integers(0, 2, n).astype(bool),
        },
    )
    return acc


def read_back(path, format):
    if format == "csv":
        return pcsv.read_csv(path).to_pandas()
    if format == "feather":
        return pf.read_table(path).to_pandas()
    if format == "parquet":
        return pq.read_table(path).to_pandas()
    if format == "json":
        with open(path, encoding="utf-8") as f:
            return pd.DataFrame.from_records(json.load(f))
    with h5py.File(path, "r") as f:
        return pd.DataFrame({str(c): f[c][()] for c in f.attrs["columns"]})


@pytest.mark.parametrize("format", ["csv", "feather", "parquet", "hdf5", "json"])
def test_export_round_trip_is_exact(acc, tmp_path, format):
    path = acc.save(tmp_path / "tail", format)
    assert path == tmp_path / f"tail.{format}"
    back = read_back(path, format)
    expected = acc.get_dataframe()
    assert back.columns.tolist() == ["t", "angle", "tiny", "frame", "ok"]
    if format in ("feather", "parquet", "hdf5", "csv"):
        pd.testing.assert_frame_equal(back, expected, check_exact=True)
    else:  # JSON has no integer width: values exact, ints as int64
        pd.testing.assert_frame_equal(back, expected, check_exact=True, check_dtype=False)


def test_save_keeps_the_suffix_given_and_an_unknown_format_names_itself(acc, tmp_path):
    assert acc.save(tmp_path / "x.csv", "csv") == tmp_path / "x.csv"
    with pytest.raises(ValueError, match="'xlsx'"):
        acc.save(tmp_path / "x", "xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_unwritable_path_raises_and_keeps_data(acc, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    before = acc.n_held
    with pytest.raises(OSError):
        acc.save(blocked / "tail", "feather")
    assert acc.n_held == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_raises(acc, tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OSError):
            acc.save(tmp_path / "tail", "parquet")
    finally:
        tmp_path.chmod(0o700)


def test_export_of_trimmed_accumulator_holds_what_it_holds(tmp_path):
    acc = Accumulator(t0=0.0, max_history_if_not_running=100)
    acc.append_block(np.arange(1000.0), {"v": np.arange(1000.0)})
    back = pd.read_csv(acc.save(tmp_path / "v", "csv"))
    assert back["v"].tolist() == [float(i) for i in range(900, 1000)]
