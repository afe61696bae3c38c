"""Where a session came from: software versions, machine, the user's code commit, files written.

Everything here only reads. Git is asked with ``git rev-parse`` and
``git --no-optional-locks status --porcelain`` (so not even the index's stat
cache is refreshed); Rigbook never commits or stages anything for the user.
"""

import datetime
import functools
import importlib.metadata
import logging
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

__all__ = [
    "DEPENDENCIES",
    "file_entry",
    "files_in",
    "git_state",
    "host_name",
    "now_with_timezone",
    "platform_info",
    "software_versions",
]

logger = logging.getLogger(__name__)

#: Distributions whose versions every metadata.json records.
DEPENDENCIES = (
    "rigbook",
    "numpy",
    "pandas",
    "h5py",
    "hdf5plugin",
    "pyarrow",
    "lightparam",
    "psygnal",
    "platformdirs",
    "PyQt5",
    "qtpy",
    "pyqtgraph",
)

GIT_TIMEOUT_S = 5.0


def now_with_timezone():
    """The current wall-clock time as an aware datetime in the local time zone."""
    return datetime.datetime.now(datetime.timezone.utc).astimezone()


@functools.lru_cache(maxsize=1)
def software_versions():
    """Versions of Python, Rigbook and its dependencies (``None`` for one not installed).

    Read from package metadata, so nothing is imported (in particular not Qt).
    """
    import rigbook

    versions = {"python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    versions["rigbook"] = rigbook.__version__
    return dict(versions)


@functools.lru_cache(maxsize=1)
def _platform_info():
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
    }


def platform_info():
    """Operating system, machine and Python implementation."""
    return dict(_platform_info())


def host_name():
    """The machine's host name."""
    return socket.gethostname()


def _git(folder, *args):
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return subprocess.run(
        ["git", "--no-optional-locks", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def git_state(path):
    """The git commit and dirty flag of the code at ``path``, read-only.

    Parameters
    ----------
    path : str or Path
        A file or folder of the user's experiment code.

    Returns
    -------
    dict or None
        ``{"path", "repository", "commit", "dirty", "branch"}``; ``None`` when
        ``path`` is not inside a git work tree (or git is not installed).
        ``commit`` is ``None`` in a repository without commits; ``dirty`` is
        true when ``git status`` lists anything (untracked files included).
        If git fails or times out, the dict carries ``"error"`` instead of
        guessing.
    """
    path = Path(path).resolve()
    folder = path if path.is_dir() else path.parent
    try:
        top = _git(folder, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        logger.info("git is not installed: no commit recorded for %s", path)
        return None
    except subprocess.TimeoutExpired:
        return {"path": str(path), "error": f"git did not answer within {GIT_TIMEOUT_S} s"}
    if top.returncode != 0:
        return None
    state = {"path": str(path), "repository": top.stdout.strip(), "commit": None, "dirty": None, "branch": None}
    try:
        head = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
        if head.returncode == 0:
            state["commit"] = head.stdout.strip()
        branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
        if branch.returncode == 0 and branch.stdout.strip() != "HEAD":
            state["branch"] = branch.stdout.strip()
        status = _git(folder, "status", "--porcelain", "--untracked-files=normal")
        if status.returncode == 0:
            state["dirty"] = bool(status.stdout.strip())
        else:
            state["error"] = status.stderr.strip() or f"git status exited with {status.returncode}"
    except subprocess.TimeoutExpired:
        state["error"] = f"git did not answer within {GIT_TIMEOUT_S} s"
    return state


def file_entry(path, relative_to):
    """``{"path": ..., "size": ...}`` for one written file.

    The path is relative to ``relative_to`` (with ``/`` separators) when the
    file lies inside it, absolute otherwise; ``size`` is ``None`` for a file
    that no longer exists.
    """
    path = Path(path)
    base = Path(relative_to)
    if not path.is_absolute():
        path = base / path
    try:
        shown = path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        shown = str(path.resolve())
    try:
        size = path.stat().st_size
    except OSError:
        logger.warning("recorded session file %s does not exist (any more)", path)
        size = None
    return {"path": shown, "size": size}


def files_in(folder, exclude=()):
    """Every file under ``folder`` as ``file_entry`` dicts, sorted by path.

    Names starting with a dot (Rigbook's own, such as ``.replaced/`` and temp
    files) are skipped, as are the relative paths in ``exclude``. Links are
    not followed out of the folder.
    """
    folder = Path(folder)
    exclude = set(exclude)
    entries = []
    if not folder.is_dir():
        return entries
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            full = Path(root) / name
            relative = full.relative_to(folder).as_posix()
            if relative in exclude or full.is_symlink():
                continue
            entries.append({"path": relative, "size": full.stat().st_size})
    return sorted(entries, key=lambda e: e["path"])
