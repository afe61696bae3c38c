"""Parameters: typed, explorable values of the trajectory."""

import logging
import pickle

import numpy as np

from rigbook.trajectory import codec, trust
from rigbook.trajectory.errors import ParameterLockedException
from rigbook.trajectory.node import NNLeaf

logger = logging.getLogger(__name__)


def _same_type(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype
    if isinstance(a, np.generic):
        return a.dtype == b.dtype
    return True


def _short(value, limit=64):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BaseParameter(NNLeaf):
    """Common behaviour of parameters: default value, exploration range, lock.

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
        d["_range"] = None
        d["_explored"] = False
        d["_locked"] = False
        if data is not None:
            self.f_set(data)

    # state -------------------------------------------------------------------
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
        self.__dict__["_locked"] = True

    def f_unlock(self):
        """Unlock the parameter."""
        self.__dict__["_locked"] = False

    def f_has_range(self):
        """Whether the parameter is explored."""
        return self._range is not None

    def f_is_empty(self):
        """Whether the parameter holds no value."""
        return self._data is None and self._range is None

    def f_supports_fast_access(self):
        return not self.f_is_empty()

    def f_get_range(self, copy=True):
        """The exploration range (a tuple), or raise TypeError if not explored."""
        if self._range is None:
            raise TypeError(f"parameter {self._full_name!r} is not explored")
        return tuple(self._range) if copy else self._range

    def f_get_range_length(self):
        """Length of the exploration range."""
        return len(self.f_get_range(copy=False))

    def __len__(self):
        return len(self._range) if self._range is not None else (0 if self._data is None else 1)

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
        self._check_value(data)
        self.__dict__["_data"] = data
        self.__dict__["_default"] = data

    def f_empty(self):
        """Remove value and range."""
        if self._locked:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be emptied")
        d = self.__dict__
        d["_data"] = d["_default"] = d["_range"] = None
        d["_explored"] = False

    def _check_range(self, iterable):
        values = list(iterable)
        if not values:
            raise ValueError(f"exploration range of {self._full_name!r} is empty")
        reference = self._default if self._default is not None else values[0]
        for i, value in enumerate(values):
            self._check_value(value)
            if not _same_type(value, reference):
                raise TypeError(
                    f"exploration value {i} of {self._full_name!r} is {type(value).__name__}"
                    f"{getattr(value, 'dtype', '')} but the parameter holds "
                    f"{type(reference).__name__}{getattr(reference, 'dtype', '')} (convert, e.g. with .tolist())"
                )
        return values

    def f_explore(self, iterable):
        """Give the parameter an exploration range."""
        if self._locked:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be explored")
        if self._explored:
            raise TypeError(f"parameter {self._full_name!r} is already explored; use f_expand")
        values = self._check_range(iterable)
        d = self.__dict__
        if d["_default"] is None:
            d["_default"] = d["_data"] = values[0]
        d["_range"] = values
        d["_explored"] = True

    def f_expand(self, iterable):
        """Append values to the exploration range (explores the parameter if it was not)."""
        if self._locked:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be expanded")
        values = self._check_range(iterable)
        d = self.__dict__
        if d["_range"] is None:
            if d["_default"] is None:
                d["_default"] = d["_data"] = values[0]
            d["_range"] = []
        d["_range"].extend(values)
        d["_explored"] = True

    def f_shrink(self, force=False):
        """Remove the exploration range."""
        if self._locked and not force:
            raise ParameterLockedException(f"parameter {self._full_name!r} is locked and cannot be shrunk")
        d = self.__dict__
        d["_range"] = None
        d["_explored"] = False
        d["_data"] = d["_default"]

    def _set_parameter_access(self, idx=-1):
        d = self.__dict__
        if idx < 0 or d["_range"] is None:
            d["_data"] = d["_default"]
        else:
            d["_data"] = d["_range"][idx]

    def f_restore_default(self):
        """Set the value back to the default."""
        self._set_parameter_access(-1)

    def f_val_to_str(self):
        if self._range is not None:
            return f"{_short(self._data)} (explored, {len(self._range)} values)"
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
        return {} if self._default is None else {"data": self._default}

    def _load(self, items, explored_range=None):
        d = self.__dict__
        if "data" in items:
            d["_default"] = d["_data"] = items["data"]
        if explored_range is not None:
            d["_range"] = list(explored_range)
            d["_explored"] = True
            if d["_default"] is None and d["_range"]:
                d["_default"] = d["_data"] = d["_range"][0]


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
        out = {}
        if self._default is not None:
            out["data"] = trust.dumps(self._default, protocol=self.v_protocol)
        out["protocol"] = self.v_protocol
        return out

    def _pickled_range(self):
        return None if self._range is None else [trust.dumps(v, protocol=self.v_protocol) for v in self._range]

    def _load(self, items, explored_range=None):
        d = self.__dict__
        if "protocol" in items:
            d["v_protocol"] = int(items["protocol"])
        if "data" in items:
            d["_default"] = d["_data"] = trust.loads(items["data"], self._full_name)
        if explored_range is not None:
            d["_range"] = [trust.loads(v, f"{self._full_name} (explored range)") for v in explored_range]
            d["_explored"] = True
