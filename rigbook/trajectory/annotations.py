"""Annotations: small named values attached to any node of the tree."""

from rigbook.trajectory import codec


class Annotations:
    """Named annotations of a tree node, reachable as attributes or by ``f_get``/``f_set``.

    Stored by the HDF5 service as one tagged-JSON attribute of the node, so any
    value :mod:`rigbook.trajectory.codec` encodes exactly comes back with its type.
    """

    def __init__(self):
        self.__dict__["_dict"] = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.__dict__["_dict"][name]
        except KeyError:
            raise AttributeError(f"no annotation named {name!r}") from None

    def __setattr__(self, name, value):
        self.f_set_single(name, value)

    def __delattr__(self, name):
        self.f_remove(name)

    def __getstate__(self):
        return dict(self._dict)

    def __setstate__(self, state):
        self.__dict__["_dict"] = dict(state)

    def __iter__(self):
        return iter(self._dict)

    def __len__(self):
        return len(self._dict)

    def __eq__(self, other):
        return isinstance(other, Annotations) and self._dict == other._dict

    def f_is_empty(self):
        """Whether there are no annotations."""
        return not self._dict

    def f_empty(self):
        """Remove all annotations."""
        self._dict.clear()

    def f_to_dict(self, copy=True):
        """The annotations as a dictionary."""
        return dict(self._dict) if copy else self._dict

    def f_get(self, *args):
        """One annotation by name (or index ``0``), a tuple of several, or the only one."""
        if not args:
            if len(self._dict) == 1:
                return next(iter(self._dict.values()))
            if not self._dict:
                raise ValueError("there are no annotations")
            raise ValueError("several annotations exist: name the ones you want")
        values = []
        for name in args:
            if isinstance(name, int):
                name = f"annotation_{name}"
            try:
                values.append(self._dict[name])
            except KeyError:
                raise AttributeError(f"no annotation named {name!r}") from None
        return values[0] if len(values) == 1 else tuple(values)

    def f_set(self, *args, **kwargs):
        """Set annotations; positional ones are named ``annotation_0``, ``annotation_1``, ..."""
        for index, value in enumerate(args):
            self.f_set_single(f"annotation_{index}", value)
        for name, value in kwargs.items():
            self.f_set_single(name, value)

    def f_set_single(self, name, value):
        """Set one annotation; the value must be exactly storable (checked now, not at store time)."""
        if not isinstance(name, str) or not name or name.startswith("_"):
            raise ValueError(f"annotation name {name!r} must be a non-empty string not starting with '_'")
        codec.encode(value, f"annotation {name!r}")
        self._dict[name] = value

    def f_remove(self, key):
        """Remove one annotation."""
        try:
            del self._dict[key]
        except KeyError:
            raise AttributeError(f"no annotation named {key!r}") from None

    def f_ann_to_str(self):
        """The annotations as ``name=value; ...``."""
        return "; ".join(f"{k}={v!r}" for k, v in sorted(self._dict.items()))

    f_ann_to_string = f_ann_to_str

    def __repr__(self):
        return f"Annotations({self.f_ann_to_str()})"
