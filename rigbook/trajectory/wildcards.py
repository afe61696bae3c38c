"""Wildcards in node names: ``$``/``crun`` (the current run) and ``$set``/``crunset`` (its run set).

``traj.f_add_result('$set.$.z', 1)`` in run 1 adds
``results.run_set_00000.run_00000001.z``. A wildcard is translated by a
function of the run index that returns a name, and a dummy name for index
-1 (outside runs): ``run_ALL`` / ``run_set_ALL`` for the built-in ones.
Scripts may add their own with ``Trajectory(wildcard_functions={('$x',
'cx'): func})``.
"""

import re

from rigbook.trajectory import pypetconstants as pc

RUNS_PER_SET = 1000
_RUN_OR_SET_NAME = re.compile(r"^run_(\d{8}|ALL)$|^run_set_(\d{5}|ALL)$")


def run_name(idx):
    """``run_00000003`` for 3, ``run_ALL`` for -1."""
    return pc.FORMATTED_RUN_NAME % idx if idx >= 0 else pc.RUN_NAME_DUMMY


def run_set_name(idx):
    """``run_set_00001`` for runs 1000-1999, ``run_set_ALL`` for -1."""
    return pc.FORMATTED_SET_NAME % (idx // RUNS_PER_SET) if idx >= 0 else pc.SET_NAME_DUMMY


DEFAULT_WILDCARDS = {("$", "crun"): run_name, ("$set", "crunset"): run_set_name}


class Wildcards:
    """The wildcards a trajectory translates, each spelling mapped to its function."""

    def __init__(self, custom=None):
        self.functions = dict(DEFAULT_WILDCARDS)
        for spellings, function in (custom or {}).items():
            if isinstance(spellings, str):
                spellings = (spellings,)
            if not callable(function):
                raise TypeError(f"wildcard function for {spellings!r} must be callable, not {type(function).__name__}")
            self.functions[tuple(spellings)] = function
        #: Every spelling to its function (``spelling in wildcards.spellings`` is the fast test).
        self.spellings = {s: f for spellings, f in self.functions.items() for s in spellings}

    def translate(self, spelling, idx):
        """Name that ``spelling`` stands for in run ``idx`` (-1: outside runs)."""
        try:
            function = self.spellings[spelling]
        except KeyError:
            raise ValueError(f"{spelling!r} is not a wildcard; known: {sorted(self.spellings)}") from None
        return function(idx)

    def is_run_name(self, name):
        """Whether ``name`` is a name some wildcard produces for a run (or its dummy)."""
        return name.startswith("run_") and _RUN_OR_SET_NAME.match(name) is not None
