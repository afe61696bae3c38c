"""Where an exploration ran: versions, platform, and the user's git commit (read only)."""

import hashlib
import logging
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path

import rigbook

logger = logging.getLogger(__name__)

_PACKAGES = ("numpy", "h5py", "pandas", "pyarrow", "tqdm", "distributed")


def versions():
    """Versions of Python, Rigbook and the packages an exploration depends on."""
    found = {"python": platform.python_version(), "rigbook": rigbook.__version__}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def platform_info():
    """Operating system, machine and host name."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
    }


def environment_identity(trajectory_name, timestamp=None):
    """A name and SHA-1 for one environment, unique per trajectory, time and process."""
    timestamp = time.time() if timestamp is None else timestamp
    name = "environment_" + time.strftime("%Y_%m_%d_%Hh%Mm%Ss", time.localtime(timestamp))
    seed = f"{trajectory_name}|{timestamp!r}|{rigbook.__version__}|{os.getpid()}|{uuid.uuid4().hex}"
    return name, hashlib.sha1(seed.encode("utf-8")).hexdigest()


def _git(repository, *args):
    # Optional locks off: even `git status` must not write the user's index.
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    completed = subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True,
                               timeout=10, env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip() or f"git {' '.join(args)} failed")
    return completed.stdout


def default_code_folder():
    """The folder of the script being run (``__main__``), or the working directory."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return Path(main_file).resolve().parent if main_file else Path.cwd()


def git_commit(repository=None):
    """The commit the user's code is at, read without changing anything.

    Never stages, commits or writes the index. Returns None when the folder
    is not in a git repository or git is not installed.

    Parameters
    ----------
    repository : str or Path, optional
        A folder inside the repository; the running script's folder by default.

    Returns
    -------
    dict or None
        ``hexsha``, ``short_hexsha``, ``message``, ``committed_date`` (unix
        time), ``dirty`` (uncommitted changes to tracked files) and
        ``repository`` (the top folder).
    """
    folder = Path(repository) if repository is not None else default_code_folder()
    try:
        top = _git(folder, "rev-parse", "--show-toplevel").strip()
        hexsha, committed, message = _git(folder, "log", "-1", "--format=%H%n%ct%n%s").split("\n", 2)
        dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        logger.debug("No git commit recorded for %s: %s", folder, exc)
        return None
    return {
        "hexsha": hexsha.strip(),
        "short_hexsha": hexsha.strip()[:7],
        "message": message.strip(),
        "committed_date": int(committed),
        "dirty": dirty,
        "repository": top,
    }
