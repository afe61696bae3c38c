"""What a trajectory hands its storage service: records of nodes and runs, no model objects.

The storage service (:mod:`storageservice`, :mod:`storeload`) reads these
and never imports the model (trajectory, tree, parameter, result); the model
builds them. Keeping the format here is what lets the two sides be written,
read and tested without each other.

Records
-------
leaf record (dict)
    ``full_name``, ``class`` (see :func:`class_path`), ``comment``,
    ``annotations`` (dict or None), ``items`` (what the leaf's ``_store()``
    returned), ``range`` (the exploration range or None), ``stored`` (was
    stored before).
group record (dict)
    ``full_name``, ``class``, ``comment``, ``annotations``, ``links``
    (link name -> full name of its target).
:class:`RunPayload`
    What one run adds: its leaf and group records and its run information.

The default service
-------------------
A trajectory created with a ``filename`` and no service gets an instance of
the class registered with :func:`register_default_service`
(:class:`~rigbook.trajectory.HDF5StorageService` registers itself), so the
model never imports the service that stores it.
"""

import datetime
import re

from rigbook.trajectory import codec
from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.objecttable import range_values

#: Name of a run group: ``run_`` and eight digits, or ``run_ALL``.
RUN_NAME_PATTERN = re.compile(r"^run_(\d{8}|ALL)$")

_default_service_class = None


def format_time(timestamp):
    """pypet's human-readable time of names and run information: ``2026_11_21_11h04m28s``."""
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y_%m_%d_%Hh%Mm%Ss")


def register_default_service(service_class):
    """Make ``service_class(filename=..., **options)`` the service of trajectories given only a filename."""
    global _default_service_class
    _default_service_class = service_class
    return service_class


def default_service_class():
    """The class :func:`register_default_service` registered.

    Raises
    ------
    RuntimeError
        If none was (``import rigbook.trajectory`` registers the HDF5 service).
    """
    if _default_service_class is None:
        raise RuntimeError("no default storage service is registered: import rigbook.trajectory first")
    return _default_service_class


class RunPayload:
    """What one run adds: its new leaves as records and its run information (picklable, small).

    ``store(SINGLE_RUN, payload)`` stores it exactly as ``store(SINGLE_RUN, traj)``
    would, so a queue or pipe sender can ship this instead of the whole trajectory.
    """

    __slots__ = ("trajectory_name", "idx", "records", "groups", "run_information", "store_final")

    def __init__(self, trajectory_name, idx, records, groups, run_information, store_final):
        self.trajectory_name = trajectory_name
        self.idx = idx
        self.records = records
        self.groups = groups
        self.run_information = run_information
        self.store_final = store_final

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    @property
    def v_name(self):
        """Name of the trajectory the run belongs to."""
        return self.trajectory_name

    v_trajectory_name = v_name


def class_path(cls):
    """Name stored for a leaf class: bare for Rigbook's own classes, ``module.Class`` otherwise."""
    module = cls.__module__
    if module.startswith("rigbook.trajectory"):
        return cls.__name__
    return f"{module}.{cls.__qualname__}"


def leaf_record(node):
    """Everything the storage service needs to write a leaf (no reference to the node itself).

    A parameter's ``_store()`` may return its exploration range under
    ``'explored_data'`` (pypet's protocol: an ObjectTable with a ``'data'``
    column, or a list): it is written as the range column, not as an item.
    """
    items = node._store()
    explored = items.pop("explored_data", None)
    if explored is None and getattr(node, "_explored_range", None) and _storable(node._explored_range):
        explored = node._explored_range  # a custom _store that left its range out still keeps it
    return {
        "full_name": node._full_name,
        "class": class_path(type(node)),
        "comment": node._comment,
        "annotations": node._annotations.f_to_dict() if node._annotations else None,
        "items": items,
        "range": None if explored is None else range_values(explored),
        "stored": node._stored,
    }


def _storable(values):
    try:
        codec.check_storable(values)
    except TypeError:
        return False
    return True


def group_record(node):
    """Comment, annotations and links of a group."""
    return {
        "full_name": node._full_name,
        "class": type(node).__name__,
        "comment": node._comment,
        "annotations": node._annotations.f_to_dict() if node._annotations else None,
        "links": {name: target.v_full_name for name, target in node._links.items()},
    }


def pickle_option(allow_pickle):
    """``allow_pickle`` for a load request only when asked, so services that never unpickle need not know it."""
    return {"allow_pickle": True} if allow_pickle else {}


def is_run_node_name(full_name):
    """Whether ``full_name`` lies inside a run (``results.runs.run_00000001...``), stored column-wise."""
    parts = full_name.split(".", 3)
    return (len(parts) >= 3 and parts[0] in ("results", "derived_parameters") and parts[1] == "runs"
            and RUN_NAME_PATTERN.match(parts[2]) is not None and parts[2] != pc.RUN_NAME_DUMMY)
