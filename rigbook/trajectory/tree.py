"""The root of the tree: adding nodes, indexes for natural naming, searching, removing."""

import logging

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.errors import NotUniqueNodeError
from rigbook.trajectory.naturalnaming import (
    GROUP_CLASSES,
    ConfigGroup,
    DerivedParameterGroup,
    NNGroupNode,
    NodeSet,
    ParameterGroup,
    ResultGroup,
)
from rigbook.trajectory.node import RUN_NAME_PATTERN, NNLeaf, NNTreeNode, check_node_name
from rigbook.trajectory.parameter import BaseParameter

logger = logging.getLogger(__name__)

_BRANCH_OF_KIND = {
    "PARAMETER": "parameters",
    "PARAMETER_GROUP": "parameters",
    "CONFIG": "config",
    "CONFIG_GROUP": "config",
    "DERIVED_PARAMETER": "derived_parameters",
    "DERIVED_PARAMETER_GROUP": "derived_parameters",
    "RESULT": "results",
    "RESULT_GROUP": "results",
    "GROUP": None,
    "LEAF": None,
}
_RUN_BRANCHES = ("results", "derived_parameters")
_RUN_KINDS = ("RESULT", "RESULT_GROUP", "DERIVED_PARAMETER", "DERIVED_PARAMETER_GROUP")


class TreeRoot(ParameterGroup, ConfigGroup, DerivedParameterGroup, ResultGroup):
    """Root group holding the indexes every search uses (the trajectory derives from it)."""

    def _init_tree(self):
        d = self.__dict__
        d["_root"] = self
        d["_flat"] = {}
        d["_nn_index"] = {}
        d["_unstored"] = {}
        d["_explored_parameters"] = {}
        d["_run_locked"] = set()
        d["_link_count"] = 0
        for branch, cls in GROUP_CLASSES.items():
            self._attach(self, cls(branch, "", self))

    # registration ------------------------------------------------------------------
    def _attach(self, parent, node):
        name = node._name
        parent._children[name] = node
        d = node.__dict__
        d["_parent"] = parent
        if not node._is_leaf:
            d["_root"] = self
        if parent is self:
            run_branch = name if RUN_NAME_PATTERN.match(name) else "trajectory"
        else:
            run_branch = parent.__dict__["_rbranch"]
            if run_branch == "trajectory" and RUN_NAME_PATTERN.match(name):
                run_branch = name
        d["_rbranch"] = run_branch
        full = node._full_name
        self._flat[full] = node
        buckets = self._nn_index.get(name)
        if buckets is None:
            buckets = self._nn_index[name] = {}
        bucket = buckets.get(run_branch)
        if bucket is None:
            bucket = buckets[run_branch] = {}
        bucket[full] = node
        if not node._stored:
            self._unstored[full] = node
        return node

    def _unregister(self, node):
        full = node._full_name
        self._flat.pop(full, None)
        self._unstored.pop(full, None)
        buckets = self._nn_index.get(node._name)
        if buckets is not None:
            bucket = buckets.get(node.__dict__.get("_rbranch"), {})
            bucket.pop(full, None)
            if not bucket:
                buckets.pop(node.__dict__.get("_rbranch"), None)
            if not buckets:
                del self._nn_index[node._name]
        if isinstance(node, BaseParameter) and self._explored_parameters.pop(full, None) is not None:
            if not self._explored_parameters:
                # pypet: without explored parameters the trajectory is a single run again.
                self.__dict__["_length"] = 1
                self._add_run_info(1)

    def _set_link(self, group, name, target):
        """Hang link ``name`` to ``target`` below ``group`` (names already checked)."""
        group._links[name] = target
        self.__dict__["_link_count"] += 1

    def _drop_link(self, group, name):
        del group._links[name]
        self.__dict__["_link_count"] -= 1

    def _remove_subtree(self, node, predicate=None):
        if predicate is not None and not predicate(node):
            return False
        if not node._is_leaf:
            for child in list(node._children.values()):
                self._remove_subtree(child, predicate)
            if node._children:
                return False
            for name in list(node._links):
                self._drop_link(node, name)
        self._unregister(node)
        parent = node._parent
        if parent is not None:
            parent._children.pop(node._name, None)
        return True

    def f_wildcard(self, wildcard="$", run_idx=None):
        """The name ``wildcard`` (``'$'``, ``'crun'``, ``'$set'``, ...) stands for in run ``run_idx``.

        The current run by default; -1 gives the dummy name (``run_ALL``).
        """
        return self._wildcards.translate(wildcard, self._idx if run_idx is None else run_idx)

    def _translate_wildcards(self, parts):
        wildcards = self._wildcards
        spellings = wildcards.spellings
        return [wildcards.translate(p, self._idx) if p in spellings else p for p in parts]

    def _run_prefix(self, start, kind, branch, parts, branch_added):
        """pypet's automatic ``runs.run_XXXXXXXX`` for results and derived parameters added during a run."""
        if self._idx < 0 or kind not in _RUN_KINDS or branch not in _RUN_BRANCHES or not self._auto_run_prepend:
            return parts
        if parts[0] == "runs":
            return parts
        is_run_name = self._wildcards.is_run_name
        for part in parts:
            if is_run_name(part):
                return parts
        run = self._wildcards.translate("$", self._idx)
        depth = 0 if start is self else start.v_depth
        if depth == 0 and branch_added:
            return [parts[0], "runs", run] + parts[1:]
        if depth == 1:
            return ["runs", run] + parts
        if depth == 2 and start._name == "runs":
            return [run] + parts
        return parts

    # adding ---------------------------------------------------------------------------
    def _add_node(self, start, kind, args, kwargs):
        is_group = kind.endswith("GROUP")
        args = list(args)
        instance = None
        constructor = None
        if is_group:
            if args and isinstance(args[0], NNGroupNode):
                instance = args.pop(0)
                name = instance.v_full_name
                kwargs.setdefault("comment", instance.v_comment)
            else:
                name = args.pop(0) if args else kwargs.pop("name", None)
            comment = args.pop(0) if args else kwargs.pop("comment", "")
            if kwargs:
                raise TypeError(f"unexpected arguments for a group: {sorted(kwargs)}")
        else:
            if args and isinstance(args[0], type):
                constructor = args.pop(0)
                if not issubclass(constructor, NNLeaf):
                    raise TypeError(f"{constructor.__name__} is not a parameter or result class")
            if args and isinstance(args[0], NNLeaf):
                instance = args.pop(0)
                name = instance.v_full_name
                if args or kwargs:
                    raise TypeError("give either an instance or a name with values, not both")
            else:
                name = args.pop(0) if args else kwargs.pop("name", kwargs.pop("full_name", None))
        if not isinstance(name, str) or not name:
            raise ValueError(f"a name (non-empty string) is needed to add a {kind.lower()}, got {name!r}")
        parts = self._translate_wildcards(name.split("."))
        branch = _BRANCH_OF_KIND[kind]
        branch_added = False
        # 'par.x' means 'parameters.x' when adding a parameter (any branch for a
        # generic add); other shortcuts are not names and are refused below.
        first = pc.SHORTCUT_SET.get(parts[0])
        if first is not None and start is self and branch in (None, first):
            parts[0] = first
        named = parts  # what the caller wrote; the prefixes added below are valid names
        if start is self:
            if branch is None:
                branch = parts[0] if parts[0] in GROUP_CLASSES else None
            elif parts[0] != branch:
                parts = [branch] + parts
                branch_added = True
            prefix_parts = []
        else:
            own = start.v_branch
            if branch is not None and own != branch:
                raise TypeError(f"cannot add a {kind.lower()} below {start.v_full_name!r}")
            branch = own
            prefix_parts = start._full_name.split(".")
        parts = self._run_prefix(start, kind, branch, parts, branch_added)
        full_parts = prefix_parts + parts
        full_name = ".".join(full_parts)
        if len(full_parts) == 1 and full_name in GROUP_CLASSES and not is_group:
            raise ValueError(f"name {name!r} is the {full_name!r} branch itself; give the leaf a name below it")
        for part in named:
            check_node_name(part, full_name)
        group_class = GROUP_CLASSES.get(branch, NNGroupNode)
        node = start
        for depth, part in enumerate(full_parts[len(prefix_parts):-1], start=len(prefix_parts)):
            child = node._children.get(part)
            if child is None:
                child = self._attach(node, group_class(".".join(full_parts[: depth + 1]), "", self))
            elif child._is_leaf:
                raise AttributeError(f"cannot add {full_name!r}: {child.v_full_name!r} is a leaf, not a group")
            node = child
        last = full_parts[-1]
        existing = node._children.get(last)
        if is_group:
            if existing is not None:
                if existing._is_leaf:
                    raise AttributeError(f"cannot add group {full_name!r}: a leaf of that name exists")
                return existing
            group = group_class(full_name, comment, self)
            if instance is not None and instance._annotations is not None:
                group.__dict__["_annotations"] = instance._annotations
            return self._attach(node, group)
        if existing is not None and self._no_clobber:
            logger.warning("%r exists already; v_no_clobber is set, so the new data is ignored", full_name)
            return existing
        if existing is not None or last in node._links:
            raise AttributeError(f"{full_name!r} already exists in the trajectory; remove it first or use f_set")
        if instance is None:
            if constructor is None:
                if branch in ("parameters", "config", "derived_parameters"):
                    constructor = self._standard_parameter
                elif branch == "results":
                    constructor = self._standard_result
                else:
                    constructor = self._standard_leaf
            instance = constructor(full_name, *args, **kwargs)
        instance._set_full_name(full_name)
        if branch in ("parameters", "config") and full_name in self._presets:
            preset_args, preset_kwargs = self._presets[full_name]
            instance.f_set(*preset_args, **preset_kwargs)
            self._presets_used.add(full_name)
        return self._attach(node, instance)

    # searching -----------------------------------------------------------------------
    def _translate(self, name):
        if not isinstance(name, str):
            raise TypeError(f"node names are strings, not {type(name).__name__}")
        wildcards = self._wildcards
        spellings = wildcards.spellings
        if "." not in name:  # the common case of natural naming: one name
            if name in pc.SHORTCUT_SET:
                return [pc.SHORTCUT_SET[name]]
            return [wildcards.translate(name, self._idx) if name in spellings else name]
        parts = name.split(".")
        out = []
        for part in parts:
            if part in pc.SHORTCUT_SET:
                part = pc.SHORTCUT_SET[part]
            elif part in spellings:
                part = wildcards.translate(part, self._idx)
            out.append(part)
        return out

    def _nn_resolve(self, starts, name, natural, shortcuts=None, max_depth=None, with_links=None):
        if shortcuts is None:
            shortcuts = self._shortcuts
        if max_depth is None:
            max_depth = self._max_depth
        parts = self._translate(name)
        node = None
        if len(starts) == 1:
            start = starts[0]
            full = ".".join(parts) if start is self else f"{start._full_name}.{'.'.join(parts)}"
            node = self._flat.get(full)
        if node is None:
            if with_links is None:
                with_links = self._with_links
            explicit_runs = {p for p in parts if RUN_NAME_PATTERN.match(p)}
            current = starts
            for part in parts:
                found = []
                seen = set()
                for group in current:
                    if group._is_leaf:
                        continue
                    child = group._children.get(part)
                    if child is None and with_links:
                        child = group._links.get(part)
                    candidates = [child] if child is not None else (
                        self._shortcut_search(group, part, max_depth, explicit_runs, with_links) if shortcuts else []
                    )
                    for candidate in candidates:
                        if id(candidate) not in seen:
                            seen.add(id(candidate))
                            found.append(candidate)
                if not found:
                    where = " or ".join(repr(g.v_full_name or "the root") for g in current[:3])
                    raise AttributeError(f"{name!r}: nothing named {part!r} below {where}")
                current = found
            if len(current) > 1:
                if (natural and not any(n._is_leaf for n in current) and len({n._name for n in current}) == 1
                        and RUN_NAME_PATTERN.match(current[0]._name)):
                    return NodeSet(self, current)
                names = ", ".join(repr(n.v_full_name) for n in current[:5])
                more = f" and {len(current) - 5} more" if len(current) > 5 else ""
                raise NotUniqueNodeError(f"{name!r} is ambiguous: it matches {names}{more}; give more of the path")
            node = current[0]
        if natural and node._is_leaf and self._fast_access and node.f_supports_fast_access():
            return self._fast_value(node)
        return node

    def _shortcut_search(self, group, part, max_depth, explicit_runs, with_links=False):
        buckets = self._nn_index.get(part)
        found = self._index_search(group, part, max_depth, explicit_runs, buckets) if buckets else []
        if with_links and self._link_count:
            return self._nearest(found + self._link_search(group, part, max_depth))
        return [node for _, node in found]

    @staticmethod
    def _nearest(found):
        """The distinct nodes of ``(depth, node)`` pairs at the smallest depth."""
        if not found:
            return []
        best = min(depth for depth, _ in found)
        out = []
        for depth, node in found:
            if depth == best and all(node is not other for other in out):
                out.append(node)
        return out

    def _link_search(self, group, part, max_depth):
        """``(depth below group, node)`` of nodes named ``part`` reached through one link below ``group``."""
        base = group.v_depth
        prefix = group._full_name + "." if group._full_name else ""
        owners = [group] + [n for full, n in self._flat.items() if not n._is_leaf and n._links and full.startswith(prefix)]
        found = []
        for owner in owners:
            link_depth = owner.v_depth - base + 1
            for link_name, target in owner._links.items():
                if link_name == part:
                    found.append((link_depth, target))
                if target._is_leaf:
                    continue
                target_prefix = target._full_name + "." if target._full_name else ""
                for bucket in self._nn_index.get(part, {}).values():
                    for full, candidate in bucket.items():
                        if full.startswith(target_prefix):
                            found.append((link_depth + full.count(".") + 1 - target.v_depth, candidate))
        return [(d, n) for d, n in found if max_depth is None or d <= max_depth]

    def _index_search(self, group, part, max_depth, explicit_runs, buckets):
        """``(depth below group, node)`` of the indexed nodes named ``part`` at the smallest depth."""
        if self._idx >= 0:
            allowed = {"trajectory", self._crun, pc.RUN_NAME_DUMMY, group.__dict__.get("_rbranch", "trajectory"), part}
            allowed |= explicit_runs
            bucket_list = [buckets[b] for b in allowed if b in buckets]
        else:
            bucket_list = list(buckets.values())
        prefix = group._full_name + "." if group._full_name else ""
        base = group.v_depth
        best = None
        found = []
        for bucket in bucket_list:
            for full, candidate in bucket.items():
                if prefix and not full.startswith(prefix):
                    continue
                depth = full.count(".") + 1 - base
                if max_depth is not None and depth > max_depth:
                    continue
                if best is None or depth < best:
                    best = depth
                    found = [(depth, candidate)]
                elif depth == best:
                    found.append((depth, candidate))
        return found

    def _nn_find_all(self, start, name, max_depth=None, consecutive=False):
        parts = self._translate(name)
        buckets = self._nn_index.get(parts[-1], {})
        prefix = start._full_name + "." if start._full_name else ""
        base = start.v_depth
        out = []
        for bucket in buckets.values():
            for full, candidate in bucket.items():
                if prefix and not full.startswith(prefix):
                    continue
                if max_depth is not None and full.count(".") + 1 - base > max_depth:
                    continue
                path = full[len(prefix):].split(".")[:-1]
                if consecutive:
                    wanted = parts[:-1]
                    if not wanted or path[len(path) - len(wanted):] == wanted:
                        out.append(candidate)
                    continue
                position = 0
                for wanted in parts[:-1]:
                    try:
                        position = path.index(wanted, position) + 1
                    except ValueError:
                        break
                else:
                    out.append(candidate)
        return out

    def _fast_value(self, node):
        if self._idx >= 0 and isinstance(node, BaseParameter) and not node._locked:
            node.f_lock()
            self._run_locked.add(node._full_name)
        return node.f_get()

    def _item_from(self, item):
        """Node for ``item`` (a node or a name searched from the root)."""
        if isinstance(item, NNTreeNode):
            return item
        found = self.f_get(item)
        if isinstance(found, NodeSet):
            raise NotUniqueNodeError(f"{item!r} is ambiguous")
        return found


def _ensure_group(self, full_name):
    """The group ``full_name``, created (marked as stored) with its parents if missing."""
    node = self._flat.get(full_name)
    if node is not None:
        return node
    parent_name, _, _ = full_name.rpartition(".")
    parent = _ensure_group(self, parent_name) if parent_name else self
    cls = GROUP_CLASSES.get(full_name.partition(".")[0], NNGroupNode)
    group = cls(full_name, "", self)
    group.__dict__["_stored"] = True
    return self._attach(parent, group)


def _new_loaded_leaf(self, cls, full_name, comment="", annotations=None):
    """Attach a leaf read from disk (marked as stored)."""
    parent_name = full_name.rpartition(".")[0]
    parent = _ensure_group(self, parent_name) if parent_name else self
    leaf = cls(full_name, comment=comment)
    d = leaf.__dict__
    d["_stored"] = True
    if annotations:
        leaf.v_annotations.f_set(**annotations)
    return self._attach(parent, leaf)


TreeRoot._ensure_group = _ensure_group
TreeRoot._new_loaded_leaf = _new_loaded_leaf
