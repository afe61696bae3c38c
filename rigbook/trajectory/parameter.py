"""Parameters: typed, explorable values of the trajectory."""

import logging
import pickle

import numpy as np

from rigbook.trajectory import codec, trust
from rigbook.trajectory.errors import ParameterLockedException
from rigbook.trajectory.node import NNLeaf
from rigbook.trajectory.objecttable import ObjectTable, range_values  # noqa: F401  (range_values: its old home)

logger = logging.getLogger(__name__)


def _same_type(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, (np.ndarray, np.generic)):
        if a.dtype.kind in "US":
            # Strings of different lengths are one kind of value (pypet explores them together).
            return a.dtype.kind == b.dtype.kind
        return a.dtype == b.dtype
    return True


def _short(value, limit=64):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BaseParameter(NNLeaf):
    """Common behaviour of parameters: default value, exploration range, lock.

    The public ``f_`` methods check locks and arguments and then call the
    hooks pypet documents for custom parameters, so a subclass written for
    pypet ports unchanged: ``_convert_data(value)`` (applied to every value
    set or explored), ``_values_of_same_type(a, b)`` and ``_equal_values(a,
    b)``, ``_explore(values)`` / ``_expand(values)`` / ``_shrink()``,
    ``_set_parameter_access(idx)`` / ``_restore_default()``, and
    ``_store()`` / ``_load(load_dict)`` (``load_dict['explored_data']`` is an
    :class:`ObjectTable` with the range in column ``'data'``). The state lives
    in pypet's attributes ``_data``, ``_default``, ``_explored_range`` (a list,
    empty when not explored), ``_explored`` and ``_locked``.

    Parameters
    ----------
    full_name : str
        Dotted name; the last part is the parameter's name.
    data
        Default value. ``None`` leaves the parameter empty.
    comment : str
        Descriptive comment.
    """

    def __init__(self, full_name, data=None, comment=""):
        super().__init__(full_name, comment)
        d = self.__dict__
        d["_data"] = None
        d["_default"] = None
        d["_explored_range"] = []
        d["_explored"] = False
        d["_locked"] = False
        if data is not None:
            self.f_set(data)

    def __setstate__(self, state):
        if "_range" in state:  # pickled by an older Rigbook (a resume recipe): None meant not explored
            old = state.pop("_range")
            state["_explored_range"] = list(old) if old is not None else []
        self.__dict__.update(state)

    # state -------------------------------------------------------------------
    v_is_parameter = True

    @property
    def v_locked(self):
        """Whether the value can no longer change."""
        return self._locked

    @property
    def v_explored(self):
        """Whether the parameter has an exploration range."""
        return self._explored

    @property
    def v_data(self):
        """The current value (the default, or the run's value during a run)."""
        return self._data

    def f_lock(self):
        """Lock the parameter: ``f_set`` and ``f_empty`` are refused afterwards."""
        self._locked = True

    def f_unlock(self):
        """Unlock the parameter."""
        self._locked = False

    def f_has_range(self):
        """Whether the parameter is explored."""
        return len(self._explored_range) > 0

    def f_is_empty(self):
        """Whether the parameter holds no value."""
        return self._data is None and not self._explored_range

    def f_supports_fast_access(self):
        return not self.f_is_empty()

    def f_get_range(self, copy=True):
        """The exploration range (a tuple), or raise TypeError if not explored."""
        if not self._explored_range:
            raise TypeError(f"parameter {self._full_name!r} is not explored")
        return tuple(self._explored_range) if copy else self._explored_range

    def f_get_range_length(self):
        """Length of the exploration range."""
        return len(self.f_get_range(copy=False))

    def __len__(self):
        if self._explored_range:
            return len(self._explored_range)
        return 0 if self._data is None else 1

    def f_get_default(self):
        """The default value (the value outside of runs)."""
        return self._default

    def f_get(self):
        """The current value."""
        if self._data is None:
            raise TypeError(f"parameter {self._full_name!r} is empty")
        return self._data

    def f_supports(self, data):
        """Whether ``data`` can be the value of this parameter."""
        try:
            self._check_value(data)
        except (TypeError, ValueError):
            return False
        return True

    def _check_value(self, data):
        codec.check_storable(data, f"value of parameter {self._full_name!r}")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._own_supports = cls.f_supports is not BaseParameter.f_supports

    _own_supports = False

    def _require_supported(self, data, what):
        if not self._own_supports:
            self._check_value(data)  # the codec's message names what inside the value is wrong
        elif not self.f_supports(data):
            raise TypeError(f"{what} of parameter {self._full_name!r}: {type(data).__name__} "
                            f"is not supported by {type(self).__name__}")

    # pypet's hooks -------------------------------------------------------------
    def _convert_data(self, value):
        """Turn a value into what the parameter keeps (identity here)."""
        return value

    def _values_of_same_type(self, a, b):
        """Whether ``a`` and ``b`` may be values of one exploration."""
        return _same_type(a, b)

    def _equal_values(self, a, b):
        """Whether ``a`` and ``b`` are the same value (used to find duplicate runs)."""
        if not self._values_of_same_type(a, b):
            return False
        try:
            return codec.to_json(a) == codec.to_json(b)
        except TypeError:  # not JSON-encodable (a pickled or custom value): the objects decide
            try:
                return bool(np.all(a == b))
            except Exception:
                return False

    def f_set(self, data):
        """Set the default value."""
        if self._locked:
            raise ParameterLockedException(
                f"parameter {self._full_name!r} is locked (read during a run or f_lock); "
                "call f_unlock() first if you really mean to change it"
            )
        if self._explored:
            raise TypeError(f"parameter {self._full_name!r} is explored; change its range with f_expand/f_shrink")
        if data is None:
            raise TypeError(f"None is not a value for parameter {self._full_name!r}")
        data = self._convert_data(data)
        self._require_supported(data, "value")
        self._data = self._default = data

    def f_empty(self):
        """Remove value and range."""
        if self._locked:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be emptied")
        self._data = self._default = None
        self._explored_range = []
        self._explored = False

    def _data_sanity_checks(self, iterable):
        """The values of ``iterable``, converted and checked against the default's type."""
        values = [self._convert_data(value) for value in iterable]
        if not values:
            raise ValueError(f"exploration range of {self._full_name!r} is empty")
        reference = self._default if self._default is not None else values[0]
        for i, value in enumerate(values):
            self._require_supported(value, f"exploration value {i}")
            if not self._values_of_same_type(value, reference):
                raise TypeError(
                    f"exploration value {i} of {self._full_name!r} is {type(value).__name__}"
                    f"{getattr(value, 'dtype', '')} but the parameter holds "
                    f"{type(reference).__name__}{getattr(reference, 'dtype', '')} (convert, e.g. with .tolist())"
                )
        return values

    def f_explore(self, iterable):
        """Give the parameter an exploration range (TypeError if it has one: use ``f_expand``)."""
        if self._locked:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be explored")
        if self._explored:
            raise TypeError(f"parameter {self._full_name!r} is already explored; use f_expand")
        self._explore(iterable)

    def _explore(self, iterable):
        values = self._data_sanity_checks(iterable)
        if self._default is None:
            self._default = self._data = values[0]
        self._explored_range = values
        self._explored = True

    def f_expand(self, iterable):
        """Append values to the exploration range (explores the parameter if it was not)."""
        if self._locked:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be expanded")
        if not self._explored:
            self._explore(iterable)
        else:
            self._expand(iterable)

    def _expand(self, iterable):
        values = self._data_sanity_checks(iterable)
        self._explored_range = list(self._explored_range) + values
        self._explored = True

    def f_shrink(self, force=False):
        """Remove the exploration range."""
        if self._locked and not force:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be shrunk")
        self._shrink()

    def _shrink(self):
        self._explored_range = []
        self._explored = False
        self._data = self._default

    def _set_parameter_access(self, idx=0):
        """Show the value of run ``idx`` (the default for a negative index or no range)."""
        if idx < 0 or not self._explored_range:
            self._data = self._default
        else:
            self._data = self._explored_range[idx]

    def _restore_default(self):
        self._data = self._default

    def f_restore_default(self):
        """Set the value back to the default."""
        self._restore_default()

    def f_val_to_str(self):
        if self._explored_range:
            return f"{_short(self._data)} (explored, {len(self._explored_range)} values)"
        return "<empty>" if self._data is None else _short(self._data)

    def __str__(self):
        # pypet's printed form, which example scripts' output relies on:
        # "Class full.name (len:N, `comment`): value", details omitted when absent.
        details = []
        if self.f_has_range():
            details.append(f"len:{self.f_get_range_length()}")
        if self._comment:
            details.append(f"`{self._comment}`")
        text = f"{type(self).__name__} {self._full_name}"
        if details:
            text += f" ({', '.join(details)})"
        if not self.f_is_empty():
            text += f": {self._data!r}"
        return text

    def __repr__(self):
        return f"<{self}>"

    # storage protocol ------------------------------------------------------------
    def _store(self):
        """Items to write: ``'data'`` (the default) and, when explored, ``'explored_data'``."""
        store_dict = {} if self._default is None else {"data": self._default}
        if self._explored_range:
            store_dict["explored_data"] = ObjectTable(data={"data": self._explored_range})
        return store_dict

    def _load(self, load_dict):
        """Take back what :meth:`_store` gave (values pass through ``_convert_data``)."""
        if "data" in load_dict:
            self._default = self._data = self._convert_data(_unwrap_table(load_dict["data"]))
        if "explored_data" in load_dict:
            self._explored_range = [self._convert_data(v) for v in range_values(load_dict["explored_data"])]
            self._explored = True
            if self._default is None and self._explored_range:
                self._default = self._data = self._explored_range[0]


def _unwrap_table(value):
    """pypet-style leaves store a single value as ``ObjectTable(data={'data': [value]})``."""
    if isinstance(value, ObjectTable) and list(value.columns) == ["data"] and len(value) == 1:
        return value["data"].iloc[0]
    return value


class Parameter(BaseParameter):
    """The standard parameter: any value Rigbook stores exactly (see :mod:`codec`)."""


class ArrayParameter(Parameter):
    """A parameter for numpy arrays (kept for pypet compatibility; :class:`Parameter` handles arrays too)."""


class PickleParameter(BaseParameter):
    """A parameter holding any picklable object; stored pickled, unpickled on load.

    Its pickles are signed (:mod:`rigbook.trajectory.trust`): loading one
    that this user's Rigbook did not write needs ``allow_pickle=True``.
    """

    def __init__(self, full_name, data=None, comment="", protocol=pickle.HIGHEST_PROTOCOL):
        self.__dict__["v_protocol"] = protocol
        super().__init__(full_name, data, comment)

    def _check_value(self, data):
        try:
            pickle.dumps(data, protocol=self.v_protocol)
        except Exception as error:
            raise TypeError(f"value of {self._full_name!r} cannot be pickled: {error}") from error

    def _store(self):
        store_dict = {"protocol": self.v_protocol}
        if self._default is not None:
            store_dict["data"] = trust.dumps(self._default, protocol=self.v_protocol)
        if self._explored_range:
            pickled = [trust.dumps(v, protocol=self.v_protocol) for v in self._explored_range]
            store_dict["explored_data"] = ObjectTable(data={"data": pickled})
        return store_dict

    def _load(self, load_dict):
        # Signed pickles only, unless the load was asked with allow_pickle=True (trust.allowing_pickles).
        if "protocol" in load_dict:
            self.__dict__["v_protocol"] = int(load_dict["protocol"])
        if "data" in load_dict:
            self._default = self._data = trust.loads(load_dict["data"], self._full_name)
        if "explored_data" in load_dict:
            self._explored_range = [trust.loads(v, f"{self._full_name} (explored range)")
                                    for v in range_values(load_dict["explored_data"])]
            self._explored = True
