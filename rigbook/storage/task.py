"""One task session on disk: writing it while it runs, reading it afterwards."""

import logging
import pickle as _pickle
import weakref
from pathlib import Path

import numpy as np

from rigbook.storage.arrays import (
    ArrayFileWriter,
    as_dataset,
    describe_array,
    hdf5_path,
    is_trial_array_file,
    iter_trial_arrays,
    journal_path,
    read_labels,
    read_sidecar,
    recover_array,
    write_sidecar,
)
from rigbook.storage.atomic import atomic_open
from rigbook.storage.ids import validate_id
from rigbook.storage.streams import SUFFIX as STREAM_SUFFIX
from rigbook.storage.streams import StreamWriter, read_stream
from rigbook.storage.trial import Array
from rigbook.storage.trials import TrialWriter, complete_prefix, read_trials

logger = logging.getLogger(__name__)

TRIALS_FILE = "trials.csv"
STREAMS_FOLDER = "streams"

#: Open task writers by folder, so that moving a folder aside can tell its writer.
_OPEN_TASKS = weakref.WeakValueDictionary()


def _folder_key(folder):
    return str(Path(folder).resolve())


def open_task_writer(folder):
    """The TaskWriter of this process still writing into ``folder``, or None."""
    return _OPEN_TASKS.get(_folder_key(folder))


class TaskWriter:
    """The interface for storing one task's data while it runs.

    Usually obtained from :meth:`Storage.create_task`.

    Parameters
    ----------
    root : str or Path
        The task folder (e.g. ``data/subject_1/taskname``); created if
        missing. It must not already hold trials.

    Attributes
    ----------
    trials : TrialWriter
        Writes ``trials.csv``.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.trials = TrialWriter(self.root / TRIALS_FILE)
        self._arrays = {}
        self._labels = read_sidecar(self.root)
        self._streams = []
        self._closed = False
        self._key = _folder_key(self.root)
        _OPEN_TASKS[self._key] = self
        # Closes the files when the writer is dropped or the interpreter exits,
        # holding the files rather than the writer so that it can be dropped.
        self._finalizer = weakref.finalize(
            self, _close_files, self.root, self._arrays, self._streams, self.trials
        )

    def write(self, trial):
        """Write a trial: its attributes as one row, each array as one dataset.

        Every array of the trial is stored (one that was never stacked as an
        empty array), then the row is appended; the row is what makes the
        trial count, so a trial cut short by a crash or an error is not
        half-listed. The trial's arrays are cleared afterwards.

        Parameters
        ----------
        trial : Trial
            The trial; its ``arrays`` values may be :class:`Array` objects or
            plain arrays.

        Raises
        ------
        TypeError, ValueError
            An attribute or array that cannot be stored; nothing is written.
        OSError
            The disk refused a write (full...); earlier trials stay intact
            and the same trial may be written again.
        """
        self._check_open()
        row = self.trials.prepare(trial.attrs)
        datasets = {}
        new_labels = {}
        for name, array in trial.arrays.items():
            data = array.data if isinstance(array, Array) else array
            datasets[name] = as_dataset(name, data)
            if name not in self._arrays:
                validate_id(name, "array name")
                labels = {}
                if isinstance(array, Array):
                    labels = {"stack_axis": array.stack_axis, **array.labels}
                new_labels[name] = describe_array(name, labels, datasets[name])
        for name, labels in new_labels.items():
            self._arrays[name] = ArrayFileWriter(self.root, name, labels)
        if new_labels:
            # Listed only once its file exists (and refused nothing, like a stream export's name).
            self._labels.update(new_labels)
            write_sidecar(self.root, self._labels)
        index = len(self.trials)
        for name, data in datasets.items():
            self._arrays[name].write(index, data)
        self.trials.commit(row)
        for array in trial.arrays.values():
            if isinstance(array, Array):
                array.clear()

    def relocate(self, root):
        """Follow this task's folder after it was moved to ``root`` (see Storage.allow_overwrite).

        Every file stays open; from now on the writer names (and deletes,
        like a finished array's journal) files under ``root`` only.
        """
        self.root = Path(root)
        self.trials.filepath = self.root / TRIALS_FILE
        for writer in self._arrays.values():
            writer.relocate(self.root)
        for stream in self._streams:
            stream.path = self.root / STREAMS_FOLDER / stream.path.name
        _OPEN_TASKS.pop(self._key, None)
        self._key = _folder_key(self.root)
        _OPEN_TASKS[self._key] = self

    def stream(self, name, schema=None, metadata=None):
        """Open the stream log ``streams/<name>.arrows`` of this task.

        ``schema`` and ``metadata`` (a :class:`StreamInfo`) go to
        :class:`StreamWriter`.

        Returns
        -------
        StreamWriter
            Closed together with the task.
        """
        validate_id(name, "stream name")
        writer = StreamWriter(
            self.root / STREAMS_FOLDER / f"{name}{STREAM_SUFFIX}", schema, metadata=metadata
        )
        self._streams.append(writer)
        return writer

    def pickle(self, obj, name, overwrite=False):
        """Write a generic object to ``<name>.pkl``.

        Pickles are convenient but neither portable over the long term nor
        safe to load from untrusted sources; prefer trials, arrays and
        streams for data.

        Parameters
        ----------
        obj : object
            The object to pickle.
        name : str
            Name of the pickle (no extension); a valid ID.
        overwrite : bool
            Replace an existing pickle of that name (atomically).
        """
        validate_id(name, "pickle name")
        path = self.root / f"{name}.pkl"
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
        with atomic_open(path, "wb") as f:
            _pickle.dump(obj, f, protocol=_pickle.HIGHEST_PROTOCOL)

    def close(self):
        """Finish the task's files (idempotent); done at interpreter exit otherwise."""
        if self._closed:
            return
        self._closed = True
        if _OPEN_TASKS.get(self._key) is self:
            del _OPEN_TASKS[self._key]
        self._finalizer()

    def _check_open(self):
        if self._closed:
            raise ValueError(f"task {self.root} is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"TaskWriter({str(self.root)!r}, {len(self.trials)} trials)"


def _close_files(root, arrays, streams, trials):
    errors = []
    for closer in [w.close for w in arrays.values()] + [s.close for s in streams] + [trials.close]:
        try:
            closer()
        except Exception as error:  # noqa: BLE001 - close the rest, then raise the first
            logger.error("closing a file of task %s failed: %s", root, error)
            errors.append(error)
    if errors:
        raise errors[0]


class TaskReader:
    """Read a task's trials, arrays, streams and pickles.

    Parameters
    ----------
    root : str or Path
        The task folder, holding ``trials.csv`` and ``<array>.hdf5`` files.

    Notes
    -----
    Reading never modifies the folder. A task whose writer was killed
    reads back every trial completed before the kill; :meth:`recover`
    then rebuilds its HDF5 files so that other tools can open them.
    """

    def __init__(self, root):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no task folder {self.root}")

    @property
    def trials(self):
        """pandas.DataFrame: one row per trial, with the types written."""
        return read_trials(self.root / TRIALS_FILE)

    @property
    def array_names(self):
        """Names of the trial arrays of this task, sorted.

        An array is known by Rigbook's marker (the task's ``.arrays.json``,
        the ``rigbook_trial_array`` attribute of ``<name>.hdf5``, or its
        journal), never by the ``.hdf5`` suffix alone: stream exports such
        as ``tracker.hdf5`` are not arrays.
        """
        names = set(read_sidecar(self.root))
        names |= {p.name[1 : -len(".journal")] for p in self.root.glob(".*.journal")}
        names |= {
            p.stem for p in self.root.glob("*.hdf5")
            if not p.name.startswith(".") and p.stem not in names and is_trial_array_file(p)
        }
        return sorted(names)

    @property
    def journal_only_arrays(self):
        """Arrays whose journal is still there (writer running or killed), sorted.

        Their ``<name>.hdf5`` may lack trials (or not open at all) until
        :meth:`recover` rebuilds it; this reader reads the journal.
        """
        return sorted(p.name[1 : -len(".journal")] for p in self.root.glob(".*.journal"))

    @property
    def stream_names(self):
        """Names of the stream logs of this task, sorted."""
        folder = self.root / STREAMS_FOLDER
        return sorted(
            p.name[: -len(STREAM_SUFFIX)]
            for p in folder.glob(f"*{STREAM_SUFFIX}")
            if not p.name.startswith(".")
        )

    def _n_trials(self):
        return len(read_trials(self.root / TRIALS_FILE))

    def iterarray(self, name):
        """Yield array ``name`` of each trial in order.

        Trials that did not record this array yield None.
        """
        self._check_array(name)
        yield from iter_trial_arrays(self.root, name, self._n_trials())

    def _check_array(self, name):
        validate_id(name, "array name")
        if name not in self.array_names:
            raise ValueError(
                f"task {self.root} has no trial array {name!r}; its arrays are: "
                f"{', '.join(self.array_names) or 'none'}"
            )

    def array_labels(self, name):
        """The labels of array ``name``: ``fields``, ``field_axis``, ``time_field``, ``units``...

        Returns
        -------
        dict
            Only the labels given when it was recorded (``{}`` for none);
            ``field_axis`` is the axis of one trial's array that ``fields``
            label (add 1 for the result of :meth:`array`).
        """
        self._check_array(name)
        labels = read_sidecar(self.root).get(name)
        if labels is None and hdf5_path(self.root, name).exists():
            labels = read_labels(hdf5_path(self.root, name))
        return dict(labels or {})

    def array_shapes(self, name):
        """The shape of array ``name`` in each trial (None where a trial lacks it)."""
        self._check_array(name)
        return [None if a is None else a.shape for a in iter_trial_arrays(self.root, name, self._n_trials())]

    def array(self, name):
        """Array ``name`` of all trials, stacked along a new first (trial) axis.

        When every trial holds an array of the same shape, the result has
        the arrays' dtype. Otherwise (trials of different lengths, or
        trials without the array) each trial is padded at the end of every
        axis to the largest shape with NaN, in a float64 array (ints up to
        2**53 stay exact); :meth:`array_shapes` gives each trial's own
        shape, and :meth:`iterarray` the arrays unpadded.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_trials, ...)``; ``(0,)`` if no trial has the array.
        """
        self._check_array(name)
        n_trials = self._n_trials()
        stacked = None  # filled in place while every trial has the first one's shape
        arrays = None  # every trial's array, once they differ
        for index, array in enumerate(iter_trial_arrays(self.root, name, n_trials)):
            if arrays is None and stacked is None and array is not None and index == 0:
                stacked = np.empty((n_trials,) + array.shape, dtype=array.dtype)
            if arrays is None and (array is None or stacked is None or array.shape != stacked.shape[1:]):
                arrays = [] if stacked is None else list(stacked[:index])
                stacked = None
            if arrays is not None:
                arrays.append(array)
                continue
            if array.dtype != stacked.dtype:
                stacked = stacked.astype(np.result_type(stacked.dtype, array.dtype))
            stacked[index] = array
        if stacked is not None:
            return stacked
        present = [a for a in arrays or [] if a is not None]
        if not present:
            return np.empty((0,))
        ndims = {a.ndim for a in present}
        if len(ndims) > 1:
            raise ValueError(
                f"array {name!r} has trials with {sorted(ndims)} dimensions; "
                f"read it trial by trial with TaskReader.iterarray({name!r})"
            )
        full = tuple(max(sizes) for sizes in zip(*(a.shape for a in present)))
        logger.info("array %r: trials differ in shape; padding to %s with NaN", name, full)
        padded = np.full((len(arrays),) + full, np.nan)
        for index, array in enumerate(arrays):
            if array is not None:
                padded[(index,) + tuple(slice(0, n) for n in array.shape)] = array
        return padded

    def stream(self, name):
        """The stream log ``streams/<name>.arrows`` as a ``pyarrow.Table``."""
        validate_id(name, "stream name")
        return read_stream(self.root / STREAMS_FOLDER / f"{name}{STREAM_SUFFIX}")

    def pickle(self, name):
        """Load the pickled object ``<name>.pkl``.

        Warning: loading a pickle runs code chosen by whoever wrote the
        file. Only load pickles you trust. This is the only place Rigbook
        unpickles anything; listing, reading and exporting a task never do.
        """
        validate_id(name, "pickle name")
        path = self.root / f"{name}.pkl"
        if not path.exists():
            raise FileNotFoundError(f"no pickle {name!r} in {self.root} ({path} does not exist)")
        with open(path, "rb") as f:
            return _pickle.load(f)

    def recover(self):
        """Rebuild the HDF5 files of a task whose writer was killed.

        A torn last row of ``trials.csv`` is dropped, and each
        ``<array>.hdf5`` is rewritten from its journal (temp file +
        ``os.replace``) with every trial listed in ``trials.csv``. Never
        call it while a writer is still running on the task.

        Returns
        -------
        list of str
            The arrays rebuilt.
        """
        csv_path = self.root / TRIALS_FILE
        if csv_path.exists():
            raw = csv_path.read_bytes()
            complete = complete_prefix(raw)
            if complete != raw:
                logger.info("dropping a torn last row of %s", csv_path)
                with atomic_open(csv_path, "wb") as f:
                    f.write(complete)
        n_trials = self._n_trials()
        rebuilt = []
        for name in self.array_names:
            if journal_path(self.root, name).exists():
                recover_array(self.root, name, n_trials)
                rebuilt.append(name)
        return rebuilt

    def __repr__(self):
        return f"TaskReader({str(self.root)!r})"

