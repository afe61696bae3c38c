"""The base of every node of the trajectory tree (groups and leaves)."""

import contextlib
import logging

from rigbook.trajectory.annotations import Annotations
from rigbook.trajectory.codec import utf8_ok
from rigbook.trajectory.records import RUN_NAME_PATTERN  # noqa: F401  (the record format owns run names)

_RESERVED_PREFIXES = ("f_", "v_", "_")
_RESERVED_NAMES = {"func", "vars", "crun", "par", "dpar", "conf", "res"}


def check_node_name(name, full_name=None):
    """Raise ValueError if ``name`` cannot be a node name (names must work with natural naming)."""
    where = f" in {full_name!r}" if full_name and full_name != name else ""
    if not isinstance(name, str) or not name:
        raise ValueError(f"node name {name!r}{where} must be a non-empty string")
    if not name.isidentifier():
        raise ValueError(
            f"node name {name!r}{where} is not allowed: use letters, digits and '_' "
            "(a Python identifier), groups are separated by '.'"
        )
    if name.startswith(_RESERVED_PREFIXES) or name in _RESERVED_NAMES:
        raise ValueError(f"node name {name!r}{where} is reserved by the trajectory API")
    if len(name) > 128:
        raise ValueError(f"node name {name[:20]!r}...{where} is longer than 128 characters")


def _check_comment(comment, full_name):
    if comment and not utf8_ok(comment):
        raise ValueError(f"comment of {full_name!r} contains a NUL character or a lone surrogate, which HDF5 cannot store")


class _Accessor:
    """``node.func.add_parameter`` / ``node.vars.name`` spelling of ``f_`` / ``v_`` names."""

    __slots__ = ("_node", "_prefix")

    def __init__(self, node, prefix):
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name):
        return getattr(self._node, self._prefix + name)

    def __setattr__(self, name, value):
        setattr(self._node, self._prefix + name, value)

    def __dir__(self):
        n = len(self._prefix)
        return [a[n:] for a in dir(type(self._node)) if a.startswith(self._prefix)]


class NNTreeNode:
    """What groups and leaves share: name, full name, comment, annotations, storage flag."""

    _is_leaf = False

    def __init__(self, full_name="", comment=""):
        d = self.__dict__
        d["_full_name"] = full_name
        d["_name"] = full_name.rpartition(".")[2]
        d["_comment"] = comment if comment is not None else ""
        d["_annotations"] = None
        d["_stored"] = False
        d["_parent"] = None
        if not isinstance(comment, str) and comment is not None:
            raise TypeError(f"comment of {full_name!r} must be a string, not {type(comment).__name__}")
        _check_comment(comment, full_name)

    # pypet's 0.6 spelling ---------------------------------------------------
    @property
    def func(self):
        """``node.func.x`` is ``node.f_x``."""
        return _Accessor(self, "f_")

    @property
    def vars(self):
        """``node.vars.x`` is ``node.v_x``."""
        return _Accessor(self, "v_")

    # names ------------------------------------------------------------------
    @property
    def v_name(self):
        """Name of the node."""
        return self._name

    @property
    def v_full_name(self):
        """Full dotted name relative to the root (empty for the root)."""
        return self._full_name

    @property
    def v_location(self):
        """Dotted name of the parent (empty for the root and its children)."""
        return self._full_name.rpartition(".")[0]

    @property
    def v_depth(self):
        """Depth in the tree: 0 for the root."""
        return self._full_name.count(".") + 1 if self._full_name else 0

    @property
    def v_branch(self):
        """First name below the root (``parameters``, ``results``, ...), empty for the root."""
        return self._full_name.partition(".")[0]

    @property
    def v_run_branch(self):
        """Name of the run this node hangs below (``run_00000003``), or ``'trajectory'``."""
        known = self.__dict__.get("_rbranch")  # kept by the tree for every attached node
        if known is not None:
            return known
        for part in self._full_name.split("."):
            if RUN_NAME_PATTERN.match(part):
                return part
        return "trajectory"

    @property
    def v_is_leaf(self):
        """Whether the node is a leaf (parameter or result)."""
        return self._is_leaf

    v_leaf = v_is_leaf

    @property
    def v_is_group(self):
        """Whether the node is a group (the root included)."""
        return not self._is_leaf

    #: Whether the node is a parameter (parameters say True).
    v_is_parameter = False

    @property
    def v_is_root(self):
        """Whether the node is the root (the trajectory)."""
        return not self._full_name

    def f_is_root(self):
        """Whether the node is the root."""
        return self.v_is_root

    @property
    def v_stored(self):
        """Whether the node has been stored to disk (or was loaded from disk)."""
        return self._stored

    @property
    def v_comment(self):
        """A descriptive comment."""
        return self._comment

    @v_comment.setter
    def v_comment(self, comment):
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise TypeError(f"comment of {self._full_name!r} must be a string")
        _check_comment(comment, self._full_name)
        self.__dict__["_comment"] = comment

    # annotations -----------------------------------------------------------
    @property
    def v_annotations(self):
        """The node's :class:`Annotations`."""
        if self._annotations is None:
            self.__dict__["_annotations"] = Annotations()
        return self._annotations

    def f_set_annotations(self, *args, **kwargs):
        """Set annotations (see :meth:`Annotations.f_set`)."""
        self.v_annotations.f_set(*args, **kwargs)

    def f_get_annotations(self, *args):
        """Get annotations (see :meth:`Annotations.f_get`)."""
        return self.v_annotations.f_get(*args)

    def f_ann_to_str(self):
        """Annotations as a string."""
        return self.v_annotations.f_ann_to_str()

    f_ann_to_string = f_ann_to_str

    @property
    def _logger(self):
        # pypet's nodes log through self._logger; custom leaves written for pypet use it.
        return logging.getLogger(f"rigbook.trajectory.{type(self).__name__}")

    def f_get_class_name(self):
        """Class name of the node."""
        return type(self).__name__

    def _set_full_name(self, full_name):
        self.__dict__["_full_name"] = full_name
        self.__dict__["_name"] = full_name.rpartition(".")[2]

    # storage protocol: what a storage service may change on a node, and nothing else
    def _set_stored(self, stored=True):
        """Record whether the node is on disk (storage services and the trajectory call this)."""
        self.__dict__["_stored"] = bool(stored)

    @contextlib.contextmanager
    def _unlocked(self):
        """Let a storage service empty and refill a locked leaf; the lock is back afterwards."""
        was_locked = self.__dict__.get("_locked", False)
        self.__dict__["_locked"] = False
        try:
            yield self
        finally:
            self.__dict__["_locked"] = was_locked


class NNLeaf(NNTreeNode):
    """Base of parameters and results."""

    _is_leaf = True

    def f_supports_fast_access(self):
        """Whether natural naming may return the value instead of the leaf."""
        return not self.f_is_empty()

    def f_is_empty(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def f_val_to_str(self):
        """Short human-readable summary of the value(s)."""
        return ""

    def __repr__(self):
        return f"<{type(self).__name__} {self._full_name or self._name!r}: {self.f_val_to_str()}>"

    def __str__(self):
        return self.__repr__()
