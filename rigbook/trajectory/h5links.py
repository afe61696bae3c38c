"""Links in the file: group links as attributes, links below run groups in one column per branch.

Runs are stored column-wise, so a run group (``results.runs.run_00000003``)
is no HDF5 group that could carry a ``__links__`` attribute; its links go to
``_run_links/<branch>``, one JSON row ``[group full name, {link: target}]``
per stored run group.
"""

import json

from rigbook.trajectory.h5columns import append_column, read_column

RUN_LINKS = "_run_links"


def append_run_links(tgroup, branch, idx, full_name, links, filters):
    """Record the links of run group ``full_name`` (run ``idx`` of ``branch``)."""
    append_column(tgroup.require_group(RUN_LINKS), branch, [idx], [json.dumps([full_name, links])], filters)


def restore_links(traj, group, links):
    """Hang ``{name: target full name}`` below ``group``; targets not in memory are skipped."""
    for name, target in links.items():
        if name not in group._links and target in traj._flat:
            traj._set_link(group, name, traj._flat[target])


def restore_run_links(traj, tgroup, branch):
    """The links below the run groups of ``branch`` (groups are created as needed)."""
    column = tgroup.get(f"{RUN_LINKS}/{branch}")
    if column is None:
        return
    for row in read_column(column)[1]:
        full_name, links = json.loads(row)
        restore_links(traj, traj._ensure_group(full_name), links)
