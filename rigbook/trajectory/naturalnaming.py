"""Group nodes and natural naming: ``traj.parameters.group.x``, ``traj.x``, ``traj['x']``.

The root (the trajectory) keeps two indexes so searches stay fast with
thousands of runs: ``_flat`` maps full names to nodes, ``_nn_index`` maps a
node name to ``{run_branch: {full_name: node}}``; a shortcut search only
looks at the run branches that may be visited (the trajectory's own, the
current run's, and run names spelled out in the searched name).
"""

import logging
from collections import deque

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.errors import DataNotInStorageError, NotUniqueNodeError
from rigbook.trajectory.node import RUN_NAME_PATTERN, NNTreeNode, check_node_name
from rigbook.trajectory.records import pickle_option as _pickle_option
from rigbook.trajectory.wildcards import run_name, run_set_name

logger = logging.getLogger(__name__)

_ATTRIBUTE_PREFIXES = ("_", "v_", "f_")


def runs_predicate(indices):
    """Node predicate keeping, of the run groups, only those of ``indices`` (-1: ``run_ALL``)."""
    if isinstance(indices, (int, str)):
        indices = (indices,)
    for item in indices:
        if isinstance(item, str) and not RUN_NAME_PATTERN.match(item):
            raise ValueError(f"predicate {indices!r}: {item!r} is neither a run index nor a run name")
    runs = {run_name(int(i)) if not isinstance(i, str) else i for i in indices}
    sets = {run_set_name(int(i)) for i in indices if not isinstance(i, str)}

    def keep(node):
        name = node._name
        if RUN_NAME_PATTERN.match(name):
            return name in runs
        if name.startswith(pc.SET_NAME):
            return name in sets
        return True

    return keep


class _Kids:
    """``group.kids.x``: exactly the child ``x`` of the group (a group or a leaf, never its value)."""

    __slots__ = ("_group",)

    def __init__(self, group):
        self._group = group

    def __getattr__(self, name):
        group = self._group
        found = group._children.get(name)
        if found is None:
            found = group._links.get(name)
        if found is None:
            raise AttributeError(f"{group.v_full_name or 'the root'!r} has no child {name!r}")
        return found

    def __dir__(self):
        return self._group.f_dir_data()


class NodeSet:
    """Several groups natural naming could mean (``traj.run_00000001`` below results and derived parameters).

    Further attribute access searches all of them and must find exactly one node.
    """

    def __init__(self, root, nodes):
        self._root = root
        self._nodes = nodes

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._root._nn_resolve(self._nodes, name, natural=True)

    def __getitem__(self, name):
        return self._root._nn_resolve(self._nodes, str(name), natural=True)

    def __repr__(self):
        return f"<NodeSet {[n.v_full_name for n in self._nodes]}>"


class NNGroupNode(NNTreeNode):
    """A group of the tree; children are reached by natural naming."""

    _branch_kind = None

    def __init__(self, full_name="", comment="", root=None):
        super().__init__(full_name, comment)
        d = self.__dict__
        d["_children"] = {}
        d["_links"] = {}
        d["_root"] = root

    # natural naming ---------------------------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__") or name.startswith(_ATTRIBUTE_PREFIXES):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        d = self.__dict__
        children = d.get("_children")
        if children is None:
            raise AttributeError(name)
        root = d["_root"]
        child = children.get(name)
        if child is not None and not child._is_leaf:
            return child
        auto_load = root.__dict__.get("_auto_load")
        try:
            found = root._nn_resolve([self], name, natural=True)
        except NotUniqueNodeError:
            raise
        except AttributeError:
            if not auto_load:
                raise
            root._auto_load_node(self, name)
            found = root._nn_resolve([self], name, natural=True)
        if auto_load and isinstance(found, NNTreeNode) and found._is_leaf and found.f_is_empty():
            root.f_load_item(found)
            found = root._nn_resolve([self], name, natural=True)
        return found

    def __getitem__(self, name):
        if isinstance(name, int):
            name = self._root.f_idx_to_run(name)
        return self._root._nn_resolve([self], name, natural=True)

    def __setattr__(self, name, value):
        if name.startswith(_ATTRIBUTE_PREFIXES) or name in type(self).__dict__ or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        elif isinstance(value, NNTreeNode):
            if value.__dict__.get("_parent") is None and value.__dict__.get("_root") is not value:
                self._add_assigned(name, value)
            else:
                self.f_add_link(name, value)
        else:
            item = self.f_get(name, shortcuts=self._root.v_shortcuts)
            if not item._is_leaf:
                raise AttributeError(f"{item.v_full_name!r} is a group; only leaves take values")
            if not item.v_is_parameter and not item.f_supports_fast_access():
                raise AttributeError(f"cannot assign to result {item.v_full_name!r}: it holds several items "
                                     "(or none named like it); use f_set")
            item.f_set(value)

    def __setitem__(self, name, value):
        """``group['a.b'] = value`` is ``group.a.b = value``."""
        *path, last = name.split(".")
        target = self
        for part in path:
            target = self._root._nn_resolve([target], part, natural=True)
        setattr(target, last, value)

    def _add_assigned(self, name, node):
        """``group.name = node`` for a node in no tree: it is added as ``name`` (or ``name.sub...``)."""
        name = pc.SHORTCUT_SET.get(name, name)
        own = node._full_name
        if own and own != name and not own.startswith(name + "."):
            raise AttributeError(
                f"cannot assign {type(node).__name__} {own!r} to {name!r}: its name must be empty, "
                f"{name!r} or start with {name + '.'!r}")
        if not own:
            node._set_full_name(name)
        try:
            self._root._add_node(self, "LEAF" if node._is_leaf else "GROUP", (node,), {})
        except Exception:
            node._set_full_name(own)  # a refused node keeps the name it came with
            raise

    def __delattr__(self, name):
        if name in self._children or name in self._links:
            self.f_remove_child(name, recursive=True)
        else:
            object.__delattr__(self, name)

    def __contains__(self, item):
        return self.f_contains(item, shortcuts=True)

    def __iter__(self):
        if self._root.v_iter_recursive:
            return (n.v_full_name for n in self.f_iter_nodes())
        return iter(list(self._children))

    def __dir__(self):
        return list(super().__dir__()) + list(self._children) + list(self._links)

    def __repr__(self):
        return f"<{type(self).__name__} {self._full_name!r} ({len(self._children)} children)>"

    def __str__(self):
        # pypet's form: class, full name, (`comment`), then up to six children with their types.
        comment = f" (`{self._comment}`)" if self._comment else ""
        kids = [f"({name}: {type(child)})" for name, child in list(self._children.items())[:6]]
        if len(self._children) > 6:
            kids.append("...")
        return f"{type(self).__name__} {self._full_name}{comment}: {', '.join(kids)}"

    # tree queries -----------------------------------------------------------------
    def f_children(self):
        """Number of children (links included)."""
        return len(self._children) + len(self._links)

    def f_has_children(self):
        """Whether the group has children."""
        return bool(self._children) or bool(self._links)

    def f_get_children(self, copy=True):
        """Dictionary of children by name."""
        if copy:
            out = dict(self._children)
            out.update(self._links)
            return out
        return self._children

    def f_get_groups(self, copy=True):
        """Child groups by name."""
        return {k: v for k, v in self._children.items() if not v._is_leaf}

    def f_get_leaves(self, copy=True):
        """Child leaves by name."""
        return {k: v for k, v in self._children.items() if v._is_leaf}

    def f_get_links(self, copy=True):
        """Links by name."""
        return dict(self._links) if copy else self._links

    def f_has_link(self, name):
        """Whether a link of that name hangs below this group."""
        return name in self._links

    def f_get_root(self):
        """The root of the tree (the trajectory)."""
        return self._root

    @property
    def v_root(self):
        """The root of the tree (the trajectory)."""
        return self._root

    @property
    def kids(self):
        """``group.kids.name``: the direct children only (no shortcuts), handy for tab completion."""
        return _Kids(self)

    def f_links(self):
        """Number of links hanging directly below this group."""
        return len(self._links)

    def f_dir_data(self):
        """Names of the children and links of this group."""
        return list(self._children) + list(self._links)

    def f_remove(self, recursive=True, predicate=None):
        """Remove this group (and with ``recursive`` its subtree) from memory, not from disk."""
        if self._parent is None:
            raise ValueError("the root cannot be removed")
        self._parent.f_remove_child(self._name, recursive=recursive, predicate=predicate)

    def f_get(self, name, fast_access=False, with_links=True, shortcuts=True, max_depth=None, auto_load=False, backwards_search=False):
        """Find a node by (part of) its name; see natural naming.

        Raises
        ------
        AttributeError
            If nothing matches.
        NotUniqueNodeError
            If several nodes match at the same depth.
        """
        if isinstance(name, int):
            name = self._root.f_idx_to_run(name)
        try:
            node = self._root._nn_resolve([self], name, natural=False, shortcuts=shortcuts, max_depth=max_depth, with_links=with_links)
        except AttributeError:
            if not auto_load:
                raise
            node = self._root._auto_load_node(self, name)
        if auto_load and node._is_leaf and node.f_is_empty():
            self._root.f_load_item(node)
        if fast_access and node._is_leaf and node.f_supports_fast_access():
            return self._root._fast_value(node)
        return node

    def f_get_default(self, name, default=None, fast_access=True, with_links=True, shortcuts=True, max_depth=None, auto_load=False):
        """Like :meth:`f_get`, returning ``default`` when nothing matches."""
        try:
            return self.f_get(name, fast_access=fast_access, with_links=with_links, shortcuts=shortcuts, max_depth=max_depth, auto_load=auto_load)
        except NotUniqueNodeError:
            raise
        except (AttributeError, DataNotInStorageError):
            return default

    def f_get_all(self, name, max_depth=None, shortcuts=True):
        """Every node matching ``name`` below this group, at any depth.

        With ``shortcuts=False`` the parts of ``name`` must follow each other
        directly (``'b.x'`` finds ``a.b.x`` but not ``b.c.x``).
        """
        return self._root._nn_find_all(self, name, max_depth=max_depth, consecutive=not shortcuts)

    def f_contains(self, item, with_links=True, shortcuts=False, max_depth=None, backwards_search=False):
        """Whether ``item`` (a name or a node) can be found below this group."""
        if isinstance(item, NNTreeNode):
            prefix = self._full_name + "." if self._full_name else ""
            if not item.v_full_name.startswith(prefix):
                return False
            try:
                found = self.f_get(item.v_full_name[len(prefix):], shortcuts=False)
            except AttributeError:
                return False
            return found is item
        try:
            self.f_get(item, shortcuts=shortcuts, max_depth=max_depth, with_links=with_links)
        except NotUniqueNodeError:
            return True
        except (AttributeError, ValueError):
            return False
        return True

    def f_iter_nodes(self, recursive=True, with_links=True, max_depth=None, predicate=None):
        """Iterate over nodes below this group (recursively by default), honouring ``f_as_run``.

        ``predicate`` is a function of a node, or a tuple of run indices
        (-1 for ``run_ALL``) whose run groups alone are visited. A node the
        predicate refuses is skipped with its subtree. Linked groups are
        visited once, so cyclic links end.
        """
        root = self._root
        run = root._crun if root._idx >= 0 else None
        if predicate is not None and not callable(predicate):
            predicate = runs_predicate(predicate)
        visited = {id(self)}
        queue = deque([(self, 0)])
        while queue:
            group, depth = queue.popleft()
            if max_depth is not None and depth >= max_depth:
                continue
            children = list(group._children.values())
            if with_links:
                children += list(group._links.values())
            for child in children:
                if run is not None and RUN_NAME_PATTERN.match(child._name) and child._name not in (run, pc.RUN_NAME_DUMMY):
                    continue
                if predicate is not None and not predicate(child):
                    continue
                yield child
                if recursive and not child._is_leaf and id(child) not in visited:
                    visited.add(id(child))
                    queue.append((child, depth + 1))

    def f_iter_leaves(self, with_links=True):
        """Iterate over all leaves below this group."""
        return (n for n in self.f_iter_nodes(with_links=with_links) if n._is_leaf)

    def f_to_dict(self, fast_access=False, short_names=False, nested=False, with_links=True, copy=True):
        """Leaves below this group by full name (or short name) to node or value (always a new dict)."""
        if nested and short_names:
            raise ValueError("f_to_dict: short_names and nested cannot be used together")
        out = {}
        for node in self.f_iter_leaves(with_links=with_links):
            key = node._name if short_names else node._full_name
            if short_names and key in out:
                raise ValueError(f"short name {key!r} is not unique below {self._full_name or 'the root'!r}")
            value = node
            if fast_access and node.f_supports_fast_access():
                value = self._root._fast_value(node)
            out[key] = value
        if nested:
            # pypet: nested from a group starts with the group's children.
            strip = len(self._full_name) + 1 if self._full_name else 0
            tree = {}
            for key, value in out.items():
                parts = key[strip:].split(".")
                level = tree
                for part in parts[:-1]:
                    level = level.setdefault(part, {})
                level[parts[-1]] = value
            return tree
        return out

    # changing the tree -----------------------------------------------------------
    def f_add_group(self, *args, **kwargs):
        """Add a group (dotted names create intermediate groups)."""
        return self._root._add_node(self, "GROUP", args, kwargs)

    def f_add_leaf(self, *args, **kwargs):
        """Add a leaf; below the four branches this adds the branch's leaf type."""
        return self._root._add_node(self, "LEAF", args, kwargs)

    def f_add_link(self, name_or_item, full_name_or_item=None):
        """Add a link ``name`` to another node of the tree (``'x.y'`` adds group ``x`` with link ``y``).

        Raises
        ------
        ValueError
            If the target is not a node of this tree.
        AttributeError
            If a child of that name exists.
        """
        root = self._root
        if full_name_or_item is None:
            item = name_or_item
            name = getattr(item, "v_name", None)
        else:
            name = name_or_item
            item = full_name_or_item
            if isinstance(item, str):
                item = root.f_get(item, shortcuts=False)
        if not isinstance(item, NNTreeNode):
            raise TypeError(f"link target must be a node of the tree, not {type(item).__name__}")
        if item is not root and root._flat.get(item._full_name) is not item:
            raise ValueError(f"cannot link to {item.v_full_name!r}: it is not a node of this trajectory")
        group_name, _, name = name.rpartition(".")
        if group_name:
            return self.f_add_group(group_name).f_add_link(name, item)
        check_node_name(name)
        if name in self._children or name in self._links:
            raise AttributeError(f"{name!r} already exists below {self._full_name or 'the root'!r}")
        root._set_link(self, name, item)
        return item

    def f_remove_link(self, name):
        """Remove a link."""
        if name not in self._links:
            raise ValueError(f"no link {name!r} below {self._full_name or 'the root'!r}")
        self._root._drop_link(self, name)

    def f_remove_child(self, name, recursive=False, predicate=None):
        """Remove a direct child from memory (not from disk)."""
        if name in self._links:
            self.f_remove_link(name)
            return
        if name not in self._children:
            raise ValueError(f"{self._full_name or 'the root'!r} has no child {name!r}")
        child = self._children[name]
        if not child._is_leaf and child.f_has_children() and not recursive:
            raise TypeError(f"{child.v_full_name!r} has children; pass recursive=True to remove the whole subtree")
        self._root._remove_subtree(child, predicate)

    def f_load_child(self, name, recursive=False, load_data=pc.LOAD_DATA, max_depth=None, allow_pickle=False):
        """Load a child (and with ``recursive`` its subtree) from disk.

        Pickled items load only if this user's Rigbook wrote them, unless ``allow_pickle=True``.
        """
        root = self._root
        full_name = f"{self._full_name}.{name}" if self._full_name else name
        root._storage("load", pc.TREE, self, child_name=name, recursive=recursive, load_data=load_data,
                      max_depth=max_depth, trajectory=root, **_pickle_option(allow_pickle))
        return root.f_get(full_name, shortcuts=False)

    def f_store_child(self, name, recursive=False, store_data=pc.STORE_DATA, max_depth=None):
        """Store a child (and with ``recursive`` its subtree) to disk."""
        if not self.f_contains(name, shortcuts=False):
            raise ValueError(f"{self._full_name or 'the root'!r} has no child {name!r}")
        child = self.f_get(name, shortcuts=False)
        self._root._storage("store", pc.TREE, child, recursive=recursive, store_data=store_data, max_depth=max_depth)

    def f_load(self, recursive=True, load_data=pc.LOAD_DATA, max_depth=None, allow_pickle=False):
        """Load this group (and its subtree) from disk.

        Pickled items load only if this user's Rigbook wrote them, unless ``allow_pickle=True``.
        """
        self._root._storage("load", pc.GROUP, self, recursive=recursive, load_data=load_data, max_depth=max_depth,
                            **_pickle_option(allow_pickle))
        return self

    def f_store(self, recursive=True, store_data=pc.STORE_DATA, max_depth=None):
        """Store this group (and its subtree) to disk."""
        self._root._storage("store", pc.GROUP, self, recursive=recursive, store_data=store_data, max_depth=max_depth)


class ParameterGroup(NNGroupNode):
    """Group below ``traj.parameters``."""

    _branch_kind = "PARAMETER"

    def f_add_parameter(self, *args, **kwargs):
        """Add a parameter (name first, or a constructor then the name, or a parameter instance)."""
        return self._root._add_node(self, "PARAMETER", args, kwargs)

    def f_add_parameter_group(self, *args, **kwargs):
        """Add a parameter group."""
        return self._root._add_node(self, "PARAMETER_GROUP", args, kwargs)

    f_apar = f_add_parameter


class ConfigGroup(NNGroupNode):
    """Group below ``traj.config``."""

    _branch_kind = "CONFIG"

    def f_add_config(self, *args, **kwargs):
        """Add a config parameter."""
        return self._root._add_node(self, "CONFIG", args, kwargs)

    def f_add_config_group(self, *args, **kwargs):
        """Add a config group."""
        return self._root._add_node(self, "CONFIG_GROUP", args, kwargs)

    f_aconf = f_add_config


class DerivedParameterGroup(NNGroupNode):
    """Group below ``traj.derived_parameters``."""

    _branch_kind = "DERIVED_PARAMETER"

    def f_add_derived_parameter(self, *args, **kwargs):
        """Add a derived parameter."""
        return self._root._add_node(self, "DERIVED_PARAMETER", args, kwargs)

    def f_add_derived_parameter_group(self, *args, **kwargs):
        """Add a derived parameter group."""
        return self._root._add_node(self, "DERIVED_PARAMETER_GROUP", args, kwargs)

    f_adpar = f_add_derived_parameter


class ResultGroup(NNGroupNode):
    """Group below ``traj.results``."""

    _branch_kind = "RESULT"

    def f_add_result(self, *args, **kwargs):
        """Add a result (name first, or a constructor then the name, or a result instance)."""
        return self._root._add_node(self, "RESULT", args, kwargs)

    def f_add_result_group(self, *args, **kwargs):
        """Add a result group."""
        return self._root._add_node(self, "RESULT_GROUP", args, kwargs)

    f_ares = f_add_result


GROUP_CLASSES = {
    "config": ConfigGroup,
    "parameters": ParameterGroup,
    "derived_parameters": DerivedParameterGroup,
    "results": ResultGroup,
}
