"""Task IDs: the next free one, so that a new recording never fails on an existing folder."""

import re
from pathlib import Path

from rigbook.storage import validate_id


def next_task_id(task_id):
    """``session-1`` -> ``session-2``; an ID without a trailing number gets ``-2``."""
    match = re.fullmatch(r"(.*?)(\d+)", task_id)
    if match:
        digits = match.group(2)
        return f"{match.group(1)}{int(digits) + 1:0{len(digits)}d}"
    return f"{task_id}-2"


def task_exists(root, subject_id, task_id):
    return (Path(root) / subject_id / task_id).exists()


def next_free_task_id(root, subject_id, task_id):
    """``task_id`` if ``<root>/<subject_id>/<task_id>`` is free, else the next free one after it.

    ``session-3`` taken -> ``session-4`` (or later); ``free-swim`` taken -> ``free-swim-2``.
    """
    validate_id(task_id, "task ID")
    candidate = task_id
    while task_exists(root, subject_id, candidate):
        candidate = next_task_id(candidate)
    return validate_id(candidate, "task ID")
