"""What an interrupted exploration needs to go on: its recipe and which runs are done.

An exploration that is ``resumable`` keeps a folder
``<resume_folder>/<trajectory name>/`` with two files, each replaced all at
once (temp file + ``os.replace``, see :mod:`rigbook.storage.atomic`), so a
crash, a SIGKILL or a power cut at any moment leaves either the previous or
the next version, never half of one:

- ``recipe.pkl``: the pickled trajectory as it was before the first run, the
  run function and its arguments, and the environment's settings.
- ``state.json``: the runs whose results are stored in the HDF5 file
  (``completed``, as ``[start, stop)`` ranges), the runs that failed with
  their error and traceback, and the total number of runs.

A run is written into ``completed`` only after its data is in the file, so a
run listed there is never lost and never run again; a run not listed there is
run again by :meth:`Environment.resume`.
"""

import json
import logging
import pickle
from pathlib import Path

from rigbook.storage.atomic import atomic_open
from rigbook.storage.ids import validate_id

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
RECIPE_FILE = "recipe.pkl"
STATE_FILE = "state.json"


def to_ranges(indices):
    """Sorted ``[start, stop)`` ranges covering the given integers."""
    ranges = []
    for idx in sorted(set(int(i) for i in indices)):
        if ranges and ranges[-1][1] == idx:
            ranges[-1][1] = idx + 1
        else:
            ranges.append([idx, idx + 1])
    return ranges


def from_ranges(ranges):
    """The set of integers in ``[start, stop)`` ranges."""
    indices = set()
    for start, stop in ranges:
        indices.update(range(int(start), int(stop)))
    return indices


class ResumeState:
    """The resume folder of one trajectory.

    Parameters
    ----------
    resume_folder : str or Path
        The parent folder (created if needed).
    trajectory_name : str
        The trajectory's name; its state lives in a sub-folder of that name.
    """

    def __init__(self, resume_folder, trajectory_name):
        validate_id(trajectory_name, "trajectory name")
        self.folder = Path(resume_folder) / trajectory_name
        self.trajectory_name = trajectory_name
        self.total = 0
        self.completed = set()
        self.failed = {}
        #: True once loaded from disk: runs done now may have stored part of their data before.
        self.attempted = False

    @property
    def recipe_path(self):
        """Where the pickled recipe lives."""
        return self.folder / RECIPE_FILE

    @property
    def state_path(self):
        """Where the list of completed runs lives."""
        return self.folder / STATE_FILE

    def exists(self):
        """Whether an earlier exploration left a recipe here."""
        return self.recipe_path.is_file()

    def write_recipe(self, recipe):
        """Pickle ``recipe`` (atomically); a TypeError names what cannot be pickled."""
        try:
            data = pickle.dumps(recipe, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(
                f"a resumable exploration must pickle its run function and arguments "
                f"(define the function at module level): {exc}"
            ) from exc
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.recipe_path, "wb") as f:
            f.write(data)

    def read_recipe(self):
        """Unpickle the recipe written by :meth:`write_recipe`.

        This runs code from the pickle: only resume folders you wrote yourself.
        """
        if not self.recipe_path.is_file():
            raise FileNotFoundError(
                f"no exploration to resume for trajectory {self.trajectory_name!r}: {self.recipe_path} does not exist"
            )
        with open(self.recipe_path, "rb") as f:
            return pickle.load(f)

    def start(self, total, completed=()):
        """Begin (or begin again) with ``total`` runs, of which ``completed`` are done."""
        self.total = int(total)
        self.completed = set(int(i) for i in completed)
        self.failed = {}
        self.checkpoint()

    def load(self):
        """Read ``state.json``; returns ``self``."""
        if not self.state_path.is_file():
            raise FileNotFoundError(f"no resume state for trajectory {self.trajectory_name!r} at {self.state_path}")
        with open(self.state_path) as f:
            state = json.load(f)
        if state.get("rigbook_resume_format") != STATE_FORMAT:
            raise ValueError(f"{self.state_path} is not a resume state this version of Rigbook understands")
        self.total = int(state["total"])
        self.completed = from_ranges(state["completed"])
        self.failed = {int(k): v for k, v in state["failed"].items()}
        self.attempted = True
        return self

    def missing(self):
        """Indices of every run not completed yet, in order."""
        return [idx for idx in range(self.total) if idx not in self.completed]

    def mark_completed(self, idx):
        """Record run ``idx`` as stored (call :meth:`checkpoint` to persist)."""
        self.completed.add(int(idx))
        self.failed.pop(int(idx), None)

    def mark_failed(self, idx, error, traceback_text):
        """Record run ``idx`` as failed with its error and traceback."""
        self.failed[int(idx)] = {"error": error, "traceback": traceback_text}

    def checkpoint(self):
        """Replace ``state.json`` with the current state, atomically."""
        state = {
            "rigbook_resume_format": STATE_FORMAT,
            "trajectory": self.trajectory_name,
            "total": self.total,
            "completed": to_ranges(self.completed),
            "failed": {str(k): v for k, v in sorted(self.failed.items())},
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.state_path, "w", encoding="utf-8") as f:
            json.dump(state, f)
