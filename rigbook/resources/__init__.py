"""Rigbook's package data: the application icon and the stylesheet.

Qt-free: this module only finds files. ``path(name)`` gives the file of a
resource; ``stylesheet()`` gives the text of the Qt stylesheet.
"""

import atexit
import contextlib
import importlib.resources
import pathlib

ICON = "rigbook.svg"
STYLESHEET = "rigbook.qss"

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
