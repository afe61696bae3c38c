"""The storage root: subjects, their tasks, and where replaced tasks go."""

import logging
import os
from datetime import datetime, timezone
from pathlib import Path

from rigbook.storage.ids import validate_id
from rigbook.storage.task import TaskReader, TaskWriter, open_task_writer
from rigbook.storage.zip_export import storage_to_zip

logger = logging.getLogger(__name__)

#: Folder of the root where overwritten tasks are moved.
REPLACED_FOLDER = ".replaced"


def makedirs(path, exist_ok=False):
    """Create a folder and its missing parents.

    Raises
    ------
    FileExistsError
        If the folder exists and ``exist_ok`` is False.
    """
    os.makedirs(path, exist_ok=exist_ok)


def _visible_folders(folder):
    if folder is None or not folder.is_dir():
        return
    yield from sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


class Storage:
    """The top of a data storage tree: ``<root>/<subject_id>/<task_id>/``.

    Parameters
    ----------
    root : str or Path
        The storage root, created if missing.
    allow_overwrite : bool
        Whether :meth:`create_task` may replace a task that exists. The old
        task is then moved into ``<root>/.replaced/``, never deleted.
    """

    def __init__(self, root="data", allow_overwrite=False):
        self.root = Path(root)
        self.allow_overwrite = bool(allow_overwrite)
        makedirs(self.root, exist_ok=True)
        self._subject_id = None

    @property
    def subject_id(self):
        """The current subject ID; setting a new one creates its folder."""
        return self._subject_id

    @subject_id.setter
    def subject_id(self, value):
        validate_id(value, "subject ID")
        (self.root / value).mkdir(exist_ok=True)
        self._subject_id = value

    @property
    def subject_ids(self):
        """Yield the subject IDs found in storage, in sorted order."""
        return _visible_folders(self.root)

    @property
    def task_ids(self):
        """Yield the task IDs of the current subject, sorted (nothing if no subject is set)."""
        folder = None if self._subject_id is None else self.root / self._subject_id
        return _visible_folders(folder)

    def _require_subject(self):
        if self._subject_id is None:
            raise ValueError("no subject set: set Storage.subject_id first")
        return self.root / self._subject_id

    def create_task(self, task_id):
        """Create a task for the current subject and return its :class:`TaskWriter`.

        Raises
        ------
        ValueError
            If ``task_id`` is invalid, no subject is set, or the task exists
            and ``allow_overwrite`` is False.
        """
        validate_id(task_id, "task ID")
        folder = self._require_subject() / task_id
        if folder.exists():
            if not self.allow_overwrite:
                raise ValueError(
                    f"task {task_id!r} already exists for subject {self._subject_id!r} in "
                    f"{self.root}; use Storage(..., allow_overwrite=True) to replace it "
                    f"(the old one is moved into {REPLACED_FOLDER}/)"
                )
            self._move_aside(folder)
        return TaskWriter(folder)

    def _move_aside(self, folder):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        parent = self.root / REPLACED_FOLDER / self._subject_id
        parent.mkdir(parents=True, exist_ok=True)
        destination = parent / f"{folder.name}-{stamp}"
        n = 1
        while destination.exists():
            destination = parent / f"{folder.name}-{stamp}-{n}"
            n += 1
        writer = open_task_writer(folder)
        os.replace(folder, destination)
        if writer is not None:
            # Its files moved with the folder; it must not touch the new task's.
            writer.relocate(destination)
        logger.warning("task %s replaced; the old one was moved to %s", folder, destination)

    def require_task(self, task_id):
        """Return a :class:`TaskReader` for an existing task of the current subject.

        Raises
        ------
        ValueError
            If ``task_id`` is invalid, no subject is set, or the subject has
            no such task (the message names both).
        """
        validate_id(task_id, "task ID")
        folder = self._require_subject() / task_id
        if not folder.is_dir():
            raise ValueError(
                f"subject {self._subject_id!r} has no task {task_id!r} in {self.root}"
            )
        return TaskReader(folder)

    def to_zip(self, outfile=None, overwrite=False):
        """Archive the whole storage tree; see :func:`storage_to_zip`.

        Returns
        -------
        str
            The archive's path.
        """
        return storage_to_zip(self.root, outfile, overwrite=overwrite)

    def __repr__(self):
        return f"Storage({str(self.root)!r}, subject_id={self._subject_id!r})"
