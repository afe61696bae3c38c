"""Exploration and runs: f_explore, f_expand, run names, f_as_run / f_set_crun, run information."""

import itertools
import logging
import time
from collections import OrderedDict

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.errors import NotUniqueNodeError
from rigbook.trajectory.node import RUN_NAME_PATTERN
from rigbook.trajectory.parameter import BaseParameter
from rigbook.trajectory.records import format_time
from rigbook.trajectory.wildcards import run_set_name

logger = logging.getLogger(__name__)


def cartesian_product(parameter_dict, combined_parameters=()):
    """All combinations of the values in ``parameter_dict`` as a dict of equal-length lists.

    The last key varies fastest. ``combined_parameters`` lists tuples of keys
    whose values vary together (they must have equal lengths).
    """
    if not combined_parameters:
        combined_parameters = [(key,) for key in parameter_dict]
    else:
        combined_parameters = [tuple(c) if isinstance(c, (list, tuple)) else (c,) for c in combined_parameters]
        named = {k for group in combined_parameters for k in group}
        combined_parameters += [(k,) for k in parameter_dict if k not in named]
    iterators = []
    for group in combined_parameters:
        lengths = {len(parameter_dict[key]) for key in group}
        if len(lengths) != 1:
            raise ValueError(f"combined parameters {group} have ranges of different lengths")
        iterators.append([tuple(parameter_dict[key][i] for key in group) for i in range(lengths.pop())])
    result = {key: [] for group in combined_parameters for key in group}
    for combination in itertools.product(*iterators):
        for group, values in zip(combined_parameters, combination):
            for key, value in zip(group, values):
                result[key].append(value)
    return result


def _run_name(idx):
    return pc.FORMATTED_RUN_NAME % idx


def _new_run_info(idx):
    return {
        "idx": idx, "name": _run_name(idx), "timestamp": 0.0, "time": "", "finish_timestamp": 0.0,
        "runtime": "", "parameter_summary": "", "short_environment_hexsha": "", "completed": 0,
    }


class RunsMixin:
    """Exploration and single-run behaviour of the trajectory."""

    def _restore_exploration(self, length, explored=None):
        """Take the length (and, if given, the explored parameters) of a trajectory being loaded.

        Parameters
        ----------
        length : int
            Number of runs.
        explored : dict, optional
            Full name -> parameter, in exploration order; replaces the current ones.
        """
        if explored is not None:
            self._explored_parameters.clear()
            self._explored_parameters.update(explored)
        self.__dict__["_length"] = int(length)
        self._add_run_info(self._length)

    def _set_in_run(self, in_run):
        """Whether a run function is executing: then ``f_store()`` stores only the current run's data."""
        self.__dict__["_is_run"] = bool(in_run)

    def _add_run_info(self, new_length):
        info = self._run_information
        while len(info) < max(new_length, 1):
            info.append(_new_run_info(len(info)))
        del info[max(new_length, 1):]

    def __len__(self):
        return self._length

    def f_get_run_names(self, sort=True):
        """Names of all runs (``run_00000000``, ...)."""
        return [_run_name(i) for i in range(self._length)]

    def f_idx_to_run(self, name_or_idx):
        """Run name of an index, or index of a run name."""
        if isinstance(name_or_idx, str):
            if not RUN_NAME_PATTERN.match(name_or_idx) or name_or_idx == pc.RUN_NAME_DUMMY:
                raise ValueError(f"{name_or_idx!r} is not a run name like 'run_00000001'")
            return int(name_or_idx[4:])
        idx = int(name_or_idx)
        if idx < 0:
            idx += self._length
        return _run_name(idx)

    def _run_index(self, name_or_idx):
        idx = self.f_idx_to_run(name_or_idx) if isinstance(name_or_idx, str) else int(name_or_idx)
        if idx < 0:
            idx += self._length
        if not 0 <= idx < self._length:
            raise ValueError(f"run {name_or_idx!r} does not exist: the trajectory has {self._length} run(s)")
        return idx

    # exploring -----------------------------------------------------------------------
    def _explored_from_dict(self, build_dict):
        found = {}
        for key, values in build_dict.items():
            try:
                node = self.f_get(key) if not isinstance(key, BaseParameter) else key
            except NotUniqueNodeError:
                raise
            except AttributeError:
                raise AttributeError(f"parameter {key!r} to explore is not in the trajectory") from None
            if not isinstance(node, BaseParameter) or node.v_branch != "parameters":
                raise ValueError(f"{key!r} is not a parameter ({getattr(node, 'v_full_name', node)!r}); only parameters are explored")
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise TypeError(f"exploration range of {key!r} must be an iterable of values, not {type(values).__name__}")
            found[node] = list(values)
        lengths = {len(v) for v in found.values()}
        if len(lengths) > 1:
            detail = ", ".join(f"{n.v_full_name}: {len(v)}" for n, v in found.items())
            raise ValueError(f"exploration ranges must have the same length ({detail})")
        return found, (lengths.pop() if lengths else 0)

    def f_explore(self, build_dict):
        """Give parameters exploration ranges of equal length (one run per position)."""
        if self._traj_stored and self._explored_stored_length:
            raise TypeError("the trajectory was stored already: use f_expand to add runs")
        found, length = self._explored_from_dict(build_dict)
        if self._explored_parameters and length != self._length:
            raise ValueError(f"the trajectory already explores {self._length} runs; new ranges have {length} values")
        again = [node.v_full_name for node in found if node.v_explored]
        if again:
            raise TypeError(f"parameters {again} are explored already; use f_expand to add runs")
        for node, values in found.items():
            node.f_explore(values)
        for node in found:
            self._explored_parameters[node._full_name] = node
        self.__dict__["_length"] = length
        self._add_run_info(length)

    def f_expand(self, build_dict, fail_safe=True):
        """Append runs: every explored parameter must get the same number of new values."""
        found, length = self._explored_from_dict(build_dict)
        if not found or not length:
            raise ValueError("f_expand needs at least one parameter with at least one new value")
        missing = set(self._explored_parameters) - {n._full_name for n in found}
        if self._explored_parameters and missing:
            raise TypeError(f"f_expand must enlarge every explored parameter; missing {sorted(missing)}")
        old = self._length if self._explored_parameters else 0
        for node, values in found.items():
            if not node.v_explored and old:
                # A parameter explored only now keeps its default in the runs that exist.
                node._explored_range = [node._default] * old
                node._explored = True
            was_locked = node._locked
            node._locked = False
            try:
                node.f_expand(values)
            finally:
                node._locked = was_locked
            self._explored_parameters[node._full_name] = node
        self.__dict__["_length"] = old + length
        self._add_run_info(self._length)

    def f_shrink(self, force=False):
        """Remove all exploration ranges (TypeError if the trajectory was stored, unless ``force``)."""
        if self._traj_stored and not force:
            raise TypeError("the trajectory was stored already; pass force=True to shrink anyway")
        for node in self._explored_parameters.values():
            node.f_shrink(force=True)
        self._explored_parameters.clear()
        self.__dict__["_length"] = 1
        self._add_run_info(1)

    # acting as a run -------------------------------------------------------------------
    @property
    def v_idx(self):
        """Index of the current run, -1 outside runs."""
        return self._idx

    @v_idx.setter
    def v_idx(self, idx):
        self.f_set_crun(idx)

    @property
    def v_crun(self):
        """Name of the current run, None outside runs."""
        return self._crun

    @v_crun.setter
    def v_crun(self, name):
        self.f_set_crun(name)

    v_as_run = v_crun

    def f_set_crun(self, name_or_idx):
        """Make the trajectory behave as run ``name_or_idx``; None or -1 restores the default."""
        if name_or_idx is None or (not isinstance(name_or_idx, str) and int(name_or_idx) == -1):
            self.f_restore_default()
            return
        idx = self._run_index(name_or_idx)
        d = self.__dict__
        d["_idx"] = idx
        d["_crun"] = _run_name(idx)
        for node in self._explored_parameters.values():
            node._set_parameter_access(idx)

    f_as_run = f_set_crun

    def f_restore_default(self):
        """Leave run mode: explored parameters show their defaults again, run-read locks are lifted."""
        d = self.__dict__
        d["_idx"] = -1
        d["_crun"] = None
        for node in self._explored_parameters.values():
            node._set_parameter_access(-1)
        for full in self._run_locked:
            node = self._flat.get(full)
            if node is not None:
                node.f_unlock()
        self._run_locked.clear()

    def f_iter_runs(self, start=0, stop=None, step=1, yields="name"):
        """Iterate over runs, making the trajectory each run in turn; restores the default at the end."""
        try:
            for idx in range(start, self._length if stop is None else stop, step):
                self.f_set_crun(idx)
                if yields == "idx":
                    yield idx
                elif yields == "self":
                    yield self
                elif yields == "copy":
                    import copy

                    yield copy.deepcopy(self)
                else:
                    yield self._crun
        finally:
            self.f_restore_default()

    def f_get_range(self, copy=True):
        """Explored parameter values as a list of tuples, one per run (pypet 0.6)."""
        params = list(self._explored_parameters.values())
        return list(zip(*[p.f_get_range(copy=False) for p in params]))

    def f_find_idx(self, name_list, predicate):
        """Indices of the runs whose parameter values satisfy ``predicate(*values)``."""
        if isinstance(name_list, str):
            name_list = [name_list]
        columns = []
        for name in name_list:
            node = self.f_get(name)
            if not isinstance(node, BaseParameter):
                raise TypeError(f"{name!r} is not a parameter")
            columns.append(node.f_get_range(copy=False) if node.f_has_range() else [node.f_get()] * self._length)
        return (idx for idx, values in enumerate(zip(*columns)) if predicate(*values))

    # run information -----------------------------------------------------------------------
    def f_get_run_information(self, name_or_idx=None, copy=True):
        """Information dict of one run, or of all runs by run name."""
        if name_or_idx is None:
            return OrderedDict((info["name"], dict(info) if copy else info) for info in self._run_information[: self._length])
        info = self._run_information[self._run_index(name_or_idx)]
        return dict(info) if copy else info

    def f_is_completed(self, name_or_id=None):
        """Whether a run (or, without argument, every run) was completed."""
        if name_or_id is None:
            return all(info["completed"] for info in self._run_information[: self._length])
        return bool(self._run_information[self._run_index(name_or_id)]["completed"])

    def _parameter_summary(self, idx):
        parts = []
        for name, node in self._explored_parameters.items():
            parts.append(f"{name.rpartition('.')[2]}: {node.f_get_range(copy=False)[idx]!r}")
        return ", ".join(parts)[: pc.HDF5_STRCOL_MAX_VALUE_LENGTH * 4]

    def _set_start(self):
        """Record the start of the current run."""
        info = self._run_information[self._idx]
        now = time.time()
        info["timestamp"] = now
        info["time"] = format_time(now)
        info["parameter_summary"] = self._parameter_summary(self._idx)
        if self._environment_hexsha:
            info["short_environment_hexsha"] = str(self._environment_hexsha)[:7]

    def _set_finish(self):
        """Mark the current run completed and record when it finished."""
        info = self._run_information[self._idx]
        now = time.time()
        if not info["timestamp"]:
            self._set_start()
        info["finish_timestamp"] = now
        info["runtime"] = str(round(now - info["timestamp"], 6)) + "s"
        info["completed"] = 1

    def _update_run_information(self, info):
        """Merge a run information dict (e.g. sent back by a worker) into the trajectory."""
        self._run_information[int(info["idx"])].update(info)

    def f_get_from_runs(self, name, include_default_run=True, use_indices=False, fast_access=False,
                        with_links=True, shortcuts=True, max_depth=None, auto_load=False, where="results",
                        backwards_search=False):
        """Find ``name`` in every run; ordered dict run name (or index) -> node or value.

        The second positional argument may be pypet 0.6's ``include_default_run``
        or the reference's ``where`` (``'results'``/``'r'``, ``'derived_parameters'``/``'d'``).
        """
        if isinstance(include_default_run, str):
            where = include_default_run
        branch = {"r": "results", "d": "derived_parameters"}.get(where, where)
        if branch not in ("results", "derived_parameters"):
            raise ValueError(f"where must be 'results' or 'derived_parameters', not {where!r}")
        out = OrderedDict()
        flat = self._flat
        for idx in range(self._length):
            run_name = _run_name(idx)
            node = flat.get(f"{branch}.runs.{run_name}.{name}")
            if node is None:
                # The run's group: below 'runs', or below its run set ('$set.$.name' in pypet).
                group = flat.get(f"{branch}.runs.{run_name}") or flat.get(f"{branch}.{run_set_name(idx)}.{run_name}")
                if group is None:
                    continue
                try:
                    node = group.f_get(name, shortcuts=shortcuts, max_depth=max_depth, with_links=with_links, auto_load=auto_load)
                except NotUniqueNodeError:
                    raise
                except AttributeError:
                    continue
            if auto_load and node._is_leaf and node.f_is_empty():
                self.f_load_item(node)
            value = node.f_get() if fast_access and node._is_leaf and node.f_supports_fast_access() else node
            out[idx if use_indices else run_name] = value
        return out
