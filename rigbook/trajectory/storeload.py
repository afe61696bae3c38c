"""Writing and reading tree nodes for the HDF5 storage service (the layout is in storageservice.py)."""

import json
import logging

import h5py
import numpy as np

from rigbook.trajectory import codec
from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.errors import DataNotInStorageError
from rigbook.trajectory.h5columns import append_column, delete_rows, read_column, rows_of_run
from rigbook.trajectory.h5links import RUN_LINKS, append_run_links, restore_links
from rigbook.trajectory.objecttable import ObjectTable
from rigbook.trajectory.overview import write_overviews
from rigbook.trajectory.records import RUN_NAME_PATTERN, group_record, is_run_node_name, leaf_record

logger = logging.getLogger(__name__)

_SPECIAL_GROUPS = ("_run_data", "_runs", "_overview", RUN_LINKS)
_META_ATTRS = ("__leaf__", "__class__", "__comment__", "__items__", "__annotations__", "__links__")


def _attr_str(attrs, key, default=""):
    value = attrs.get(key, default)
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _run_split(full_name):
    """``(branch, run index, path relative to the run)`` of a run node."""
    parts = full_name.split(".", 3)
    return parts[0], int(parts[2][4:]), (parts[3] if len(parts) > 3 else "")


class TreeIO:
    """Mixin of :class:`HDF5StorageService` doing the node-level work."""

    # ----------------------------------------------------------------------- storing
    def _store_nodes(self, tgroup, traj, nodes, store_data, overwrite=None):
        if store_data == pc.OVERWRITE_DATA:
            # Never overwrite data on disk with a leaf that was only loaded as a skeleton.
            nodes = [n for n in nodes if not (n._is_leaf and n._stored and n.f_is_empty())]
            self._delete_runs_of([n for n in nodes if n._is_leaf and is_run_node_name(n._full_name)], tgroup)
            store_data = pc.STORE_DATA
            overwrite = True
        stored = []
        for node in nodes:
            if node is traj:
                continue
            if node._is_leaf:
                run_leaf = overwrite is True and is_run_node_name(node._full_name)
                self._write_record(tgroup, leaf_record(node), store_data, None if run_leaf else overwrite)
            elif not is_run_node_name(node._full_name):
                self._write_group_record(tgroup, group_record(node))
            stored.append(node)
        traj._mark_stored(stored)

    def _write_group_record(self, tgroup, record):
        if is_run_node_name(record["full_name"]):
            if record["links"]:
                branch, idx, _ = _run_split(record["full_name"])
                append_run_links(tgroup, branch, idx, record["full_name"], record["links"], self._filters)
            return
        group = tgroup.require_group(record["full_name"].replace(".", "/"))
        group.attrs["__class__"] = record["class"]
        group.attrs["__comment__"] = record["comment"]
        if record["annotations"]:
            group.attrs["__annotations__"] = codec.to_json(record["annotations"])
        elif "__annotations__" in group.attrs:
            del group.attrs["__annotations__"]
        if record["links"]:
            group.attrs["__links__"] = json.dumps(record["links"])
        elif "__links__" in group.attrs:
            del group.attrs["__links__"]

    def _write_record(self, tgroup, record, store_data=pc.STORE_DATA, overwrite=None):
        if is_run_node_name(record["full_name"]):
            self._write_run_record(tgroup, record, store_data, overwrite)
            return
        path = record["full_name"].replace(".", "/")
        group = tgroup.get(path)
        if group is not None and (overwrite is True or store_data == pc.OVERWRITE_DATA):
            del tgroup[path]
            group = None
        if group is None:
            group = tgroup.create_group(path)
            group.attrs["__leaf__"] = True
            kinds = {}
        else:
            kinds = json.loads(group.attrs.get("__items__", "{}"))
            if overwrite:
                for part in [overwrite] if isinstance(overwrite, str) else overwrite:
                    self._remove_item(group, part, kinds)
        group.attrs["__leaf__"] = True
        group.attrs["__class__"] = record["class"]
        group.attrs["__comment__"] = record["comment"]
        if record["annotations"]:
            group.attrs["__annotations__"] = codec.to_json(record["annotations"])
        for item_name, value in record["items"].items():
            if item_name in kinds:
                continue
            kinds[item_name] = codec.write_item(group, item_name, value, {"filters": self._filters})
        group.attrs["__items__"] = json.dumps(kinds)
        if record["range"] is not None:
            if "explored_data" in group:
                del group["explored_data"]
            append_column(group, "explored_data", list(range(len(record["range"]))), record["range"], self._filters)

    @staticmethod
    def _remove_item(group, part, kinds):
        if part not in kinds:
            logger.warning("%s has no part %r to remove", group.name, part)
            return
        kinds.pop(part)
        if part in group.attrs:
            del group.attrs[part]
        if part in group:
            del group[part]

    def _leaf_head(self, tgroup, base_path, record):
        key = (tgroup.name, base_path)
        head = self._leaf_heads.get(key)
        if head is None:
            group = tgroup.get(base_path)
            if group is None:
                group = tgroup.create_group(base_path)
                group.attrs["__class__"] = record["class"]
                group.attrs["__comment__"] = record["comment"]
            head = (_attr_str(group.attrs, "__class__"), _attr_str(group.attrs, "__comment__"))
            self._leaf_heads[key] = head
        return head

    def _write_run_record(self, tgroup, record, store_data, overwrite):
        branch, idx, rel = _run_split(record["full_name"])
        base_path = f"_run_data/{branch}/{rel}"
        if overwrite or store_data == pc.OVERWRITE_DATA:
            self._flush_buffer()
            if base_path in tgroup:
                parts = None if overwrite is True or store_data == pc.OVERWRITE_DATA else (
                    [overwrite] if isinstance(overwrite, str) else list(overwrite))
                self._delete_run_rows(tgroup, base_path, idx, parts)
        present = set()
        if (record.get("stored") or overwrite) and store_data != pc.OVERWRITE_DATA:
            # Parts already on disk for this run stay untouched; only missing parts are added.
            self._flush_buffer()
            group = tgroup.get(base_path)
            if group is not None:
                present = {column for column in group if len(rows_of_run(group[column], idx))}
        head_class, head_comment = self._leaf_head(tgroup, base_path, record)
        meta = {}
        if record["class"] != head_class:
            meta["c"] = record["class"]
        if record["comment"] != head_comment or (record["comment"] and not self.purge_duplicate_comments):
            meta["m"] = record["comment"]
        if record["annotations"]:
            meta["a"] = codec.encode(record["annotations"])
        parent = f"{tgroup.name}/{base_path}"
        buffer = self._buffer
        if "__meta__" not in present:
            buffer.add(parent, "__meta__", idx, json.dumps(meta, ensure_ascii=False) if meta else "")
        for item_name, value in record["items"].items():
            if item_name not in present:
                buffer.add(parent, item_name, idx, value)

    def _delete_runs_of(self, leaves, tgroup, parts=None):
        """Delete the stored rows of many run leaves with one rewrite per column."""
        self._flush_buffer()
        by_base = {}
        for leaf in leaves:
            branch, idx, rel = _run_split(leaf.v_full_name)
            by_base.setdefault(f"_run_data/{branch}/{rel}", set()).add(idx)
        for base_path, runs in by_base.items():
            if base_path in tgroup:
                self._delete_run_rows(tgroup, base_path, runs, parts)

    def _delete_run_rows(self, tgroup, base_path, idx, parts=None):
        group = tgroup[base_path]
        names = list(group) if parts is None else [p for p in parts if p in group]
        runs = np.fromiter(idx, dtype=np.int64) if isinstance(idx, (set, list, tuple)) else np.array([idx], dtype=np.int64)
        for column in names:
            delete_rows(group, column, lambda run_idx: ~np.isin(run_idx, runs), self._filters)
        if not len(group):
            del tgroup[base_path]
            self._leaf_heads.pop((tgroup.name, base_path), None)

    def _store_leaf(self, leaf, name, store_data=pc.STORE_DATA, overwrite=None, **kwargs):
        tgroup = self._traj_group(name)
        self._write_record(tgroup, leaf_record(leaf), store_data, overwrite)
        root = leaf._parent._root if leaf._parent is not None else None
        if root is not None:
            root._mark_stored([leaf])
        else:
            leaf._set_stored()

    def _store_group(self, group, name, store_data=pc.STORE_DATA, recursive=False, max_depth=None, **kwargs):
        tgroup = self._traj_group(name)
        traj = group._root
        nodes = [group] if group is not traj else []
        if recursive:
            nodes += list(group.f_iter_nodes(max_depth=max_depth, with_links=False))
            if store_data == pc.STORE_DATA_SKIPPING:
                nodes = [n for n in nodes if not n._stored]
        self._store_nodes(tgroup, traj, nodes, store_data)

    def _store_tree(self, node, name, store_data=pc.STORE_DATA, recursive=False, max_depth=None, **kwargs):
        if node._is_leaf:
            self._store_leaf(node, name, store_data=store_data)
        else:
            self._store_group(node, name, store_data=store_data, recursive=recursive, max_depth=max_depth)

    def _write_overviews(self, tgroup, traj):
        summaries = {}
        large = {} if self.large_overview_tables else None
        for branch in ("results", "derived_parameters"):
            rows = {"name": [], "class_name": [], "comment": [], "runs": []}
            big = {"name": [], "run": []}
            base = tgroup.get(f"_run_data/{branch}")
            if base is not None:
                for rel, group in base.items():
                    run_idx = group["__meta__/run_idx"][...] if "__meta__" in group else np.empty(0, np.int64)
                    rows["name"].append(rel)
                    rows["class_name"].append(_attr_str(group.attrs, "__class__"))
                    rows["comment"].append(_attr_str(group.attrs, "__comment__"))
                    rows["runs"].append(int(len(run_idx)))
                    if large is not None:
                        big["name"].extend([rel] * len(run_idx))
                        big["run"].extend(int(i) for i in run_idx)
            summaries[branch] = rows
            if large is not None:
                large[branch] = big
        if self.small_overview_tables or self.summary_tables:
            write_overviews(tgroup, traj, summaries if self.summary_tables else {}, large)

    def _delete_run_leaf_jobs_together(self, jobs, name):
        """Delete whole run leaves of plain DELETE jobs in one pass per column; return the other jobs."""
        leaves = []
        rest = []
        for job in jobs:
            extra = dict(job[3]) if len(job) > 3 else {}
            item = job[1]
            if (job[0] == pc.DELETE and extra.get("delete_only") is None and getattr(item, "_is_leaf", False)
                    and is_run_node_name(item.v_full_name)):
                leaves.append(item)
            else:
                rest.append(job)
        if len(leaves) > 1:
            tgroup = self._traj_group(name)
            self._delete_runs_of(leaves, tgroup)
            return rest
        return jobs

    def _load_run_leaf_jobs_together(self, jobs, name):
        """Load plain LEAF jobs of run leaves sharing a name with one read per column; return the other jobs."""
        groups = {}
        rest = []
        for job in jobs:
            extra = dict(job[3]) if len(job) > 3 else {}
            extra.pop("trajectory_name", None)
            item = job[1]
            if (job[0] == pc.LEAF and not extra.get("load_only") and not extra.get("load_except")
                    and (len(job) < 3 or not job[2]) and is_run_node_name(item.v_full_name)):
                branch, idx, rel = _run_split(item.v_full_name)
                groups.setdefault((branch, rel), {})[idx] = item
            else:
                rest.append(job)
        if groups:
            tgroup = self._traj_group(name)
            for (branch, rel), leaves in groups.items():
                if f"_run_data/{branch}/{rel}" not in tgroup:
                    raise DataNotInStorageError(f"{branch}.runs.*.{rel} is not stored in trajectory {name!r}")
                traj = None
                for leaf in leaves.values():
                    if not leaf.f_is_empty():
                        leaf.f_empty()
                    traj = traj or leaf._parent._root
                self._load_run_leaves(traj, tgroup, branch, pc.UPDATE_DATA, run=set(leaves), rel_exact=rel,
                                      leaf={leaf.v_full_name for leaf in leaves.values()})
        return rest

    # ----------------------------------------------------------------------- deleting
    def _delete(self, item, name, delete_only=None, remove_from_item=False, recursive=False,
                remove_empty_groups=False, **kwargs):
        self._flush_buffer()
        if item.v_is_root:  # the whole trajectory
            if item.v_name in self._file:
                del self._file[item.v_name]
                self._groups.pop(item.v_name, None)
                names = [n for n in json.loads(self._file.attrs.get("rigbook_trajectories", "[]")) if n != item.v_name]
                self._file.attrs["rigbook_trajectories"] = json.dumps(names)
            return
        tgroup = self._traj_group(name)
        full = item.v_full_name
        if isinstance(delete_only, str):
            delete_only = [delete_only]
        if is_run_node_name(full):
            branch, idx, rel = _run_split(full)
            base = tgroup.get(f"_run_data/{branch}")
            if base is None:
                raise DataNotInStorageError(f"{full!r} is not stored")
            if item._is_leaf:
                if rel not in base or not len(rows_of_run(base[rel]["__meta__"], idx)):
                    raise DataNotInStorageError(f"{full!r} is not stored")
                self._delete_run_rows(tgroup, f"_run_data/{branch}/{rel}", idx, delete_only)
            else:
                prefix = rel + "." if rel else ""
                matches = [r for r in list(base) if r.startswith(prefix)]
                if matches and not recursive and rel:
                    raise TypeError(f"group {full!r} has children on disk: pass recursive=True")
                for r in matches:
                    self._delete_run_rows(tgroup, f"_run_data/{branch}/{r}", idx)
            return
        path = full.replace(".", "/")
        if path not in tgroup:
            raise DataNotInStorageError(f"{full!r} is not stored in trajectory {name!r}")
        group = tgroup[path]
        if item._is_leaf and delete_only is not None:
            kinds = json.loads(group.attrs.get("__items__", "{}"))
            for part in delete_only:
                self._remove_item(group, part, kinds)
            group.attrs["__items__"] = json.dumps(kinds)
            return
        if not item._is_leaf:
            has_runs = full in ("results", "derived_parameters", "results.runs", "derived_parameters.runs")
            if (len(group) or has_runs) and not recursive:
                raise TypeError(f"group {full!r} has children on disk: pass recursive=True")
            if has_runs and f"_run_data/{full.partition('.')[0]}" in tgroup:
                del tgroup[f"_run_data/{full.partition('.')[0]}"]
                self._leaf_heads.clear()
        if full in ("config", "parameters", "derived_parameters", "results"):
            for child in list(group):
                del group[child]
            return
        del tgroup[path]
        if remove_empty_groups:
            parent_path = path.rpartition("/")[0]
            while parent_path and "/" in parent_path and not len(tgroup[parent_path]):
                del tgroup[parent_path]
                parent_path = parent_path.rpartition("/")[0]

    def _delete_link(self, link_name, name, **kwargs):
        tgroup = self._traj_group(name)
        location, _, link = str(link_name).rpartition(".")
        group = tgroup[location.replace(".", "/")] if location else tgroup
        links = json.loads(group.attrs.get("__links__", "{}"))
        if link not in links:
            raise DataNotInStorageError(f"no stored link {link_name!r}")
        del links[link]
        group.attrs["__links__"] = json.dumps(links)

    # ----------------------------------------------------------------------- loading
    def _load_children(self, traj, h5group, full_name, mode_of, max_depth, lock=True, depth=0,
                       load_only=None, load_except=None):
        if max_depth is not None and depth >= max_depth:
            return
        pending_links = []
        for child_name, child in h5group.items():
            if not full_name and child_name in _SPECIAL_GROUPS:
                continue
            if not isinstance(child, h5py.Group):
                continue
            child_full = f"{full_name}.{child_name}" if full_name else child_name
            mode = mode_of(child_full.partition(".")[0])
            if mode == pc.LOAD_NOTHING:
                continue
            if child.attrs.get("__leaf__", False):
                self._load_leaf_group(traj, child, child_full, mode, lock, load_only, load_except)
                continue
            node = traj._ensure_group(child_full)
            if not node._comment:
                node.v_comment = _attr_str(child.attrs, "__comment__")
            if "__annotations__" in child.attrs and (node._annotations is None or node._annotations.f_is_empty()):
                node.v_annotations.f_set(**codec.from_json(child.attrs["__annotations__"]))
            if "__links__" in child.attrs:
                pending_links.append((node, json.loads(child.attrs["__links__"])))
            self._load_children(traj, child, child_full, mode_of, max_depth, lock, depth + 1)
        for node, links in pending_links:
            restore_links(traj, node, links)

    def _load_leaf_group(self, traj, group, full_name, mode, lock, load_only=None, load_except=None):
        existing = traj._flat.get(full_name)
        if existing is not None:
            # Items in memory are kept: skeleton modes leave them, data modes only
            # fill empty ones, OVERWRITE_DATA replaces their data.
            if mode in (pc.LOAD_SKELETON, pc.UPDATE_SKELETON):
                return existing
            if mode != pc.OVERWRITE_DATA and not (existing._is_leaf and existing.f_is_empty()):
                return existing
            leaf = existing
            with leaf._unlocked():
                leaf.f_empty()
        else:
            cls = traj._resolve_leaf_class(_attr_str(group.attrs, "__class__"))
            annotations = codec.from_json(group.attrs["__annotations__"]) if "__annotations__" in group.attrs else None
            leaf = traj._new_loaded_leaf(cls, full_name, _attr_str(group.attrs, "__comment__"), annotations)
        if mode in (pc.LOAD_DATA, pc.UPDATE_DATA, pc.OVERWRITE_DATA):
            self._read_leaf_data(group, leaf, load_only, load_except)
        if lock and hasattr(leaf, "f_lock") and leaf.v_branch in ("parameters", "config") and not leaf.f_is_empty():
            leaf.f_lock()
        return leaf

    @staticmethod
    def _selected(names, load_only, load_except, where):
        if isinstance(load_only, str):
            load_only = [load_only]
        if isinstance(load_except, str):
            load_except = [load_except]
        if load_only is not None:
            for missing in set(load_only) - set(names):
                logger.warning("%s has no part %r to load", where, missing)
            return [n for n in names if n in load_only]
        if load_except is not None:
            for missing in set(load_except) - set(names):
                logger.warning("%s has no part %r to leave out", where, missing)
            return [n for n in names if n not in load_except]
        return list(names)

    def _read_leaf_data(self, group, leaf, load_only=None, load_except=None):
        kinds = json.loads(group.attrs.get("__items__", "{}"))
        names = self._selected(kinds, load_only, load_except, leaf.v_full_name)
        items = {n: codec.read_item(group, n, kinds[n]) for n in names}
        explored = None
        if "explored_data" in group and hasattr(leaf, "f_has_range"):
            _, explored = read_column(group["explored_data"])
        if explored is not None:
            # pypet's protocol: ``_load(load_dict)`` finds the range as an ObjectTable column.
            items["explored_data"] = ObjectTable(data={"data": explored})
        # pypet-style parameters refuse _load while locked; loading is not a change by the user.
        with leaf._unlocked():
            leaf._load(items)

    def _load_run_leaves(self, traj, tgroup, branch, mode, run=None, rel_prefix=None, load_only=None,
                         load_except=None, leaf=None, rel_exact=None):
        base = tgroup.get(f"_run_data/{branch}")
        if base is None:
            return
        data_mode = mode in (pc.LOAD_DATA, pc.UPDATE_DATA, pc.OVERWRITE_DATA)
        runs_prefix = f"{branch}.runs."
        for rel, group in base.items():
            if rel_prefix is not None and not (rel == rel_prefix or rel.startswith(rel_prefix + ".")):
                continue
            if rel_exact is not None and rel != rel_exact:
                continue
            if "__meta__" not in group:
                continue
            meta_group = group["__meta__"]
            if run is None:
                run_idx, metas = read_column(meta_group)
            else:
                rows = rows_of_run(meta_group, run)
                run_idx, metas = read_column(meta_group, rows)
            if not len(run_idx):
                continue
            head_class = _attr_str(group.attrs, "__class__")
            head_comment = _attr_str(group.attrs, "__comment__")
            flat = traj._flat
            nodes = {}
            for idx, meta in zip(run_idx.tolist(), metas):
                full = f"{runs_prefix}{pc.FORMATTED_RUN_NAME % idx}.{rel}"
                existing = flat.get(full)
                if existing is not None:
                    if leaf is not None and full in leaf:
                        nodes[idx] = existing
                        continue
                    if mode == pc.OVERWRITE_DATA:
                        existing.f_empty()
                        nodes[idx] = existing
                    elif mode in (pc.LOAD_DATA, pc.UPDATE_DATA) and existing.f_is_empty():
                        nodes[idx] = existing
                    continue
                info = json.loads(meta) if meta else {}
                cls = traj._resolve_leaf_class(info.get("c", head_class))
                annotations = codec.decode(info["a"]) if "a" in info else None
                nodes[idx] = traj._new_loaded_leaf(cls, full, info.get("m", head_comment), annotations)
            if not data_mode or not nodes:
                continue
            names = self._selected([n for n in group if n != "__meta__"], load_only, load_except, rel)
            for item_name in names:
                column = group[item_name]
                if run is None:
                    item_runs, values = read_column(column)
                else:
                    item_runs, values = read_column(column, rows_of_run(column, run))
                data = {}
                for idx, value in zip(item_runs.tolist(), values):
                    if idx in nodes:
                        data[idx] = value
                for idx, value in data.items():
                    node = nodes[idx]
                    if item_name == "__protocol" or hasattr(node, "_data"):
                        node._load({item_name: value})

    def _load_leaf(self, leaf, name, load_data=pc.LOAD_DATA, load_only=None, load_except=None, **kwargs):
        if load_only is not None and load_except is not None:
            raise ValueError("use load_only or load_except, not both")
        tgroup = self._traj_group(name)
        full = leaf.v_full_name
        traj = leaf._parent._root if leaf._parent is not None else None
        if is_run_node_name(full):
            branch, idx, rel = _run_split(full)
            if f"_run_data/{branch}/{rel}" not in tgroup:
                raise DataNotInStorageError(f"{full!r} is not stored in trajectory {name!r}")
            if load_only is None and load_except is None and not leaf.f_is_empty():
                leaf.f_empty()
            self._load_run_leaves(traj, tgroup, branch, pc.UPDATE_DATA, run=idx, rel_prefix=rel,
                                  load_only=load_only, load_except=load_except, leaf={full})
            return
        path = full.replace(".", "/")
        if path not in tgroup:
            raise DataNotInStorageError(f"{full!r} is not stored in trajectory {name!r}")
        if load_only is None and load_except is None and not leaf.f_is_empty():
            with leaf._unlocked():
                leaf.f_empty()
        self._read_leaf_data(tgroup[path], leaf, load_only, load_except)

    def _load_group(self, group, name, recursive=False, load_data=pc.LOAD_DATA, max_depth=None, **kwargs):
        traj = group._root
        return self._load_tree_at(traj, name, group.v_full_name, recursive, load_data, max_depth)

    def _load_tree(self, parent, name, child_name=None, recursive=False, load_data=pc.LOAD_DATA, max_depth=None,
                   trajectory=None, **kwargs):
        traj = trajectory if trajectory is not None else parent._root
        full = f"{parent.v_full_name}.{child_name}" if parent.v_full_name else child_name
        return self._load_tree_at(traj, name, full, recursive, load_data, max_depth)

    def _load_tree_at(self, traj, name, full, recursive, load_data, max_depth):
        tgroup = self._traj_group(name)
        mode = load_data
        if mode in (pc.LOAD_SKELETON, pc.LOAD_DATA):
            mode = pc.UPDATE_SKELETON if mode == pc.LOAD_SKELETON else pc.UPDATE_DATA
        parts = full.split(".") if full else []
        run_parts = len(parts) >= 3 and parts[1] == "runs" and RUN_NAME_PATTERN.match(parts[2])
        if run_parts and parts[2] != pc.RUN_NAME_DUMMY:
            branch, idx, rel = _run_split(full)
            self._load_run_leaves(traj, tgroup, branch, mode, run=idx, rel_prefix=rel or None)
            if full not in traj._flat:
                raise DataNotInStorageError(f"{full!r} is not stored in trajectory {name!r}")
            return traj._flat[full]
        path = full.replace(".", "/")
        if len(parts) == 2 and parts[1] == "runs" and path not in tgroup:
            # Per-run leaves live in the run columns, not under results/runs: auto-loading
            # ``traj.res.runs`` brings in their skeleton (their data loads when asked for).
            self._load_run_leaves(traj, tgroup, parts[0], pc.UPDATE_SKELETON)
            if full in traj._flat:
                return traj._flat[full]
        if full and path not in tgroup:
            raise DataNotInStorageError(f"{full!r} is not stored in trajectory {name!r}")
        h5node = tgroup[path] if full else tgroup
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            group = tgroup["/".join(parts[:depth])]
            node = traj._ensure_group(prefix)
            if not node._comment:
                node.v_comment = _attr_str(group.attrs, "__comment__")
        if full and h5node.attrs.get("__leaf__", False):
            return self._load_leaf_group(traj, h5node, full, mode if mode != pc.UPDATE_DATA else pc.UPDATE_DATA, True)
        if full:
            node = traj._ensure_group(full)
            if not node._comment:
                node.v_comment = _attr_str(h5node.attrs, "__comment__")
            if "__annotations__" in h5node.attrs and (node._annotations is None or node._annotations.f_is_empty()):
                node.v_annotations.f_set(**codec.from_json(h5node.attrs["__annotations__"]))
        if recursive:
            self._load_children(traj, h5node, full, lambda branch: mode, max_depth)
            branch = parts[0] if parts else None
            for b in ("results", "derived_parameters"):
                if branch is None or (b == branch and len(parts) <= 2):
                    self._load_run_leaves(traj, tgroup, b, mode)
        else:
            max_one = 1
            self._load_children(traj, h5node, full, lambda branch: pc.UPDATE_SKELETON, max_one)
        return traj._flat.get(full, traj)
