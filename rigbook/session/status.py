"""A session's status in its metadata.json: recording, complete, interrupted, recovered.

metadata.json is written when a recording starts (status ``"recording"``,
with everything known then) and atomically replaced at the end. A session
whose status is still ``"recording"`` and whose process is gone was killed:
it is *unfinished*, and ``rigbook finish`` completes it.
"""

import json
import logging
import os
import socket
from pathlib import Path

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"

RECORDING = "recording"
COMPLETE = "complete"
INTERRUPTED = "interrupted"
RECOVERED = "recovered"
STATUSES = (RECORDING, COMPLETE, INTERRUPTED, RECOVERED)


def this_process():
    """What metadata.json records to tell later whether the recording process is alive."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def read_metadata(folder):
    """The metadata.json of a task folder as a dict, or None when there is none.

    Raises
    ------
    ValueError
        The file is not JSON or not an object (the message names it).
    """
    path = Path(folder) / METADATA_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def status_of(metadata):
    general = metadata.get("general") if isinstance(metadata, dict) else None
    return general.get("status") if isinstance(general, dict) else None


def _process_alive(process):
    if not isinstance(process, dict):
        return False
    if process.get("host") != socket.gethostname():
        return False  # recorded on another machine: it cannot be running here
    pid = process.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return False  # (no portable liveness check without psutil; finishing twice is harmless)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_unfinished(folder):
    """True when the task folder's recording was killed: status ``"recording"`` and its process gone."""
    try:
        metadata = read_metadata(folder)
    except (OSError, ValueError):
        return False
    if metadata is None or status_of(metadata) != RECORDING:
        return False
    return not _process_alive(metadata["general"].get("process"))


def unfinished_sessions(root):
    """Task folders under a storage root (``<root>/<subject>/<task>``) whose recording was killed."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for subject in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for task in sorted(p for p in subject.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if is_unfinished(task):
                found.append(task)
    return found
