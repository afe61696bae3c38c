"""Parametrized refuses values of the wrong type or outside limits, naming the parameter path."""

import numpy as np
import pytest

from rigbook.collectors import Param, Parametrized
from rigbook.collectors.params import fit_value, param_limits


class Gratings(Parametrized):
    def __init__(self, tree=None):
        super().__init__(name="stimulus/protocol/gratings", tree=tree)
        self.speed = Param(10.0, limits=[0, 50], unit="mm/s")
        self.n_bars = Param(4, limits=(1, 20))
        self.direction = Param("left", limits=["left", "right", "up"])
        self.flash = Param(False)
        self.window = Param((0.2, 0.8), limits=(0, 1))
        self.label = Param("plain")
        self.anything = Param(None)


@pytest.fixture
def gratings():
    return Gratings()


def test_valid_values_are_set_and_read_back(gratings):
    gratings.speed = 25.5
    gratings.n_bars = 7
    gratings.direction = "up"
    gratings.flash = True
    gratings.window = (0.1, 0.9)
    assert (gratings.speed, gratings.n_bars, gratings.direction, gratings.flash, gratings.window) == (
        25.5, 7, "up", True, (0.1, 0.9),
    )


def test_int_is_accepted_for_a_float_parameter_and_stored_as_float(gratings):
    gratings.speed = 20
    assert gratings.speed == 20.0 and isinstance(gratings.speed, float)
    # the kind stays float: a later float is still fine
    gratings.speed = 20.5
    assert gratings.speed == 20.5


def test_numpy_scalars_are_stored_as_python_values(gratings):
    gratings.n_bars = np.int32(5)
    gratings.speed = np.float32(1.5)
    gratings.flash = np.bool_(True)
    assert type(gratings.n_bars) is int and type(gratings.speed) is float and type(gratings.flash) is bool


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("speed", 50.5, "outside the limits [0, 50]"),
        ("speed", -1, "outside the limits"),
        ("speed", float("nan"), "outside the limits"),
        ("speed", True, "not a valid float"),
        ("speed", "fast", "not a valid float"),
        ("n_bars", 2.0, "not a valid int"),
        ("n_bars", True, "not a valid int"),
        ("n_bars", 0, "outside the limits [1, 20]"),
        ("direction", "down", "not one of the choices"),
        ("direction", 3, "not a valid str"),
        ("flash", 1, "not a valid bool"),
        ("window", (0.5, 1.5), "outside the limits [0, 1]"),
        ("window", (0.5,), "not a valid range"),
        ("label", b"bytes", "not a valid str"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter_path(gratings, name, value, words):
    before = getattr(gratings, name)
    with pytest.raises(ValueError) as error:
        setattr(gratings, name, value)
    assert f"stimulus/protocol/gratings/{name}" in str(error.value)
    assert words in str(error.value)
    assert getattr(gratings, name) == before


def test_wrong_type_is_also_a_type_error(gratings):
    with pytest.raises(TypeError, match="stimulus/protocol/gratings/n_bars"):
        gratings.n_bars = "four"


def test_untyped_parameter_accepts_anything(gratings):
    gratings.anything = {"a": [1, 2]}
    assert gratings.anything == {"a": [1, 2]}


def test_params_values_setter_is_checked_too(gratings):
    gratings.params.values = {"speed": 3}
    assert gratings.speed == 3.0
    with pytest.raises(ValueError, match="gratings/speed"):
        gratings.params.values = {"speed": 300}
    with pytest.raises(KeyError, match="gratings/nope"):
        gratings.params.values = {"nope": 1}


def test_a_default_outside_its_own_limits_is_refused():
    owner = Parametrized(name="camera/settings")
    with pytest.raises(ValueError, match="camera/settings/exposure"):
        owner.exposure = Param(500.0, limits=[0, 100])


def test_params_given_as_dict_are_checked():
    owner = Parametrized(name="animal/metadata", params=dict(age=Param(5, limits=[0, 30])))
    with pytest.raises(ValueError, match="animal/metadata/age"):
        owner.age = 31


def test_change_signal_fires_once_per_real_change(gratings):
    seen = []
    gratings.param_changed.connect(lambda name, value: seen.append((name, value)))
    gratings.speed = 12
    gratings.speed = 12
    with pytest.raises(ValueError):
        gratings.speed = 100
    assert seen == [("speed", 12.0)]


def test_limits_interpretation():
    assert param_limits(Param(1.0, limits=[0, 1])) == ("range", 0, 1)
    assert param_limits(Param(1, limits=(None, 5))) == ("range", None, 5)
    assert param_limits(Param(1, limits=[1, 2, 5])) == ("choices", [1, 2, 5])
    assert param_limits(Param("a", limits=["a", "b"])) == ("choices", ["a", "b"])
    assert param_limits(Param(1.0)) == ("none",)


def test_fit_value_clamps_numbers_and_reports_type_changes():
    p = Param(1.0, limits=[0, 2])
    assert fit_value(p, 5, "x")[:2] == ("clamped", 2.0)
    assert fit_value(p, -5.0, "x")[:2] == ("clamped", 0.0)
    assert fit_value(p, 1.5, "x")[:2] == ("ok", 1.5)
    assert fit_value(p, "a", "x")[0] == "type changed"
    assert fit_value(Param((0.1, 0.2), limits=(0, 1)), (-1, 0.5), "r")[:2] == ("clamped", (0.0, 0.5))
    assert fit_value(Param("a", limits=["a", "b"]), "c", "c")[0] == "not a valid choice"


# -- property: a value is stored exactly when it fits, and a refused one changes nothing ----------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

candidates = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(candidates)
def test_float_parameter_accepts_exactly_the_real_numbers_in_range(value):
    owner = Parametrized(name="camera/settings", params=dict(gain=Param(1.0, limits=[-10, 10])))
    fits = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == value
        and -10 <= value <= 10
    )
    if fits:
        owner.gain = value
        assert owner.gain == float(value) and type(owner.gain) is float
    else:
        with pytest.raises(ValueError, match="camera/settings/gain"):
            owner.gain = value
        assert owner.gain == 1.0
