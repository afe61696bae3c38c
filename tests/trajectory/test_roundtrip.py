"""Everything stored comes back equal and with exactly the same type."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rigbook.trajectory import Parameter, Result, Trajectory

from .helpers import assert_same

SCALAR_DTYPES = [np.dtype(t) for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                          "uint64", "float16", "float32", "float64", "longdouble", "complex64",
                                          "complex128", "U4", "S4", "datetime64[ms]", "timedelta64[s]")]
ARRAY_DTYPES = SCALAR_DTYPES + [np.dtype("<U1"), np.dtype(">i4"), np.dtype(">f8")]


def numpy_scalars():
    return st.sampled_from(SCALAR_DTYPES).flatmap(
        lambda dt: hnp.from_dtype(dt, allow_nan=True).map(lambda v, dt=dt: np.array(v, dtype=dt)[()]))


python_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.complex_numbers(allow_nan=False), st.text(max_size=12),
    st.binary(max_size=12))
scalars = st.one_of(python_scalars, numpy_scalars())
arrays = st.sampled_from(ARRAY_DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
values = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=4),
    ),
    max_leaves=8,
)


def _store_and_reload(tmp_path, value):
    filename = tmp_path / "roundtrip.hdf5"
    traj = Trajectory("rt", add_time=False, filename=str(filename), overwrite_file=True)
    traj.f_add_parameter("p", 1)
    traj.f_explore({"p": [1, 2]})
    traj.f_add_result("top", value, extra=value)
    for run in traj.f_iter_runs():
        traj.f_add_result("per_run", value, other=value)
    traj.f_store()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="rt", load_all=2)
    return loaded


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=values)
def test_any_value_round_trips(tmp_path, value):
    loaded = _store_and_reload(tmp_path, value)
    assert_same(value, loaded.f_get("results.top").top)
    assert_same(value, loaded.f_get("results.top").extra)
    for run in ("run_00000000", "run_00000001"):
        result = loaded.f_get(f"results.runs.{run}.per_run")
        assert_same(value, result.per_run)
        assert_same(value, result.other)


SPECIAL = [
    np.bool_(True), np.str_("äöü ✓"), "non-ASCII ✓ 日本", {"big": 2**31 + 5, "huge": 2**100, "neg": -(2**63)},
    {"nested": {"deeper": {"x": [1, 2.0, "3", None, (4,)]}}}, {1: "int key", (1, 2): "tuple key", "s": b"\x00b"},
    np.empty((0, 3)), np.array([], dtype="U3"), np.zeros((2, 0, 4), dtype=np.int16), np.array(["a", "bé"]),
    np.arange(6, dtype=np.uint64).reshape(2, 3), np.array([1 + 2j], dtype=np.complex64), np.array([True, False]),
    np.array(["2020-01-01"], dtype="datetime64[D]"), np.array([1, "x", None], dtype=object),
    (np.int8(1), np.float32(2.5), np.bool_(False)), [np.str_("x"), np.bytes_(b"y")], -0.0, float("nan"), None,
    "", b"", (), [], {}, "a\x00b", "lone \ud800 surrogate", {"k\udfff": ["\ud800"]}, np.str_(""), np.bytes_(b""), np.bytes_(b"a\x00"),
]


_STRUCTURED = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,)), ("c", "S3")])
_STRUCTURED["a"] = [1, 2, 3]
SPECIAL += [_STRUCTURED, _STRUCTURED[1], np.clongdouble(1 + 2j), np.void(b"abc"), np.datetime64("NaT"),
            np.float16("nan"), np.array(np.longdouble(1) / 3), np.timedelta64(5, "ns"), np.uint64(2**64 - 1),
            np.int64(-(2**63))]




def _nan(bits, dtype):
    """A NaN of ``dtype`` with the given bits (sign and payload): it must come back bit for bit."""
    return np.array([bits], dtype=f"u{np.dtype(dtype).itemsize}").view(dtype)[0]


# found by the property test: inside containers, numpy NaNs came back as the plain NaN
SPECIAL += [[_nan(0x7C01, np.float16)], (_nan(0xFE00, np.float16),), {"x": _nan(0xFFC00001, np.float32)},
            [_nan(0x7FF0000000000001, np.float64)],
            [np.array([0x7FC00001, 0x3F800000], dtype=np.uint32).view(np.complex64)[0]]]  # NaN + 1j


@pytest.mark.parametrize("value", SPECIAL, ids=lambda v: type(v).__name__)
def test_reference_failures_round_trip(tmp_path, value):
    loaded = _store_and_reload(tmp_path, value)
    assert_same(value, loaded.f_get("results.top").top)
    assert_same(value, loaded.f_get("results.runs.run_00000001.per_run").per_run)


FRAMES = [
    pd.DataFrame({"a": [1, 2, 3], "b": [1.5, float("nan"), 2.0], "c": ["x", "ÿ", "z"], "d": [True, False, True]}),
    pd.DataFrame({"i": np.arange(3, dtype=np.int8)}, index=pd.Index([10, 20, 30], name="idx")),
    pd.DataFrame({"t": pd.to_datetime(["2020-01-01", "2021-06-30"])}, index=["r1", "r2"]),
    pd.DataFrame({0: [1.0], 1: [2.0]}),
    pd.DataFrame(),
    pd.DataFrame({"o": [1, "mixed", None]}, dtype=object),
]


@pytest.mark.parametrize("frame", FRAMES)
def test_dataframes_round_trip(tmp_path, frame):
    loaded = _store_and_reload(tmp_path, frame)
    pd.testing.assert_frame_equal(frame, loaded.f_get("results.top").top, check_exact=True)
    pd.testing.assert_frame_equal(frame, loaded.f_get("results.runs.run_00000000.per_run").per_run, check_exact=True)


def test_series_round_trips(tmp_path):
    series = pd.Series([1.0, 2.0, float("nan")], index=["a", "b", "c"], name="speed")
    loaded = _store_and_reload(tmp_path, series)
    pd.testing.assert_series_equal(series, loaded.f_get("results.top").top, check_exact=True)


def test_plain_dataframe_columns_are_plain_datasets(tmp_path):
    import h5py

    frame = FRAMES[0]
    _store_and_reload(tmp_path, frame)
    with h5py.File(tmp_path / "roundtrip.hdf5", "r") as f:
        group = f["rt/results/top/top"]
        assert group["c0"][...].tolist() == [1, 2, 3]
        assert group["c2"].asstr()[...].tolist() == ["x", "ÿ", "z"]
        assert not any(ds.dtype.kind == "V" for ds in group.values())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(scalars, arrays, st.lists(python_scalars, min_size=1, max_size=3).map(tuple)))
def test_parameter_values_and_ranges_round_trip(tmp_path, value):
    filename = tmp_path / "params.hdf5"
    traj = Trajectory("params", add_time=False, filename=str(filename), overwrite_file=True)
    if value is None:
        return
    traj.f_add_parameter(Parameter, "group.p", value, comment="ü")
    traj.f_add_parameter("q", 0)
    traj.f_explore({"group.p": [value, value]})
    traj.f_store()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="params", load_parameters=2)
    param = loaded.f_get("group.p")
    assert_same(value, param.f_get())
    assert_same([value, value], list(param.f_get_range()))
    assert param.v_comment == "ü"


def test_results_of_different_types_per_run_stay_exact(tmp_path):
    filename = tmp_path / "mixed.hdf5"
    traj = Trajectory("mixed", add_time=False, filename=str(filename), overwrite_file=True)
    traj.f_add_parameter("p", 0)
    per_run = [1.5, 2, "three", np.float32(4), np.arange(3), np.arange(4), None]
    traj.f_explore({"p": list(range(len(per_run)))})
    for idx in range(len(per_run)):
        traj.f_set_crun(idx)
        traj.f_add_result("x", per_run[idx])
        traj.f_store()
    traj.f_restore_default()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="mixed", load_all=2)
    got = loaded.f_get_from_runs("x", fast_access=True, use_indices=True)
    assert list(got) == list(range(len(per_run)))
    for expected, actual in zip(per_run, got.values()):
        assert_same(expected, actual)


def test_pickle_result_and_parameter_round_trip(tmp_path):
    from fractions import Fraction

    from rigbook.trajectory import PickleParameter, PickleResult

    filename = tmp_path / "pickles.hdf5"
    traj = Trajectory("pickles", add_time=False, filename=str(filename), overwrite_file=True)
    traj.f_add_parameter(PickleParameter, "frac", Fraction(1, 3))
    traj.f_add_result(PickleResult, "obj", Fraction(2, 3), other={1, 2})
    traj.f_store()
    loaded = Trajectory(filename=str(filename))
    loaded.f_load(name="pickles", load_all=2)
    assert loaded.frac == Fraction(1, 3)
    assert loaded.f_get("results.obj").obj == Fraction(2, 3) and loaded.f_get("results.obj").other == {1, 2}


def test_unstorable_value_is_refused_when_added():
    traj = Trajectory("bad", add_time=False)
    with pytest.raises(TypeError, match="item 'x'.*set"):
        traj.f_add_result("r", x={1, 2})
    with pytest.raises(TypeError, match="parameter 'parameters.p'"):
        traj.f_add_parameter("p", object())
    assert "r" not in traj.results.f_get_children()
    assert isinstance(Result("r", 1), Result)


@pytest.mark.parametrize("bad", ["", "a/b", "__hidden", "f_get", 3])
def test_bad_item_names_are_refused(bad):
    with pytest.raises(ValueError, match="item name"):
        Result("r", **{"ok": 1}).f_set_single(bad, 1)
