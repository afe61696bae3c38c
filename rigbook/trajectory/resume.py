"""What an interrupted exploration needs to go on: its recipe and which runs are done.

An exploration that is ``resumable`` keeps a folder
``<resume_folder>/<trajectory name>/`` with two files, each replaced all at
once (temp file + ``os.replace``, see :mod:`rigbook.storage.atomic`), so a
crash, a SIGKILL or a power cut at any moment leaves either the previous or
the next version, never half of one:

- ``recipe.pkl``: the pickled trajectory as it was before the first run, the
  run function and its arguments, and the environment's settings, signed
  (:mod:`rigbook.trajectory.trust`) so only this user's own recipes unpickle.
- ``state.json``: the runs whose results are stored in the HDF5 file
  (``completed``, as ``[start, stop)`` ranges), the runs that failed with
  their error and traceback, and the total number of runs.

and one that is only ever appended to:

- ``runs.journal``: every completed run's new data as the storage service
  received it (length, CRC-32, signed pickle; a torn last record is ignored).

A run is written into ``completed`` only after its data is in the file and
in the journal (which is fsynced first), so a run listed there is never lost
and never run again; a run not listed there is run again by
:meth:`Environment.resume`. An HDF5 file left unreadable by a kill in the
middle of a write is rebuilt from the recipe and the journal.
"""

import json
import logging
import os
import pickle
import struct
import zlib
from pathlib import Path

from rigbook.storage.atomic import atomic_open
from rigbook.storage.ids import validate_id
from rigbook.trajectory import trust

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
RECIPE_FILE = "recipe.pkl"
STATE_FILE = "state.json"
JOURNAL_FILE = "runs.journal"
_RECORD_HEADER = struct.Struct("<QI")  # payload length, CRC-32 of the payload


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
    allow_pickle : bool
        Unpickle the recipe and journal even if this user's Rigbook did not
        sign them (a resume folder from before signatures, or from someone else).
    """

    def __init__(self, resume_folder, trajectory_name, allow_pickle=False):
        validate_id(trajectory_name, "trajectory name")
        self.allow_pickle = bool(allow_pickle)
        self.folder = Path(resume_folder) / trajectory_name
        self.trajectory_name = trajectory_name
        self.total = 0
        self.completed = set()
        self.failed = {}
        self._journal = None

    @property
    def recipe_path(self):
        """Where the pickled recipe lives."""
        return self.folder / RECIPE_FILE

    @property
    def journal_path(self):
        """Where the completed runs' data is appended."""
        return self.folder / JOURNAL_FILE

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
            data = trust.dumps(recipe)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(
                f"a resumable exploration must pickle its run function and arguments "
                f"(define the function at module level): {exc}"
            ) from exc
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.recipe_path, "wb") as f:
            f.write(data)

    def read_recipe(self, allow_pickle=None):
        """Unpickle the recipe written by :meth:`write_recipe`.

        Only a recipe this user's Rigbook signed is unpickled, unless
        ``allow_pickle`` (default: the state's own; unpickling runs code from the file).

        Raises
        ------
        UntrustedPickleError
            If the recipe is not signed by this user and ``allow_pickle`` is False.
        """
        if not self.recipe_path.is_file():
            raise FileNotFoundError(
                f"no exploration to resume for trajectory {self.trajectory_name!r}: {self.recipe_path} does not exist"
            )
        allow = self.allow_pickle if allow_pickle is None else allow_pickle
        return trust.loads(self.recipe_path.read_bytes(), str(self.recipe_path), allow)

    def start(self, total, completed=()):
        """Begin (or begin again) with ``total`` runs, of which ``completed`` are done.

        Starts a new, empty journal.
        """
        self.total = int(total)
        self.completed = set(int(i) for i in completed)
        self.failed = {}
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._journal = open(self.journal_path, "wb")
        self.checkpoint()

    def append_run(self, idx, data):
        """Append one run's data to the journal (flushed to the OS at once)."""
        body = trust.dumps((int(idx), data))
        if self._journal is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._journal = open(self.journal_path, "ab")
        self._journal.write(_RECORD_HEADER.pack(len(body), zlib.crc32(body)) + body)
        self._journal.flush()

    def read_journal(self, allow_pickle=None):
        """Run index -> data of every whole record in the journal (a torn tail is skipped).

        Records are unpickled only if this user's Rigbook signed them, unless
        ``allow_pickle`` (default: the state's own).
        """
        allow = self.allow_pickle if allow_pickle is None else allow_pickle
        runs = {}
        if not self.journal_path.is_file():
            return runs
        with open(self.journal_path, "rb") as f:
            while True:
                header = f.read(_RECORD_HEADER.size)
                if len(header) < _RECORD_HEADER.size:
                    break
                length, crc = _RECORD_HEADER.unpack(header)
                body = f.read(length)
                if len(body) < length or zlib.crc32(body) != crc:
                    logger.warning("Ignoring a torn record at the end of %s", self.journal_path)
                    break
                idx, data = trust.loads(body, f"{self.journal_path} (record {len(runs)})", allow)
                runs[idx] = data
        return runs

    def close(self):
        """Close the journal."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_journal"] = None
        return state

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
        """Replace ``state.json`` with the current state, atomically (journal on disk first)."""
        if self._journal is not None:
            self._journal.flush()
            os.fsync(self._journal.fileno())
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


def unreadable_reason(filename):
    """Why the HDF5 file cannot be read in full, or None if every dataset reads back.

    Reads every attribute and dataset with plain h5py: a writer killed half
    way through leaves files whose damage shows only when the damaged part
    is read.
    """
    import h5py

    if not os.path.exists(filename):
        return f"{filename} does not exist"
    try:
        with h5py.File(filename, "r") as f:
            def check(name, obj):
                dict(obj.attrs)
                if isinstance(obj, h5py.Dataset):
                    obj[...]

            dict(f.attrs)
            f.visititems(check)
    except Exception as exc:  # any failure to read means: rebuild
        return f"{type(exc).__name__}: {exc}"
    return None


def rebuild_from_journal(traj, service, state, reason):
    """Replace an unreadable HDF5 file with one rebuilt from the recipe and the journal.

    The damaged file is moved aside (``<name>.damaged-<n>``), never deleted.
    Completed runs whose data is in the journal are stored again; any other
    run is taken off the completed list so that it runs again.

    Parameters
    ----------
    traj : Trajectory
        The trajectory from the recipe (as it was before the first run).
    service : HDF5StorageService
        Its storage service, for the file to rebuild.
    state : ResumeState
        The loaded resume state; its completed runs may shrink.
    reason : str
        Why the file is being rebuilt (logged).

    Returns
    -------
    pathlib.Path or None
        Where the damaged file now is (None if there was no file).
    """
    from rigbook.trajectory import pypetconstants as pc

    filename = Path(service.filename)
    aside = None
    if filename.exists():
        n = 1
        while filename.with_name(f"{filename.name}.damaged-{n}").exists():
            n += 1
        aside = filename.with_name(f"{filename.name}.damaged-{n}")
        os.replace(filename, aside)
    logger.warning("Rebuilding %s from the resume journal (%s); the damaged file is kept as %s",
                   filename, reason, aside)
    journal = state.read_journal()
    # Everything in the recipe's trajectory goes into the new file, not only what is new since.
    traj.f_migrate(in_store=False)
    traj.f_store()
    service.store(pc.OPEN_FILE, None, trajectory_name=traj.v_name)
    try:
        for idx in sorted(state.completed):
            data = journal.get(idx)
            if data is None:
                state.completed.discard(idx)
                continue
            service.store(pc.SINGLE_RUN, data, trajectory_name=traj.v_name, store_data=pc.STORE_DATA,
                          store_final=True)
            if getattr(data, "run_information", None):
                traj._update_run_information(data.run_information)
    finally:
        service.store(pc.CLOSE_FILE, None)
    state.checkpoint()
    return aside


def runs_with_data(filename, trajectory_name):
    """Indices of the runs that have any result or derived parameter in the file.

    Reads the documented layout with plain h5py: every leaf of the runs lives
    in ``/<trajectory>/_run_data/<branch>/<leaf>/`` with the run indices of
    its rows in ``__meta__/run_idx``.
    """
    import h5py
    import numpy as np

    found = set()
    with h5py.File(filename, "r") as f:
        tgroup = f.get(trajectory_name)
        if tgroup is None:
            return found
        for branch in ("results", "derived_parameters"):
            base = tgroup.get(f"_run_data/{branch}")
            if base is None:
                continue
            for leaf in base.values():
                if "__meta__" in leaf and "run_idx" in leaf["__meta__"]:
                    found.update(np.unique(leaf["__meta__"]["run_idx"][...]).tolist())
    return found
