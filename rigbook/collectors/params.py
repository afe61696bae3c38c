"""Settings with checked values: lightparam's ``Param`` and a ``Parametrized`` that refuses bad values.

lightparam stores whatever it is given. Rigbook's :class:`Parametrized` checks
every value set on one of its parameters against the parameter's *kind* (taken
from its default value) and its *limits*, and refuses a bad one with a
``ValueError`` naming the parameter path (``"stimulus/protocol/gratings/speed"``).

Kinds and what they accept
--------------------------
======== =========================================== ============================
kind     default value                               accepted on set
======== =========================================== ============================
bool     ``bool`` / ``numpy.bool_``                  bools only
int      ``int`` / numpy integer (not bool)          ints (never bools)
float    ``float`` / numpy floating                  floats and ints (stored as float)
str      ``str``                                     strings
range    a 2-tuple of numbers (a range slider)       a 2-tuple or 2-list of numbers
list     any other list or tuple                     a list or tuple (stored as the default's type)
any      ``None``                                    anything
object   anything else                               instances of the default's type
======== =========================================== ============================

numpy scalars are stored as the matching Python value.

Limits
------
For numbers (kinds int, float, range) ``limits`` of two entries are an
inclusive range ``[lo, hi]`` (either end may be ``None`` for open); any other
list of limits is a list of choices. For all other kinds a list of limits is a
list of choices (a combo box). NaN never fits a range.
"""

import logging
import math

import lightparam
import numpy as np
from lightparam import Param  # re-exported: Rigbook's Param is lightparam's
from psygnal import SignalInstance

__all__ = [
    "Param",
    "ParamTypeError",
    "Parametrized",
    "check_value",
    "param_kind",
    "param_limits",
]

logger = logging.getLogger(__name__)


class ParamTypeError(ValueError, TypeError):
    """A value of the wrong type for a parameter (catchable as ValueError or TypeError)."""


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return _is_integer(value) or isinstance(value, (float, np.floating))


def value_kind(value):
    """The kind (see module docstring) of a parameter whose default is ``value``."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if _is_integer(value):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    if value is None:
        return "any"
    if isinstance(value, tuple) and len(value) == 2 and all(_is_real(v) for v in value):
        return "range"
    if isinstance(value, (list, tuple)):
        return "list"
    return "object"


def param_kind(param):
    """The kind of ``param``, judged from its current value."""
    return value_kind(param.value)


def param_limits(param, kind=None):
    """How ``param.limits`` constrains values.

    Returns
    -------
    tuple
        ``("none",)``, ``("range", lo, hi)`` (either may be ``None``) or
        ``("choices", [choice, ...])``.
    """
    limits = param.limits
    kind = kind or param_kind(param)
    if limits is None:
        return ("none",)
    if not isinstance(limits, (list, tuple)):
        raise ValueError(f"limits must be a list, not {type(limits).__name__}: {limits!r}")
    if (
        kind in ("int", "float", "range")
        and len(limits) == 2
        and all(v is None or _is_real(v) for v in limits)
    ):
        return ("range", limits[0], limits[1])
    return ("choices", list(limits))


def _python_number(value, kind):
    if kind == "float":
        return float(value)
    return int(value)


def _coerce_type(value, kind, default, path):
    """Return ``value`` converted to ``kind`` or raise ParamTypeError."""
    def refuse():
        raise ParamTypeError(
            f"{path}: {value!r} ({type(value).__name__}) is not a valid {kind} value"
            + (f" (the parameter's default is {default!r})" if kind in ("object", "list") else "")
        )

    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            refuse()
        return bool(value)
    if kind == "int":
        if not _is_integer(value):
            refuse()
        return int(value)
    if kind == "float":
        if not _is_real(value):
            refuse()
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            refuse()
        return str(value)
    if kind == "range":
        if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_real(v) for v in value)):
            refuse()
        element = "float" if any(isinstance(v, (float, np.floating)) for v in default) else "int"
        if element == "int" and not all(_is_integer(v) for v in value):
            refuse()
        return tuple(_python_number(v, element) for v in value)
    if kind == "list":
        if not isinstance(value, (list, tuple)):
            refuse()
        return type(default)(value)
    if kind == "object":
        if not isinstance(value, type(default)):
            refuse()
        return value
    return value  # kind "any"


def _outside(value, lo, hi):
    if isinstance(value, float) and math.isnan(value):
        return True
    return (lo is not None and value < lo) or (hi is not None and value > hi)


def _range_text(lo, hi):
    return f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"


def check_value(param, value, path, kind=None):
    """Return ``value`` as ``param`` stores it, or raise ValueError naming ``path``.

    Parameters
    ----------
    param : lightparam.Param
        The parameter to be set (its current value sets the kind unless ``kind`` is given).
    value : object
        The candidate value.
    path : str
        The parameter path used in error messages, e.g. ``"camera/settings/exposure"``.
    kind : str, optional
        The parameter's kind; default: judged from its current value.

    Raises
    ------
    ParamTypeError
        (a ValueError and a TypeError) if the value has the wrong type.
    ValueError
        If the value is outside the limits or not among the choices.
    """
    kind = kind or param_kind(param)
    value = _coerce_type(value, kind, param.value, path)
    limits = param_limits(param, kind)
    if limits[0] == "range":
        lo, hi = limits[1], limits[2]
        elements = value if kind == "range" else (value,)
        if any(_outside(v, lo, hi) for v in elements):
            raise ValueError(f"{path}: {value!r} is outside the limits {_range_text(lo, hi)}")
    elif limits[0] == "choices" and value not in limits[1]:
        raise ValueError(f"{path}: {value!r} is not one of the choices {limits[1]!r}")
    return value


def fit_value(param, value, path, kind=None):
    """Fit a restored value to ``param`` the forgiving way: clamp numbers, never raise.

    Returns
    -------
    tuple
        ``(status, value, detail)`` with status ``"ok"`` (value as stored),
        ``"clamped"`` (value moved inside the range) or ``"type changed"`` /
        ``"not a valid choice"`` (value is None; detail says why).
    """
    kind = kind or param_kind(param)
    try:
        value = _coerce_type(value, kind, param.value, path)
    except ParamTypeError as error:
        return "type changed", None, str(error)
    limits = param_limits(param, kind)
    if limits[0] == "choices":
        if value not in limits[1]:
            return "not a valid choice", None, f"{path}: {value!r} is not one of the choices {limits[1]!r}"
        return "ok", value, ""
    if limits[0] == "range":
        lo, hi = limits[1], limits[2]
        elements = list(value) if kind == "range" else [value]
        if any(isinstance(v, float) and math.isnan(v) for v in elements):
            return "type changed", None, f"{path}: NaN does not fit the limits {_range_text(lo, hi)}"
        clamped = []
        for v in elements:
            if lo is not None and v < lo:
                v = _python_number(lo, "float" if isinstance(v, float) else "int")
            if hi is not None and v > hi:
                v = _python_number(hi, "float" if isinstance(v, float) else "int")
            clamped.append(v)
        new_value = tuple(clamped) if kind == "range" else clamped[0]
        if new_value != value:
            return "clamped", new_value, f"{path}: {value!r} clamped to {new_value!r} (limits {_range_text(lo, hi)})"
    return "ok", value, ""


class _CheckedParamContainer(lightparam.ParamContainer):
    """lightparam's container, but ``params.values = {...}`` goes through the checks."""

    @property
    def values(self):
        return lightparam.ParamContainer.values.fget(self)

    @values.setter
    def values(self, new_values):
        for key, val in new_values.items():
            if key not in self.items():
                raise KeyError(f"{self.parametrized.name}/{key}: no such parameter")
            setattr(self.parametrized, key, val)


class Parametrized(lightparam.Parametrized):
    """A lightparam ``Parametrized`` that refuses values of the wrong type or outside limits.

    Parameters
    ----------
    name : str
        The owner path, e.g. ``"stimulus/protocol/gratings"``; it names the
        owner in metadata.json, in config.h5 and in error messages.
    tree : ParameterTree, optional
        A tree (such as :class:`rigbook.collectors.DataCollector`) to register with.
    params : dict or callable, optional
        Parameters by name, or a function whose annotations are Params.

    Attributes
    ----------
    param_changed : psygnal.SignalInstance
        Emits ``(name, new_value)`` after a parameter's value changed.

    Examples
    --------
    >>> class Gratings(Parametrized):
    ...     def __init__(self, tree=None):
    ...         super().__init__(name="stimulus/protocol/gratings", tree=tree)
    ...         self.speed = Param(10.0, limits=[0, 50], unit="mm/s")
    >>> g = Gratings()
    >>> g.speed = 20          # ints are fine for float parameters
    >>> g.speed = 100
    Traceback (most recent call last):
    ...
    ValueError: stimulus/protocol/gratings/speed: 100.0 is outside the limits [0, 50]
    """

    def __init__(self, name="", tree=None, params=None):
        object.__setattr__(self, "_param_kinds", {})
        object.__setattr__(
            self, "param_changed", SignalInstance((str, object), instance=self, name="param_changed")
        )
        # lightparam registers with the tree at the end of its __init__; our
        # container must exist before anything (a restore) can run on it.
        object.__setattr__(self, "params", _CheckedParamContainer(self))
        super().__init__(name=name, tree=None, params=params)
        object.__setattr__(self, "params", _CheckedParamContainer(self))
        if tree is not None:
            tree.add(self)

    def param_path(self, name):
        """The full path of parameter ``name``: ``"<owner>/<name>"``."""
        return f"{self.name}/{name}" if self.name else name

    def param_kind(self, name):
        """The kind of parameter ``name``, fixed by the value it had when first checked."""
        kinds = object.__getattribute__(self, "_param_kinds")
        if name not in kinds:
            kinds[name] = param_kind(object.__getattribute__(self, name))
        return kinds[name]

    def __setattr__(self, item, value):
        try:
            current = object.__getattribute__(self, item)
        except AttributeError:
            current = None
        if isinstance(current, Param) and not isinstance(value, Param):
            value = check_value(current, value, self.param_path(item), self.param_kind(item))
            old = current.value
            super().__setattr__(item, value)
            if _differs(old, value):
                self.param_changed.emit(item, value)
            return
        if isinstance(value, Param):
            kind = value_kind(value.value)
            if kind in ("int", "float", "range", "bool"):
                # Store numpy defaults as Python values so config.h5 and json agree.
                value.value = _coerce_type(value.value, kind, value.value, self.param_path(item))
            check_value(value, value.value, self.param_path(item), kind)
            object.__getattribute__(self, "_param_kinds").pop(item, None)
        super().__setattr__(item, value)


def _differs(old, new):
    try:
        return bool(old != new)
    except Exception:  # noqa: BLE001  (arrays and odd objects: assume a change)
        return True
