"""Results: leaves holding several named values."""

import logging
import pickle

from rigbook.trajectory import codec, trust
from rigbook.trajectory.node import NNLeaf

logger = logging.getLogger(__name__)


class BaseResult(NNLeaf):
    """Base of results."""


class Result(BaseResult):
    """A result holding named items.

    ``Result('name', value, x=1, comment='...')`` stores ``value`` under the
    result's own name and ``x`` under ``'x'``; several positional values are
    named ``name``, ``name_1``, ``name_2``... Items are reachable as
    attributes (``res.x``), with ``res['x']`` and with :meth:`f_get`.
    """

    def __init__(self, full_name, *args, comment="", **kwargs):
        super().__init__(full_name, comment)
        self.__dict__["_data"] = {}
        if args or kwargs:
            self.f_set(*args, **kwargs)

    def _check_item(self, name, item):
        codec.check_storable(item, f"item {name!r} of result {self._full_name!r}")

    def _supports(self, item):
        """pypet's hook: whether ``item`` can be stored (override it, or :meth:`_check_item`)."""
        try:
            self._check_item("item", item)
        except TypeError:
            return False
        return True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._own_supports = cls._supports is not Result._supports

    _own_supports = False

    def _require_supported(self, name, item):
        if not self._own_supports:
            self._check_item(name, item)  # the codec's message names what inside the item is wrong
        elif not self._supports(item):
            raise TypeError(f"item {name!r} of result {self._full_name!r}: {type(item).__name__} "
                            f"is not supported by {type(self).__name__}")

    # items -------------------------------------------------------------------
    def f_translate_key(self, key):
        """Name of positional item ``key`` (0 is the result's name, i is ``name_i``)."""
        if isinstance(key, int):
            return self._name if key == 0 else f"{self._name}_{key}"
        return key

    def f_set(self, *args, **kwargs):
        """Add or replace items."""
        for index, item in enumerate(args):
            self.f_set_single(self.f_translate_key(index), item)
        for name, item in kwargs.items():
            self.f_set_single(name, item)

    def f_set_single(self, name, item):
        """Add or replace one item."""
        if not isinstance(name, str) or not name or name.startswith("__") or "/" in name:
            raise ValueError(
                f"item name {name!r} of result {self._full_name!r} must be a non-empty string "
                "without '/' and not starting with '__'")
        if name.startswith(("f_", "v_")) or name in ("func", "vars"):
            raise ValueError(f"item name {name!r} of result {self._full_name!r} is reserved by the trajectory API")
        self._require_supported(name, item)
        self._data[name] = item

    def f_get(self, *args):
        """One item by name or index, a list of several, or without arguments the only item.

        Raises
        ------
        ValueError
            Without arguments, if the result holds several items.
        AttributeError
            If the result is empty or has no such item.
        """
        data = self._data
        if not args:
            if len(data) == 1:
                for value in data.values():
                    return value
            if not data:
                raise AttributeError(f"result {self._full_name!r} is empty")
            raise ValueError(f"result {self._full_name!r} has several items {sorted(data)}: name the one you want")
        values = []
        for key in args:
            key = self.f_translate_key(key)
            try:
                values.append(data[key])
            except KeyError:
                raise AttributeError(f"result {self._full_name!r} has no item {key!r}") from None
        return values[0] if len(values) == 1 else values

    def f_supports_fast_access(self):
        # pypet's rule: only a result holding a single item named like itself is
        # replaced by its value, so results with several items stay reachable.
        return len(self._data) == 1 and self._name in self._data

    def f_supports(self, item):
        """Whether ``item`` can be stored in this result."""
        return self._supports(item)

    def f_to_dict(self, copy=True):
        """Items as a dictionary."""
        return dict(self._data) if copy else self._data

    def f_is_empty(self):
        """Whether the result holds no items."""
        return not self._data

    def f_empty(self):
        """Remove all items."""
        self._data.clear()

    def f_remove(self, *args):
        """Remove items by name."""
        for key in args:
            key = self.f_translate_key(key)
            try:
                del self._data[key]
            except KeyError:
                raise AttributeError(f"result {self._full_name!r} has no item {key!r}") from None

    def f_val_to_str(self):
        parts = []
        for name, item in self._data.items():
            text = repr(item)
            parts.append(f"{name}={text if len(text) < 40 else text[:37] + '...'}")
        return ", ".join(parts)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        data = self.__dict__.get("_data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(f"result {self.__dict__.get('_full_name')!r} has no item {name!r}")

    def __setattr__(self, name, value):
        if name.startswith(("_", "v_", "f_")) or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            self.f_set_single(name, value)

    def __delattr__(self, name):
        if name in self._data:
            del self._data[name]
        else:
            object.__delattr__(self, name)

    def __getitem__(self, key):
        return self.f_get(key)

    def __setitem__(self, key, value):
        self.f_set_single(self.f_translate_key(key), value)

    def __contains__(self, key):
        return key in self._data

    def __iter__(self):
        return iter(self._data)

    def __dir__(self):
        return list(super().__dir__()) + list(self._data)

    def _store(self):
        return dict(self._data)

    def _load(self, items):
        self._data.update(items)


class PickleResult(Result):
    """A result whose items may be any picklable object; stored pickled, unpickled on load.

    Its pickles are signed (:mod:`rigbook.trajectory.trust`): loading one
    that this user's Rigbook did not write needs ``allow_pickle=True``.
    """

    def __init__(self, full_name, *args, comment="", protocol=pickle.HIGHEST_PROTOCOL, **kwargs):
        self.__dict__["v_protocol"] = protocol
        super().__init__(full_name, *args, comment=comment, **kwargs)

    def _check_item(self, name, item):
        try:
            pickle.dumps(item, protocol=self.v_protocol)
        except Exception as error:
            raise TypeError(f"item {name!r} of {self._full_name!r} cannot be pickled: {error}") from error

    def _store(self):
        out = {name: trust.dumps(item, protocol=self.v_protocol) for name, item in self._data.items()}
        out["__protocol"] = self.v_protocol
        return out

    def _load(self, items):
        for name, raw in items.items():
            if name == "__protocol":
                self.__dict__["v_protocol"] = int(raw)
            else:
                self._data[name] = trust.loads(raw, f"{self._full_name}.{name}")
