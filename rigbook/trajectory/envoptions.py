"""pypet 0.6 Environment keywords that Rigbook has no feature for, and the old names pypet still maps.

A pypet script passes many keywords at their defaults (``use_scoop=False``,
``niceness=None``, ...): those are accepted and ignored. A value other than
the default asks for a feature Rigbook lacks and is refused with a
NotImplementedError naming the keyword, rather than silently doing something
else than the script expects.
"""

import logging
import warnings

logger = logging.getLogger(__name__)

#: Keyword -> (pypet's default, what Rigbook lacks). Any other value is refused.
UNSUPPORTED = {
    "use_scoop": (False, "SCOOP"),
    "niceness": (None, "setting the niceness of worker processes"),
    "cpu_cap": (100.0, "CPU usage caps"),
    "memory_cap": (100.0, "memory usage caps"),
    "swap_cap": (100.0, "swap usage caps"),
    "immediate_postproc": (False, "immediate post-processing"),
    "git_message": ("", "git commits (Rigbook records the commit, it never makes one)"),
    "git_fail": (False, "git commits (Rigbook records the commit, it never makes one)"),
    "sumatra_project": (None, "Sumatra records"),
    "sumatra_reason": ("", "Sumatra records"),
    "sumatra_label": (None, "Sumatra records"),
    "do_single_runs": (True, "environments that only post-process"),
    "config": (None, "configuration files read by the environment"),
}

#: Old keyword -> the keyword pypet 0.6 maps it to (with a DeprecationWarning).
RENAMED = {
    "continuable": "resumable",
    "continue_folder": "resume_folder",
    "delete_continue": "delete_resume",
    "freeze_pool_input": "freeze_input",
    "use_hdf5": "storage_service",
}

#: Old keywords pypet 0.6 drops (with a DeprecationWarning).
DROPPED = ("pandas_append",)


def _is_default(name, value, default):
    if name == "memory_cap" and isinstance(value, tuple):
        value = value[0]  # pypet's (cap, memory per process in MB)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) == default
    return value == default if default is not None else value is None


def take_pypet_options(kwargs):
    """Remove pypet-only keywords from ``kwargs``; return ``{new name: value}`` of the renamed ones.

    Raises
    ------
    NotImplementedError
        Naming a keyword whose value asks for a feature Rigbook lacks.
    """
    for name, (default, feature) in UNSUPPORTED.items():
        if name in kwargs:
            value = kwargs.pop(name)
            if not _is_default(name, value, default):
                raise NotImplementedError(
                    f"Environment({name}={value!r}) asks for {feature}, which Rigbook does not have; "
                    f"leave {name} at {default!r}")
    renamed = {}
    for old, new in RENAMED.items():
        if old in kwargs:
            warnings.warn(f"Environment keyword {old!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
            renamed[new] = kwargs.pop(old)
    for old in DROPPED:
        if old in kwargs:
            warnings.warn(f"Environment keyword {old!r} is deprecated and has no effect", DeprecationWarning,
                          stacklevel=3)
            kwargs.pop(old)
    if "storage_service" in renamed:
        renamed["storage_service"] = _service_of_use_hdf5(renamed["storage_service"])
    return renamed


def _service_of_use_hdf5(use_hdf5):
    if use_hdf5 is True:
        return None  # the default: an HDF5StorageService
    if use_hdf5 is False:
        from rigbook.trajectory.lazyservice import LazyStorageService

        return LazyStorageService
    return use_hdf5
