"""Merging another trajectory's runs into a trajectory (``Trajectory.f_merge``).

Runs are merged item by item in memory and then stored, which works for two
trajectories in the same file as well as in different files.
"""

import logging
import time

from rigbook.trajectory import codec
from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.node import NNLeaf
from rigbook.trajectory.parameter import BaseParameter

logger = logging.getLogger(__name__)


def _column(traj, full_name):
    node = traj._flat[full_name]
    if node.f_has_range():
        return list(node.f_get_range(copy=False))
    return [node.f_get_default()] * len(traj)


def _point_key(values):
    try:
        return codec.to_json(tuple(values))
    except TypeError:
        return repr(values)


def _new_points(traj, compared, mine_cols, other_cols, n_self, candidates):
    """The runs of ``candidates`` whose parameter point is not among this trajectory's runs."""
    params = [traj._flat[n] for n in compared]
    if all(type(p)._equal_values is BaseParameter._equal_values for p in params):
        existing = {_point_key([mine_cols[n][i] for n in compared]) for i in range(n_self)}
        return [j for j in candidates if _point_key([other_cols[n][j] for n in compared]) not in existing]
    # A custom parameter's _equal_values decides (pypet's protocol), pair by pair.
    return [j for j in candidates
            if not any(all(p._equal_values(mine_cols[n][i], other_cols[n][j]) for p, n in zip(params, compared))
                       for i in range(n_self))]


def _copy_leaf(traj, leaf, new_full_name):
    cls = type(leaf)
    copy = cls(new_full_name, comment=leaf.v_comment)
    copy._load(leaf._store())
    if leaf._annotations is not None and not leaf._annotations.f_is_empty():
        copy.v_annotations.f_set(**leaf._annotations.f_to_dict())
    parent = traj._ensure_group(new_full_name.rpartition(".")[0])
    return traj._attach(parent, copy)


def _ensure_other_loaded(other):
    if other.v_storage_service is None or not other._traj_stored:
        return
    other.f_load(other.v_name, load_parameters=pc.UPDATE_DATA, load_derived_parameters=pc.UPDATE_DATA,
                 load_results=pc.UPDATE_DATA, load_other_data=pc.UPDATE_DATA)
    empties = [n for n in other._flat.values() if isinstance(n, NNLeaf) and n.f_is_empty() and n._stored]
    if empties:
        other.f_load_items(empties)


def merge_trajectories(traj, other, trial_parameter=None, remove_duplicates=False,
                       ignore_trajectory_derived_parameters=False, ignore_trajectory_results=False,
                       backup_filename=None, move_nodes=False, delete_other_trajectory=False, keep_info=True,
                       keep_other_trajectory_info=True, merge_config=True):
    """Append ``other``'s runs (parameters, run results, run derived parameters, run information) to ``traj``."""
    if other is traj:
        raise ValueError("cannot merge a trajectory with itself")
    if backup_filename:
        if backup_filename is True:
            traj.f_backup()
            other.f_backup()
        else:
            traj.f_backup(backup_filename=backup_filename)
            other.f_backup(backup_filename=backup_filename)
    _ensure_other_loaded(other)
    mine = set(traj.f_get_parameters())
    theirs = set(other.f_get_parameters())
    if mine != theirs:
        raise TypeError(
            f"trajectories do not live in the same parameter space: only in {traj.v_name!r}: "
            f"{sorted(mine - theirs)}, only in {other.v_name!r}: {sorted(theirs - mine)}")
    for name in mine:
        a, b = traj._flat[name].f_get_default(), other._flat[name].f_get_default()
        if type(a) is not type(b):
            raise TypeError(f"parameter {name!r} holds {type(a).__name__} here and {type(b).__name__} in the other trajectory")
    explored = list(traj._explored_parameters) + [n for n in other._explored_parameters if n not in traj._explored_parameters]
    trial_name = None
    if trial_parameter is not None:
        trial_name = traj.f_get(trial_parameter).v_full_name if not isinstance(trial_parameter, BaseParameter) else trial_parameter.v_full_name
        if trial_name not in explored:
            explored.append(trial_name)
    mine_cols = {n: _column(traj, n) for n in explored}
    other_cols = {n: _column(other, n) for n in explored}
    if trial_name is not None:
        offset = max(mine_cols[trial_name]) + 1
        other_cols[trial_name] = [value + offset for value in other_cols[trial_name]]
    n_self, n_other = len(traj), len(other)
    selected = list(range(n_other))
    if remove_duplicates:
        compared = [n for n in explored if n != trial_name]
        selected = _new_points(traj, compared, mine_cols, other_cols, n_self, selected)
        if not selected:
            raise ValueError(f"no run of {other.v_name!r} would be merged: all are duplicates")
    if not explored:
        raise ValueError("neither trajectory explores a parameter: name a trial_parameter to tell their runs apart")
    traj.f_expand({n: [other_cols[n][j] for j in selected] for n in explored})
    rename = {}
    for position, j in enumerate(selected):
        new_idx = n_self + position
        old_run, new_run = pc.FORMATTED_RUN_NAME % j, pc.FORMATTED_RUN_NAME % new_idx
        rename[old_run] = new_run
        for branch in ("results", "derived_parameters"):
            group = other._flat.get(f"{branch}.runs.{old_run}")
            if group is None:
                continue
            prefix = group.v_full_name + "."
            for leaf in list(group.f_iter_leaves(with_links=False)):
                _copy_leaf(traj, leaf, f"{branch}.runs.{new_run}.{leaf.v_full_name[len(prefix):]}")
        info = dict(other._run_information[j])
        info.update(idx=new_idx, name=new_run)
        traj._run_information[new_idx].update(info)
    copied_branches = []
    if not ignore_trajectory_derived_parameters:
        copied_branches.append("derived_parameters")
    if not ignore_trajectory_results:
        copied_branches.append("results")
    if merge_config:
        copied_branches.append("config")
    for branch in copied_branches:
        for leaf in list(other._children[branch].f_iter_leaves(with_links=False)):
            full = leaf.v_full_name
            if leaf.v_run_branch != "trajectory" or full in traj._flat:
                continue
            if branch == "config" and not full.startswith(("config.git", "config.environment", "config.merge")):
                continue
            _copy_leaf(traj, leaf, full)
    if keep_info:
        stamp = time.strftime("%Y_%m_%d_%Hh%Mm%Ss")
        base = f"merge.merge_{stamp}"
        counter = 1
        while f"config.{base}" in traj._flat:
            counter += 1
            base = f"merge.merge_{stamp}_{counter}"
        traj.f_add_config(f"{base}.merged_runs", len(selected), comment="Number of runs merged")
        traj.f_add_config(f"{base}.timestamp", time.time(), comment="When the merge happened")
        traj.f_add_config(f"{base}.remove_duplicates", bool(remove_duplicates))
        if trial_name is not None:
            traj.f_add_config(f"{base}.trial_parameter", trial_name)
        if keep_other_trajectory_info:
            traj.f_add_config(f"{base}.other_trajectory_name", other.v_name)
            traj.f_add_config(f"{base}.other_trajectory_time", other.v_time)
            traj.f_add_config(f"{base}.other_trajectory_length", n_other)
    if traj.v_storage_service is not None:
        traj.f_store()
    if move_nodes:
        moved = []
        for j in selected:
            for branch in ("results", "derived_parameters"):
                group = other._flat.get(f"{branch}.runs.{pc.FORMATTED_RUN_NAME % j}")
                if group is not None:
                    moved.extend(group.f_iter_leaves(with_links=False))
        stored = [leaf for leaf in moved if leaf.v_stored]
        if stored and other.v_storage_service is not None and other._traj_stored and not delete_other_trajectory:
            other.f_delete_items(stored)
        for leaf in moved:
            other._remove_subtree(leaf)
    if delete_other_trajectory and other.v_storage_service is not None and other._traj_stored:
        other._storage("store", pc.DELETE, other)
        other.__dict__["_traj_stored"] = False
    logger.info("merged %d run(s) of %s into %s", len(selected), other.v_name, traj.v_name)
    return rename
