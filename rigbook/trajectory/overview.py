"""Overview tables of a stored trajectory (readable with plain h5py, never capped)."""

import numpy as np

from rigbook.trajectory.h5columns import STR_DTYPE

_MAX_VALUE = 256


def _short(value):
    text = repr(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def write_table(parent, name, columns):
    """Replace table ``name``: a group with one 1-D dataset per column and attribute ``columns`` (their order)."""
    if name in parent:
        del parent[name]
    group = parent.create_group(name)
    order = list(columns)
    for column, values in columns.items():
        if values and isinstance(values[0], (int, np.integer)) and not isinstance(values[0], bool):
            group.create_dataset(column, data=np.asarray(values, dtype=np.int64))
        else:
            data = np.empty(len(values), dtype=object)
            data[:] = [str(v) for v in values]
            group.create_dataset(column, data=data, dtype=STR_DTYPE)
    group.attrs["columns"] = order
    return group


def leaf_rows(nodes):
    """Overview columns (name, class, value, comment, length) of parameter or result nodes."""
    columns = {"name": [], "class_name": [], "value": [], "comment": [], "length": []}
    for node in nodes:
        columns["name"].append(node.v_full_name)
        columns["class_name"].append(type(node).__name__)
        columns["value"].append(node.f_val_to_str()[:_MAX_VALUE])
        columns["comment"].append(node.v_comment)
        has_range = getattr(node, "f_has_range", None)
        columns["length"].append(len(node.f_get_range(copy=False)) if has_range and has_range() else 1)
    return columns


def _outside_runs(node):
    return node.v_run_branch == "trajectory"


def write_overviews(tgroup, traj, run_summaries, large_rows=None):
    """Write the small overview tables (and the large one when ``large_rows`` is given)."""
    parent = tgroup.require_group("_overview")
    branches = traj._children
    write_table(parent, "config_overview", leaf_rows(branches["config"].f_iter_leaves(with_links=False)))
    write_table(parent, "parameters_overview", leaf_rows(branches["parameters"].f_iter_leaves(with_links=False)))
    write_table(parent, "explored_parameters_overview", leaf_rows(traj._explored_parameters.values()))
    for branch in ("derived_parameters", "results"):
        # Run groups and everything below them are left out (the predicate spares their subtrees).
        nodes = [n for n in branches[branch].f_iter_nodes(with_links=False, predicate=_outside_runs) if n._is_leaf]
        write_table(parent, f"{branch}_overview", leaf_rows(nodes))
    for branch, rows in run_summaries.items():
        write_table(parent, f"{branch}_summary", rows)
    if large_rows is not None:
        for branch, rows in large_rows.items():
            write_table(parent, f"{branch}_runs_overview", rows)
