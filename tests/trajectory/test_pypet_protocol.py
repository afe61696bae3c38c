"""pypet's documented protocol for custom parameters, SparseParameter/SparseResult and ObjectTable."""

import numpy as np
import pytest

from rigbook.trajectory import ObjectTable, Parameter, Result, SparseParameter, SparseResult, Trajectory

sp = pytest.importorskip("scipy.sparse")


def _reload(path, name="t", **kwargs):
    loaded = Trajectory(filename=str(path), **kwargs)
    loaded.f_load(name=name, load_all=2)
    return loaded


class FunctionSource(Parameter):
    """Like pypet's example 05: callables are kept as their source text via ``_convert_data``."""

    def _convert_data(self, value):
        if callable(value):
            return f"source of {value.__name__}"
        return super()._convert_data(value)


class Interval(Parameter):
    """A pypet-style parameter: a (low, high) pair stored as two items, with its own hooks."""

    def f_supports(self, data):
        return isinstance(data, tuple) and len(data) == 2

    def _values_of_same_type(self, a, b):
        return isinstance(a, tuple) and isinstance(b, tuple)

    def _equal_values(self, a, b):
        return tuple(a) == tuple(b)

    def _store(self):
        store_dict = {"low": self._default[0], "high": self._default[1]}
        if self.f_has_range():
            store_dict["explored_data"] = ObjectTable(data={"data": [f"{lo}:{hi}" for lo, hi in self._explored_range]})
        return store_dict

    def _load(self, load_dict):
        self._default = self._data = (load_dict["low"], load_dict["high"])
        if "explored_data" in load_dict:
            self._explored_range = [tuple(int(x) for x in text.split(":")) for text in load_dict["explored_data"]["data"]]
            self._explored = True


def test_convert_data_applies_to_set_and_explore():
    def rate(x):
        return x

    def decay(x):
        return x

    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter(FunctionSource, "f", rate)
    assert traj.f > "" and traj.f == "source of rate"
    traj.f_explore({"f": [rate, decay]})
    assert traj.f_get("f").f_get_range() == ("source of rate", "source of decay")


def test_custom_store_load_round_trip_with_range(tmp_path):
    path = tmp_path / "interval.hdf5"
    traj = Trajectory("t", add_time=False, filename=str(path), dynamic_imports=[Interval])
    traj.f_add_parameter(Interval, "band", (1, 4))
    traj.f_explore({"band": [(1, 4), (2, 8), (5, 9)]})
    traj.f_store()
    loaded = _reload(path, dynamic_imports=[Interval])
    param = loaded.f_get("band")
    assert type(param) is Interval
    assert param.f_get() == (1, 4)
    assert param.f_get_range() == ((1, 4), (2, 8), (5, 9))
    loaded.v_idx = 2
    assert loaded.band == (5, 9)


def test_custom_f_supports_refuses_with_the_parameter_named():
    traj = Trajectory("t", add_time=False)
    param = traj.f_add_parameter(Interval, "band", (1, 4))
    with pytest.raises(TypeError, match="band"):
        param.f_explore([(1, 2), 3])


def test_hooks_are_called_by_the_public_methods():
    calls = []

    class Tracing(Parameter):
        def _explore(self, values):
            calls.append("explore")
            super()._explore(values)

        def _expand(self, values):
            calls.append("expand")
            super()._expand(values)

        def _shrink(self):
            calls.append("shrink")
            super()._shrink()

        def _set_parameter_access(self, idx=0):
            calls.append(("access", idx))
            super()._set_parameter_access(idx)

    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter(Tracing, "x", 1)
    traj.f_explore({"x": [1, 2]})
    traj.f_expand({"x": [3]})
    traj.v_idx = 2
    assert traj.x == 3
    traj.f_restore_default()
    traj.f_shrink(force=True)
    assert calls[:3] == ["explore", "expand", ("access", 2)]
    assert "shrink" in calls and ("access", -1) in calls
    assert traj.x == 1 and len(traj) == 1


def test_equal_and_same_type_hooks_of_the_standard_parameter():
    param = Parameter("x", 1)
    assert param._equal_values(3, 3) and not param._equal_values(3, 4)
    assert not param._values_of_same_type(3, 3.0)
    assert param._values_of_same_type(np.array(["a"]), np.array(["abcdef"]))


def test_sparse_parameter_explores_and_round_trips(tmp_path):
    path = tmp_path / "sparse.hdf5"
    eye = sp.csr_matrix(np.eye(3))
    ones = sp.csr_matrix(np.ones((3, 3)))
    traj = Trajectory("t", add_time=False, filename=str(path))
    traj.f_add_parameter(SparseParameter, "m", eye, comment="a matrix")
    traj.f_explore({"m": [eye, ones, eye]})
    traj.f_store()
    loaded = _reload(path)
    param = loaded.f_get("m")
    assert type(param) is SparseParameter
    values = param.f_get_range()
    assert [type(v) for v in values] == [sp.csr_matrix] * 3
    assert [v.toarray().sum() for v in values] == [3.0, 9.0, 3.0]
    assert param._equal_values(values[0], eye) and not param._equal_values(values[1], eye)


def test_sparse_parameter_refuses_another_format_in_its_range():
    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter(SparseParameter, "m", sp.csr_matrix(np.eye(2)))
    with pytest.raises(TypeError, match="m"):
        traj.f_explore({"m": [sp.csr_matrix(np.eye(2)), sp.csc_matrix(np.eye(2))]})


@pytest.mark.parametrize("make", [sp.csr_matrix, sp.csc_matrix, sp.bsr_matrix, sp.dia_matrix, sp.csr_array])
def test_sparse_result_keeps_every_format(tmp_path, make):
    path = tmp_path / "sparse_result.hdf5"
    matrix = make(np.arange(16.0).reshape(4, 4) * (np.eye(4) + np.eye(4, k=1)))
    traj = Trajectory("t", add_time=False, filename=str(path))
    traj.f_add_result(SparseResult, "r", matrix, count=3)
    traj.f_store()
    back = _reload(path).f_get("r")
    assert type(back.r) is type(matrix) and back.r.format == matrix.format
    assert np.array_equal(back.r.toarray(), matrix.toarray())
    assert back.count == 3


def test_plain_result_refuses_a_sparse_matrix():
    traj = Trajectory("t", add_time=False)
    with pytest.raises(TypeError, match="r"):
        traj.f_add_result("r", sp.csr_matrix(np.eye(2)))


def test_object_table_cells_keep_their_types(tmp_path):
    path = tmp_path / "table.hdf5"
    table = ObjectTable(data={"a": [1, "two", 3.5], "b": [np.arange(2), (1, 2), None]})
    assert all(dtype == object for dtype in table.dtypes)
    traj = Trajectory("t", add_time=False, filename=str(path))
    traj.f_add_result("tab", table)
    traj.f_store()
    back = _reload(path).tab
    assert type(back) is ObjectTable
    assert [type(v) for v in back["a"]] == [int, str, float]
    assert np.array_equal(back["b"][0], np.arange(2)) and back["b"][1] == (1, 2) and back["b"][2] is None


class Quantity:
    """A value with a unit, which the codec cannot store (like brian2's quantities)."""

    def __init__(self, value, unit):
        self.value, self.unit = value, unit

    def __eq__(self, other):
        return isinstance(other, Quantity) and (self.value, self.unit) == (other.value, other.unit)


class QuantityParameter(Parameter):
    """Written the way pypet's unit-aware parameters are: own items, own range table, lock checks."""

    MARK = "__unit__"
    __slots__ = ()

    def f_supports(self, data):
        return isinstance(data, Quantity) or super().f_supports(data)

    def _values_of_same_type(self, a, b):
        if isinstance(a, Quantity) or isinstance(b, Quantity):
            return isinstance(a, Quantity) and isinstance(b, Quantity) and a.unit == b.unit
        return super()._values_of_same_type(a, b)

    def _store(self):
        if not isinstance(self._data, Quantity):
            return super()._store()
        store_dict = {"data" + self.MARK: ObjectTable(data={"value": [self._default.value],
                                                            "unit": [self._default.unit]})}
        if self.f_has_range():
            store_dict["explored_data" + self.MARK] = ObjectTable(
                data={"value": [q.value for q in self._explored_range]})
        self._locked = True
        return store_dict

    def _load(self, load_dict):
        if self.v_locked:
            raise RuntimeError(f"{self.v_full_name} is locked")
        table = load_dict["data" + self.MARK]
        unit = table["unit"][0]
        self._data = self._default = Quantity(table["value"][0], unit)
        if "explored_data" + self.MARK in load_dict:
            self._explored_range = [Quantity(v, unit) for v in load_dict["explored_data" + self.MARK]["value"]]
            self._explored = True
        self._locked = True


class QuantityResult(Result):
    """pypet's Result hooks: ``_supports`` decides, ``self._logger`` is there."""

    def _supports(self, item):
        return isinstance(item, Quantity) or super()._supports(item)

    def _store(self):
        store_dict = {}
        for key, value in self._data.items():
            if isinstance(value, Quantity):
                self._logger.debug("storing %s with its unit", key)
                store_dict[key + "__unit__"] = ObjectTable(data={"value": [value.value], "unit": [value.unit]})
            else:
                store_dict[key] = value
        return store_dict

    def _load(self, load_dict):
        for key, value in load_dict.items():
            if key.endswith("__unit__"):
                self._data[key[:-8]] = Quantity(value["value"][0], value["unit"][0])
            else:
                self._data[key] = value


def test_unit_aware_parameter_and_result_port_unchanged(tmp_path):
    path = tmp_path / "units.hdf5"
    imports = [QuantityParameter, QuantityResult]
    traj = Trajectory("t", add_time=False, filename=str(path), dynamic_imports=imports)
    traj.f_add_parameter(QuantityParameter, "tau", Quantity(10.0, "ms"))
    traj.f_explore({"tau": [Quantity(10.0, "ms"), Quantity(20.0, "ms")]})
    traj.f_add_result(QuantityResult, "rate", Quantity(3.5, "Hz"), count=4)
    traj.f_store()
    loaded = _reload(path, dynamic_imports=imports)
    tau = loaded.f_get("tau")
    assert tau.f_get() == Quantity(10.0, "ms")
    assert tau.f_get_range() == (Quantity(10.0, "ms"), Quantity(20.0, "ms"))
    loaded.f_load_item(tau)  # loading again into the locked parameter must not trip its lock check
    assert loaded.f_get("rate").f_get("rate") == Quantity(3.5, "Hz") and loaded.f_get("rate").count == 4
    with pytest.raises(TypeError, match="'count'"):
        loaded.f_get("rate").f_set(count=object())


class Rounded(Parameter):
    """Values equal when they round to the same integer (a custom ``_equal_values``)."""

    def _equal_values(self, a, b):
        return round(a) == round(b)


def test_merge_remove_duplicates_asks_the_parameters_equal_values(tmp_path):
    def make(name, values):
        traj = Trajectory(name, add_time=False, filename=str(tmp_path / f"{name}.hdf5"), dynamic_imports=[Rounded])
        traj.f_add_parameter(Rounded, "v", values[0])
        traj.f_explore({"v": values})
        traj.f_store()
        return traj

    mine = make("mine", [1.0, 2.0])
    other = make("other", [2.2, 3.0, 0.9])
    mine.f_merge(other, remove_duplicates=True)
    assert mine.f_get("v").f_get_range() == (1.0, 2.0, 3.0)


def test_a_data_frame_value_is_not_mistaken_for_a_pypet_table(tmp_path):
    import pandas as pd

    path = tmp_path / "frame.hdf5"
    frame = pd.DataFrame({"data": [5]})
    traj = Trajectory("t", add_time=False, filename=str(path))
    traj.f_add_parameter("f", frame)
    traj.f_store()
    back = _reload(path).f
    assert isinstance(back, pd.DataFrame) and back["data"].tolist() == [5]


def test_pypet_style_single_value_table_is_unwrapped(tmp_path):
    class Tabled(Parameter):
        def _store(self):
            return {"data": ObjectTable(data={"data": [self._default]})}

    path = tmp_path / "tabled.hdf5"
    traj = Trajectory("t", add_time=False, filename=str(path), dynamic_imports=[Tabled])
    traj.f_add_parameter(Tabled, "v", 7)
    traj.f_store()
    assert _reload(path, dynamic_imports=[Tabled]).v == 7


def test_sparse_result_refuses_item_names_with_its_marker():
    result = SparseResult("r")
    with pytest.raises(AttributeError, match="__spsp__"):
        result.f_set(**{"a__spsp__data": 1})


def test_trajectory_pickled_by_an_older_rigbook_still_works():
    import pickle

    traj = Trajectory("t", add_time=False)
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2]})
    state = traj.__dict__.copy()
    for key in ("_wildcards", "_auto_run_prepend", "_no_clobber", "_with_links", "_link_count"):
        state.pop(key)
    param = traj.f_get("x")
    param.__dict__["_range"] = param.__dict__.pop("_explored_range")  # the old attribute name
    old = Trajectory.__new__(Trajectory)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    old.v_idx = 1
    assert old.x == 2 and old.f_wildcard("$") == "run_00000001"
