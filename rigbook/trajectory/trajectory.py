"""The Trajectory: config, parameters, derived parameters and results of a parameter exploration.

``Trajectory`` implements pypet's trajectory API (both the reference's
spelling and pypet 0.6's: ``f_as_run``/``f_set_crun``, ``f_update_skeleton``/
``f_load_skeleton``, ``v_as_run``/``v_crun``...). Storing and loading go
through ``v_storage_service`` (an :class:`HDF5StorageService` when a filename
is given); anything with ``store(msg, item, *args, **kwargs)`` and ``load(...)``
may replace it.

For the Environment (issue 7):

* ``f_set_crun(idx)`` makes the trajectory a run (explored parameters take
  the run's values and lock when read, results and derived parameters added by
  name go to ``results.runs.run_XXXXXXXX``); ``f_restore_default()`` ends it.
* ``_set_start()`` / ``_set_finish()`` record the run's timing and completion;
  ``_update_run_information(info)`` merges an info dict sent back by a worker;
  ``_prepare_experiment()`` raises PresettingError for unused presets.
* With ``traj._is_run`` true, :meth:`f_store` sends
  ``store(SINGLE_RUN, traj, store_final=False)``; the Environment itself sends
  ``store(SINGLE_RUN, traj_or_payload, store_final=True)`` to store only the
  run's new nodes and its run information. ``_run_payload()`` is the same data
  as a small picklable object (and marks those nodes stored), which a queue
  sender can ship instead of the whole trajectory.
* A trajectory pickles without the open HDF5 handle; ``v_storage_service``
  may be replaced by any object with ``store``/``load`` (a wrapper).
"""

import logging
import platform
import time

import rigbook
from rigbook.storage.ids import validate_id
from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.errors import NotUniqueNodeError, PresettingError
from rigbook.trajectory.node import NNTreeNode
from rigbook.trajectory.parameter import BaseParameter, Parameter
from rigbook.trajectory.records import format_time
from rigbook.trajectory.result import Result
from rigbook.trajectory.runs import RunsMixin
from rigbook.trajectory.storing import StoringMixin
from rigbook.trajectory.tree import TreeRoot
from rigbook.trajectory.wildcards import Wildcards

logger = logging.getLogger(__name__)

_SERVICE_KEYWORDS = {
    "file_title", "overwrite_file", "encoding", "complevel", "complib", "shuffle", "fletcher32",
    "pandas_format", "purge_duplicate_comments", "summary_tables", "small_overview_tables",
    "large_overview_tables", "results_per_run", "derived_parameters_per_run", "display_time",
}


class Trajectory(StoringMixin, RunsMixin, TreeRoot):
    """Container of a parameter exploration; see the module docstring.

    Parameters
    ----------
    name : str
        Name; with ``add_time`` the creation time is appended.
    add_time : bool
        Append ``_YYYY_MM_DD_HHhMMmSSs`` to the name.
    comment : str
        Description of the trajectory.
    dynamically_imported_classes, dynamic_imports
        Custom parameter/result classes (or ``'module.Class'`` strings) needed to load the file.
    filename : str, optional
        HDF5 file; creates an :class:`HDF5StorageService` for it.
    storage_service : object, optional
        A storage service (or class) to use instead.
    **kwargs
        Passed to the HDF5StorageService (``file_title``, ``overwrite_file``, ``complib``, ...).
    """

    def __init__(self, name="my_trajectory", add_time=True, comment="", dynamically_imported_classes=None,
                 filename=None, dynamic_imports=None, storage_service=None, wildcard_functions=None, **kwargs):
        unknown = set(kwargs) - _SERVICE_KEYWORDS
        if unknown:
            raise TypeError(f"Trajectory() got unexpected keyword arguments {sorted(unknown)}")
        validate_id(name, "trajectory name")
        if "." in name:
            raise ValueError(f"invalid trajectory name {name!r}: '.' is not allowed")
        NNTreeNode.__init__(self, "", comment)
        d = self.__dict__
        d["_children"] = {}
        d["_links"] = {}
        now = time.time()
        d["_timestamp"] = now
        d["_time"] = format_time(now)
        d["_traj_name"] = f"{name}_{d['_time']}" if add_time else name
        d["_version"] = rigbook.__version__
        d["_python"] = platform.python_version()
        d["_idx"] = -1
        d["_crun"] = None
        d["_length"] = 1
        d["_run_information"] = []
        d["_presets"] = {}
        d["_presets_used"] = set()
        d["_fast_access"] = True
        d["_shortcuts"] = True
        d["_max_depth"] = None
        d["_auto_load"] = False
        d["_iter_recursive"] = False
        d["_standard_parameter"] = Parameter
        d["_standard_result"] = Result
        d["_standard_leaf"] = Result
        d["_dynamic_imports"] = []
        d["_full_copy"] = True
        d["_environment_hexsha"] = None
        d["_environment_name"] = None
        d["_traj_stored"] = False
        d["_explored_stored_length"] = 0
        d["_is_run"] = False
        d["_storage_service"] = None
        d["_wildcards"] = Wildcards(wildcard_functions)
        d["_auto_run_prepend"] = True
        d["_no_clobber"] = False
        d["_with_links"] = True
        self._init_tree()
        self._add_run_info(0)
        self.f_add_to_dynamic_imports(dynamically_imported_classes)
        self.f_add_to_dynamic_imports(dynamic_imports)
        if storage_service is not None:
            if isinstance(storage_service, type):
                storage_service = storage_service(filename=filename, trajectory=self, **kwargs)
            d["_storage_service"] = storage_service
        elif filename is not None:
            d["_storage_service"] = self._service_for_file(filename, trajectory=self, **kwargs)

    # identity ---------------------------------------------------------------------
    @property
    def v_name(self):
        """Name of the trajectory."""
        return self._traj_name

    v_trajectory_name = v_name

    @property
    def v_timestamp(self):
        """Creation time as a float."""
        return self._timestamp

    v_trajectory_timestamp = v_timestamp

    @property
    def v_time(self):
        """Creation time as a string."""
        return self._time

    v_trajectory_time = v_time

    @property
    def v_version(self):
        """Rigbook version that created the trajectory."""
        return self._version

    @property
    def v_python(self):
        """Python version that created the trajectory."""
        return self._python

    @property
    def v_storage_service(self):
        """The service storing the trajectory (anything with ``store``/``load``)."""
        return self._storage_service

    @v_storage_service.setter
    def v_storage_service(self, service):
        self.__dict__["_storage_service"] = service

    @property
    def v_filename(self):
        """File of the storage service, if it has one."""
        return getattr(self._storage_service, "filename", None)

    def _make_flag(attribute, doc):
        def getter(self):
            return self.__dict__[attribute]

        def setter(self, value):
            self.__dict__[attribute] = value

        return property(getter, setter, doc=doc)

    v_fast_access = _make_flag("_fast_access", "Natural naming returns values instead of leaves.")
    v_shortcuts = _make_flag("_shortcuts", "Natural naming may skip groups.")
    v_max_depth = _make_flag("_max_depth", "Deepest level shortcut searches look at (None: no limit).")
    v_auto_load = _make_flag("_auto_load", "Load missing nodes from disk on access.")
    v_iter_recursive = _make_flag("_iter_recursive", "Iterating a group visits the whole subtree.")
    v_standard_parameter = _make_flag("_standard_parameter", "Class of parameters added by name.")
    v_standard_result = _make_flag("_standard_result", "Class of results added by name.")
    v_standard_leaf = _make_flag("_standard_leaf", "Class of generic leaves added by name.")
    v_full_copy = _make_flag("_full_copy", "Pickles carry the whole exploration (always true in Rigbook).")
    v_environment_hexsha = _make_flag("_environment_hexsha", "SHA-1 of the environment that ran the trajectory.")
    v_environment_name = _make_flag("_environment_name", "Name of the environment that ran the trajectory.")
    v_auto_run_prepend = _make_flag("_auto_run_prepend", "During a run, results and derived parameters added "
                                    "by name go below runs.run_XXXXXXXX.")
    v_no_clobber = _make_flag("_no_clobber", "Adding a leaf that exists keeps the old one (with a warning) "
                              "instead of raising AttributeError.")
    v_with_links = _make_flag("_with_links", "Natural naming follows links.")
    del _make_flag

    @property
    def v_wildcard_functions(self):
        """Wildcard spellings (tuples) to the functions translating them (see :mod:`wildcards`)."""
        return dict(self._wildcards.functions)

    def f_set_properties(self, **kwargs):
        """Set ``v_`` properties by name, with or without the prefix: ``f_set_properties(fast_access=False)``.

        Raises
        ------
        AttributeError
            Naming the keyword that is no settable property.
        """
        for key, value in kwargs.items():
            name = key if key.startswith("v_") else "v_" + key
            prop = getattr(type(self), name, None)
            if not isinstance(prop, property) or prop.fset is None:
                raise AttributeError(f"{key!r} is not a settable property of the trajectory")
            prop.fset(self, value)

    @property
    def v_comment(self):
        """Comment of the trajectory."""
        return self._comment

    @v_comment.setter
    def v_comment(self, comment):
        NNTreeNode.v_comment.fset(self, comment)

    def f_add_to_dynamic_imports(self, dynamically_imported_classes):
        """Remember custom classes needed to load this trajectory."""
        if dynamically_imported_classes is None:
            return
        if not isinstance(dynamically_imported_classes, (list, tuple)):
            dynamically_imported_classes = [dynamically_imported_classes]
        for item in dynamically_imported_classes:
            if not isinstance(item, (str, type)):
                raise TypeError(f"dynamically imported classes must be classes or 'module.Class' strings, not {item!r}")
            self._dynamic_imports.append(item)

    def __getstate__(self):
        state = dict(self.__dict__)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # A trajectory pickled by an older Rigbook (a resume recipe) lacks these settings.
        d = self.__dict__
        if "_wildcards" not in d:
            d["_wildcards"] = Wildcards()
        for key, default in (("_auto_run_prepend", True), ("_no_clobber", False), ("_with_links", True)):
            d.setdefault(key, default)
        if "_link_count" not in d:
            d["_link_count"] = sum(len(n._links) for n in self._flat.values() if not n._is_leaf) + len(self._links)

    def __repr__(self):
        return f"<Trajectory {self._traj_name!r}: {self._length} run(s)>"

    __str__ = __repr__

    # presets and locks -------------------------------------------------------------
    def _preset(self, branch, name, args, kwargs):
        parts = self._translate(name)
        if parts[0] != branch:
            parts = [branch] + parts
        full = ".".join(parts)
        if full in self._flat:
            raise ValueError(f"{full!r} already exists; presets must come before the parameter is added")
        self._presets[full] = (args, kwargs)

    def f_preset_parameter(self, param_name, *args, **kwargs):
        """Preset the value ``f_add_parameter`` will give a parameter added later."""
        self._preset("parameters", param_name, args, kwargs)

    def f_preset_config(self, config_name, *args, **kwargs):
        """Preset the value of a config parameter added later."""
        self._preset("config", config_name, args, kwargs)

    def _prepare_experiment(self):
        """Check that every preset was used (called before running)."""
        unused = sorted(set(self._presets) - self._presets_used)
        if unused:
            raise PresettingError(f"these presets were never added to the trajectory: {unused}")

    f_check_presets = _prepare_experiment

    def f_lock_parameters(self):
        """Lock every parameter."""
        for node in self.parameters.f_iter_leaves(with_links=False):
            node.f_lock()

    def f_lock_derived_parameters(self):
        """Lock every derived parameter."""
        for node in self.derived_parameters.f_iter_leaves(with_links=False):
            if isinstance(node, BaseParameter):
                node.f_lock()

    def f_is_empty(self):
        """Whether no parameters, derived parameters or results were added (config is ignored)."""
        return not any(self._children[b]._children for b in ("parameters", "derived_parameters", "results"))

    # dictionaries ------------------------------------------------------------------
    def _branch_dict(self, branch, fast_access, copy, only=None):
        if fast_access and not copy:
            raise ValueError("fast_access=True needs copy=True")
        out = {}
        for node in self._children[branch].f_iter_leaves(with_links=False):
            if only is not None and not only(node):
                continue
            out[node._full_name] = node.f_get() if fast_access and node.f_supports_fast_access() else node
        return out

    def f_get_parameters(self, fast_access=False, copy=True):
        """Parameters by full name."""
        return self._branch_dict("parameters", fast_access, copy)

    def f_get_config(self, fast_access=False, copy=True):
        """Config parameters by full name."""
        return self._branch_dict("config", fast_access, copy)

    def f_get_derived_parameters(self, fast_access=False, copy=True):
        """Derived parameters by full name."""
        return self._branch_dict("derived_parameters", fast_access, copy)

    def f_get_results(self, fast_access=False, copy=True):
        """Results by full name."""
        return self._branch_dict("results", fast_access, copy)

    def f_get_explored_parameters(self, fast_access=False, copy=True):
        """Explored parameters by full name."""
        if fast_access and not copy:
            raise ValueError("fast_access=True needs copy=True")
        params = self._explored_parameters
        if fast_access:
            return {k: p.f_get() for k, p in params.items()}
        return dict(params) if copy else params

    def f_remove_item(self, item, recursive=False, remove_empty_groups=False):
        """Remove one item from memory (not from disk)."""
        self.f_remove_items([item], recursive=recursive, remove_empty_groups=remove_empty_groups)

    def f_remove_items(self, iterator, recursive=False, remove_empty_groups=False):
        """Remove items from memory only; use :meth:`f_delete_items` to delete from disk."""
        for item in iterator:
            node = self._item_from(item)
            if node is self or node._parent is self:
                raise ValueError(f"cannot remove the root or the branch {node.v_full_name!r}")
            parent = node._parent
            parent.f_remove_child(node._name, recursive=recursive)
            if remove_empty_groups:
                while parent is not self and parent._parent is not self and not parent.f_has_children():
                    grand = parent._parent
                    grand.f_remove_child(parent._name)
                    parent = grand

    def f_merge(self, other_trajectory, trial_parameter=None, remove_duplicates=False,
                ignore_trajectory_derived_parameters=False, ignore_trajectory_results=False,
                backup_filename=None, move_nodes=False, delete_other_trajectory=False, keep_info=True,
                keep_other_trajectory_info=True, merge_config=True, move_data=None, backup=None):
        """Merge another trajectory's runs into this one (see pypet); the result is stored."""
        from rigbook.trajectory.merge import merge_trajectories

        if move_data is not None:
            move_nodes = move_data
        return merge_trajectories(
            self, other_trajectory, trial_parameter=trial_parameter, remove_duplicates=remove_duplicates,
            ignore_trajectory_derived_parameters=ignore_trajectory_derived_parameters,
            ignore_trajectory_results=ignore_trajectory_results, backup_filename=backup_filename,
            move_nodes=move_nodes, delete_other_trajectory=delete_other_trajectory, keep_info=keep_info,
            keep_other_trajectory_info=keep_other_trajectory_info, merge_config=merge_config)


class SingleRun(Trajectory):
    """pypet's name for a trajectory acting as one run; ``SingleRun(name, idx, parent_trajectory)``.

    Rigbook runs with the trajectory itself (``f_set_crun``); this class
    copies the parent and sets the run, for scripts that construct one.
    """

    def __new__(cls, name=None, idx=None, parent_trajectory=None, **kwargs):
        if parent_trajectory is None:
            return super().__new__(cls)
        import copy

        run = copy.deepcopy(parent_trajectory)
        run.f_set_crun(idx)
        return run

    def __init__(self, name=None, idx=None, parent_trajectory=None, **kwargs):
        if parent_trajectory is None:
            super().__init__(name or "my_trajectory", **kwargs)


def load_trajectory(name=None, index=None, as_new=False, load_parameters=pc.LOAD_DATA,
                    load_derived_parameters=pc.LOAD_SKELETON, load_results=pc.LOAD_SKELETON,
                    load_other_data=pc.LOAD_SKELETON, load_all=None, force=False, filename=None,
                    dynamic_imports=None, new_name="my_trajectory", add_time=True, with_run_information=True,
                    with_meta_data=True, allow_pickle=False, **kwargs):
    """Create a trajectory and load it from ``filename`` (pypet 0.6's helper).

    With ``as_new`` the trajectory is called ``new_name`` (plus the time with
    ``add_time``) and only its parameters are loaded. ``allow_pickle=True``
    unpickles items this user's Rigbook did not write (only for files you trust).
    """
    if name is None and index is None:
        raise ValueError("give the name or the index of the trajectory to load")
    traj = Trajectory(new_name if as_new else "my_trajectory", add_time=add_time, filename=filename,
                      dynamic_imports=dynamic_imports, **kwargs)
    traj.f_load(name=name, index=index, as_new=as_new, load_parameters=load_parameters,
                load_derived_parameters=load_derived_parameters, load_results=load_results,
                load_other_data=load_other_data, load_all=load_all, force=force,
                with_run_information=with_run_information, with_meta_data=with_meta_data,
                allow_pickle=allow_pickle)
    return traj


__all__ = ["Trajectory", "SingleRun", "NotUniqueNodeError", "load_trajectory"]
