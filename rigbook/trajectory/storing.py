"""Storage side of the trajectory API: f_store, f_load, items, delete, backup, migrate."""

import importlib
import logging
import sys

from rigbook.storage.ids import validate_id
from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.node import NNLeaf, NNTreeNode
from rigbook.trajectory.records import (  # noqa: F401  (their home before records.py)
    RunPayload,
    class_path,
    default_service_class,
    group_record,
    is_run_node_name,
    leaf_record,
)
from rigbook.trajectory.records import pickle_option as _pickle_option

logger = logging.getLogger(__name__)


class StoringMixin:
    """f_store / f_load and friends; everything goes through ``v_storage_service``."""

    def _service(self):
        service = self._storage_service
        if service is None:
            raise ValueError(
                f"trajectory {self.v_name!r} has no storage service: pass filename= to Trajectory() "
                "or set traj.v_storage_service"
            )
        return service

    def _storage(self, kind, msg, item, *args, **kwargs):
        kwargs.setdefault("trajectory_name", self.v_name)
        return getattr(self._service(), kind)(msg, item, *args, **kwargs)

    # storing -------------------------------------------------------------------
    def f_store(self, only_init=False, store_data=pc.STORE_DATA, max_depth=None, new_name=None, new_filename=None):
        """Store the trajectory; only data not stored before is written (``store_data`` as pypet)."""
        if new_name is not None or new_filename is not None:
            self.f_migrate(new_name=new_name, new_filename=new_filename)
        if self._is_run and self._idx >= 0:
            self._storage("store", pc.SINGLE_RUN, self, store_data=store_data, store_final=False)
            return
        self._storage("store", pc.TRAJECTORY, self, only_init=only_init, store_data=store_data, max_depth=max_depth)

    def _mark_stored(self, nodes):
        unstored = self._unstored
        for node in nodes:
            node._set_stored()
            unstored.pop(node._full_name, None)

    def _unstored_run_nodes(self, run_name=None):
        """New leaves and groups to store with a run (all new nodes; the run's first)."""
        return list(self._unstored.values())

    def _run_payload(self, store_final=True, mark_stored=True):
        """A :class:`RunPayload` of the current run's new data (see the module docstring)."""
        nodes = [n for n in self._unstored.values() if n is not self]
        records = [leaf_record(n) for n in nodes if n._is_leaf]
        groups = [group_record(n) for n in nodes if not n._is_leaf and (n._comment or n._annotations or n._links)]
        info = dict(self._run_information[self._idx]) if self._idx >= 0 else None
        payload = RunPayload(self.v_name, self._idx, records, groups, info, store_final)
        if mark_stored:
            self._mark_stored(nodes)
        return payload

    def _set_stored_state(self, stored, explored_length):
        """Whether the trajectory is in its file, and how many runs of its exploration are.

        The storage service calls this after writing the trajectory; ``f_migrate`` resets it.
        """
        self.__dict__["_traj_stored"] = bool(stored)
        self.__dict__["_explored_stored_length"] = int(explored_length)

    def _restore_identity(self, name, comment, timestamp, time, python, version, environment_hexsha,
                          environment_name):
        """Take the identity stored with a trajectory being loaded (the storage service calls this)."""
        self.__dict__.update(_traj_name=name, _comment=comment, _timestamp=timestamp, _time=time, _python=python,
                             _version=version, _environment_hexsha=environment_hexsha,
                             _environment_name=environment_name)

    def _service_for_file(self, filename, **overrides):
        """A service like this trajectory's, for another file (the default service if it has none)."""
        service = self._storage_service
        if service is not None and hasattr(service, "for_file"):
            return service.for_file(filename, **overrides)
        return default_service_class()(filename=filename, **overrides)

    def _resolve_leaf_class(self, name):
        """The leaf class a file names: Rigbook's own or one of ``dynamic_imports`` (as in pypet).

        Only leaf classes qualify: a file naming any other class (one whose
        constructor could do anything) is refused rather than instantiated.

        Raises
        ------
        ImportError
            If no such class is known.
        TypeError
            If the name is a class, but not a leaf class.
        """
        from rigbook.trajectory import parameter, result, sparse

        cls = None
        for module in (parameter, result, sparse):
            candidate = getattr(module, name, None)
            if isinstance(candidate, type):
                cls = candidate
                break
        for item in () if cls is not None else self._dynamic_imports:
            if isinstance(item, type):
                if f"{item.__module__}.{item.__qualname__}" == name or item.__name__ == name:
                    cls = item
                    break
            elif item == name or item.rpartition(".")[2] == name:
                module_name, _, class_name = item.rpartition(".")
                cls = getattr(importlib.import_module(module_name), class_name)
                break
        imported_only = cls is None
        if imported_only:
            module_name, _, class_name = name.rpartition(".")
            cls = getattr(sys.modules.get(module_name), class_name, None) if module_name else None
        if cls is not None and not (isinstance(cls, type) and issubclass(cls, NNLeaf)):
            raise TypeError(f"the file names {name!r} as a leaf class, but it is not a parameter or result class")
        if cls is None or imported_only:
            # pypet: a class of the user's is built only when the trajectory is told about it.
            raise ImportError(f"leaf class {name!r} is unknown: pass it in dynamic_imports / "
                              "dynamically_imported_classes")
        return cls

    def _check_stored(self):
        if not self._traj_stored:
            raise TypeError(f"trajectory {self.v_name!r} was never stored: call f_store() first")

    def f_store_item(self, item, *args, **kwargs):
        """Store one item (see :meth:`f_store_items`)."""
        self.f_store_items([item], *args, **kwargs)

    def f_store_items(self, iterator, *args, non_empties=False, **kwargs):
        """Store leaves or groups (names or nodes); ``overwrite=`` replaces parts already on disk."""
        self._check_stored()
        if isinstance(iterator, (str, NNTreeNode)):
            iterator = [iterator]
        jobs = []
        for item in iterator:
            node = self._item_from(item)
            if non_empties and node._is_leaf and node.f_is_empty():
                continue
            msg = pc.LEAF if node._is_leaf else pc.GROUP
            jobs.append((msg, node, args, dict(kwargs)))
        if not jobs:
            raise ValueError("no item to store")
        self._storage("store", pc.LIST, jobs)

    # loading -------------------------------------------------------------------
    def f_load(self, name=None, index=None, as_new=False, load_parameters=pc.LOAD_DATA,
               load_derived_parameters=pc.LOAD_SKELETON, load_results=pc.LOAD_SKELETON,
               load_other_data=pc.LOAD_SKELETON, load_all=None, force=False, filename=None,
               dynamically_imported_classes=None, dynamic_imports=None, load_data=None,
               recursive=True, max_depth=None, with_run_information=True, with_meta_data=True,
               allow_pickle=False):
        """Load a trajectory from the storage service (by name, or by index in the file).

        Pickled items load only if this user's Rigbook wrote them, unless
        ``allow_pickle=True`` (unpickling data from someone else can run their code).
        """
        if filename is not None and filename != self.v_filename:
            self.v_storage_service = self._service_for_file(filename)
        self.f_add_to_dynamic_imports(dynamically_imported_classes)
        self.f_add_to_dynamic_imports(dynamic_imports)
        if load_data is not None and load_all is None:
            load_all = load_data
        if load_all is not None:
            load_parameters = load_derived_parameters = load_results = load_other_data = load_all
        for mode in (load_parameters, load_derived_parameters, load_results, load_other_data):
            if mode not in (-2, -1, 0, 1, 2, 3):
                raise ValueError(f"load mode {mode!r} is not one of -2, -1, 0, 1, 2, 3")
        if name is None and index is None:
            name = self.v_name
        self._service().load(
            pc.TRAJECTORY, self, trajectory_name=name, trajectory_index=index, as_new=as_new,
            load_parameters=load_parameters, load_derived_parameters=load_derived_parameters,
            load_results=load_results, load_other_data=load_other_data, force=force,
            recursive=recursive, max_depth=max_depth, with_run_information=with_run_information,
            **_pickle_option(allow_pickle))
        return self

    def f_load_skeleton(self):
        """Add every node on disk that is not in memory yet, without data."""
        self.f_load(self.v_name, as_new=False, load_all=pc.UPDATE_SKELETON)

    f_update_skeleton = f_load_skeleton

    def f_load_item(self, item, *args, **kwargs):
        """Load one item (see :meth:`f_load_items`)."""
        self.f_load_items([item], *args, **kwargs)

    def f_load_items(self, iterator, *args, only_empties=False, allow_pickle=False, **kwargs):
        """Load the data of leaves in memory (``load_only=`` / ``load_except=`` for parts).

        ``allow_pickle=True`` unpickles items this user's Rigbook did not write.
        """
        if isinstance(iterator, (str, NNTreeNode)):
            iterator = [iterator]
        if kwargs.get("load_only") is not None and kwargs.get("load_except") is not None:
            raise ValueError("use load_only or load_except, not both")
        jobs = []
        for item in iterator:
            node = self._item_from(item)
            if only_empties and node._is_leaf and not node.f_is_empty():
                continue
            jobs.append((pc.LEAF if node._is_leaf else pc.GROUP, node, args, dict(kwargs)))
        if jobs:
            self._storage("load", pc.LIST, jobs, **_pickle_option(allow_pickle))

    def _auto_load_node(self, group, name):
        parts = self._translate(name)
        self._storage("load", pc.TREE, group, child_name=".".join(parts), recursive=False,
                      load_data=pc.LOAD_DATA, max_depth=None, trajectory=self)
        return group.f_get(name, shortcuts=False)

    # deleting, backup, migrate -------------------------------------------------------
    def f_delete_item(self, item, *args, **kwargs):
        """Delete one item from disk (see :meth:`f_delete_items`)."""
        self.f_delete_items([item], *args, **kwargs)

    def f_delete_items(self, iterator, *args, remove_empty_groups=False, remove_from_trajectory=False,
                       recursive=False, **kwargs):
        """Delete items from disk; ``delete_only=`` deletes parts of a leaf, ``remove_from_trajectory`` also from memory."""
        if isinstance(iterator, (str, NNTreeNode)):
            iterator = [iterator]
        nodes = [self._item_from(item) for item in iterator]
        for node in nodes:
            if node._full_name in self._explored_parameters:
                raise TypeError(f"explored parameter {node.v_full_name!r} cannot be deleted")
        jobs = [(pc.DELETE, node, args, dict(kwargs, recursive=recursive, remove_empty_groups=remove_empty_groups))
                for node in nodes]
        self._storage("store", pc.LIST, jobs)
        delete_only = kwargs.get("delete_only")
        if delete_only is None:
            for node in nodes:
                node._set_stored(False)
            if remove_from_trajectory:
                self.f_remove_items(nodes, recursive=True, remove_empty_groups=remove_empty_groups)
        elif kwargs.get("remove_from_item", False) or remove_from_trajectory:
            # The deleted parts go from the item in memory too; the rest of it stays.
            parts = [delete_only] if isinstance(delete_only, str) else list(delete_only)
            for node in nodes:
                if node._is_leaf and hasattr(node, "f_remove"):
                    node.f_remove(*[p for p in parts if p in node.f_to_dict(copy=False)])

    def f_backup(self, backup_filename=None, **kwargs):
        """Copy the stored trajectory into ``backup_filename`` (default: ``backup_<name>.hdf5`` beside the file)."""
        self._storage("store", pc.BACKUP, self, backup_filename=backup_filename, **kwargs)

    def f_migrate(self, new_name=None, new_filename=None, new_file_title=None, in_store=False, new_file_tile=None,
                  new_storage_service=None, filename=None, file_title=None):
        """Rename and/or move the trajectory to another file; unless ``in_store`` everything is stored anew.

        pypet 0.6 spells the file ``filename=`` (and its title ``file_title=``),
        or passes a whole ``new_storage_service``.
        """
        if new_file_tile is not None and new_file_title is None:
            new_file_title = new_file_tile
        new_filename = new_filename if new_filename is not None else filename
        new_file_title = new_file_title if new_file_title is not None else file_title
        if new_storage_service is not None:
            self.v_storage_service = new_storage_service
        if new_name is not None:
            validate_id(new_name, "trajectory name")
            if "." in new_name:
                raise ValueError(f"invalid trajectory name {new_name!r}: '.' is not allowed")
            self.__dict__["_traj_name"] = new_name
        if new_filename is not None:
            self.v_storage_service = self._service_for_file(new_filename, file_title=new_file_title)
        if not in_store:
            for node in self._flat.values():
                node._set_stored(False)
            self._unstored.clear()
            self._unstored.update(self._flat)
            self._set_stored_state(stored=False, explored_length=0)
