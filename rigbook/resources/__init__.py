"""Rigbook's package data: the application icon, the stylesheet and the default rig settings.

Qt-free: this module only finds and reads files. ``path(name)`` gives the
file of a resource; ``stylesheet()`` gives the text of the Qt stylesheet;
``defaults()`` the settings a first start uses (before ``config.h5`` holds
the user's own).
"""

import atexit
import contextlib
import importlib.resources
import json
import pathlib

ICON = "rigbook.svg"
STYLESHEET = "rigbook.qss"
DEFAULTS = "defaults.json"

# What defaults.json must hold: section -> setting -> accepted types
_DEFAULT_TYPES = {
    "session": {"storage_root": str, "subject_id": str, "task_id": str, "formats": list},
    "plots": {"window_s": (int, float), "mode": str},
    "demo_rig": {"tracker_rate": (int, float), "camera_fps": (int, float)},
}

# Resources inside a zip are extracted once and removed at exit.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def path(name):
    """The file of the resource ``name`` (a bare file name such as ``"rigbook.svg"``).

    Raises ``ValueError`` naming ``name`` if it is not a bare file name (path
    separators and ``..`` are refused) or if there is no such resource.
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or ".." in name or name == ".":
        raise ValueError(f"resource name {name!r} must be a bare file name, without path separators or '..'")
    resource = importlib.resources.files(__name__).joinpath(name)
    if not resource.is_file():
        raise ValueError(f"no resource {name!r} in rigbook.resources")
    if isinstance(resource, pathlib.Path):
        return resource
    return _extracted.enter_context(importlib.resources.as_file(resource))


def stylesheet():
    """The text of Rigbook's Qt stylesheet."""
    return path(STYLESHEET).read_text(encoding="utf-8")


def defaults():
    """The default rig settings: ``{section: {setting: value}}``, a fresh copy at each call.

    Sections: ``session`` (storage root, subject and task IDs, export
    formats), ``plots`` (window in seconds, lane mode) and ``demo_rig``
    (tracker rate, camera frame rate). Raises ``ValueError`` naming the
    setting if the file misses one or gives it the wrong type.
    """
    try:
        settings = json.loads(path(DEFAULTS).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{DEFAULTS} is not valid JSON: {error}") from None
    for section, types in _DEFAULT_TYPES.items():
        values = settings.get(section) if isinstance(settings, dict) else None
        if not isinstance(values, dict):
            raise ValueError(f"{DEFAULTS}: {section} must be an object of settings, got {values!r}")
        for name, kind in types.items():
            value = values.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{DEFAULTS}: {section}.{name} must be {_type_names(kind)}, got {value!r}")
    return settings


def _type_names(kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)
