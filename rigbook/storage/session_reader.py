"""``rigbook.open_session(path)``: one recorded task folder, ready for pandas.

Everything is read from the files on disk, nothing is written: a session
whose process was killed (``metadata.json`` still saying ``"recording"``, or
missing; stream logs with a torn end; arrays only in their journals) opens
as well as a complete one, and says so.

- ``session.streams[name]``: the stream as a pandas DataFrame. After a
  schema change a stream continues in ``streams/<name>_2.arrows``
  (``_3``...); its parts are joined into ONE table, in order, with the union
  of their columns (a column missing from a part is NaN there) and a
  ``part`` column (1, 2...) only when there is more than one part.
  ``session.stream(name, wall_clock=True)`` adds a ``wall_clock`` column
  (time-zone-aware timestamps, ``t0_wall_clock + t``).
- ``session.trials``: ``trials.csv`` with its types.
- ``session.arrays[name]``: a :class:`TrialArray` (data stacked over trials,
  NaN-padded when trials differ in length, with its labels).
- ``session.metadata``, ``session.units`` (stream -> field -> unit),
  ``session.t0_wall_clock``, ``session.status``, ``session.problems``.
- :meth:`Session.summary`: a JSON-able dict (what ``rigbook inspect --json``
  prints).
"""

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rigbook.storage.stream_info import StreamInfo, t0_from_metadata
from rigbook.storage.streams import SUFFIX as STREAM_SUFFIX
from rigbook.storage.streams import read_stream
from rigbook.storage.task import STREAMS_FOLDER, TRIALS_FILE, TaskReader
from rigbook.storage.tables import FORMATS
from rigbook.storage.trials import read_trials

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
_PART = re.compile(r"^(?P<base>.+)_(?P<n>[0-9]+)$")


@dataclass
class Problem:
    """A file that could not be read, and why."""

    file: str
    reason: str

    def __str__(self):
        return f"{self.file}: {self.reason}"


@dataclass
class TrialArray:
    """A trial array stacked over trials, with its labels.

    Attributes
    ----------
    name : str
    data : numpy.ndarray
        Shape ``(n_trials, ...)``; NaN-padded when trials differ in shape
        (see ``shapes``).
    shapes : list of tuple or None
        Each trial's own shape (None for a trial without the array).
    fields : list of str or None
        What each row is, along axis ``field_axis`` of ``data``.
    field_axis : int or None
        The axis of ``data`` that ``fields`` label.
    time_field : str or None
        The field holding time (seconds from ``t = 0``).
    units : dict
        Field -> unit.
    """

    name: str
    data: np.ndarray
    shapes: list
    fields: list = None
    field_axis: int = None
    time_field: str = None
    units: dict = field(default_factory=dict)
    description: str = None

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def field(self, name):
        """The rows of field ``name`` for every trial (shape ``(n_trials, n_samples)``)."""
        if not self.fields or name not in self.fields:
            raise KeyError(f"array {self.name!r} has no field {name!r}; its fields are {self.fields}")
        return np.take(self.data, self.fields.index(name), axis=self.field_axis)


class _LazyMapping(Mapping):
    """name -> value, each read on first access and kept."""

    def __init__(self, names, load):
        self._names = list(names)
        self._load = load
        self._cache = {}

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(f"{name!r}; there are: {', '.join(self._names) or 'none'}")
        if name not in self._cache:
            self._cache[name] = self._load(name)
        return self._cache[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return f"{{{', '.join(repr(n) + ': ...' for n in self._names)}}}"


def stream_parts(task_folder, metadata=None):
    """Stream name -> its log files in order (``x.arrows``, ``x_2.arrows``...).

    The recorder's own list, in ``metadata.json`` (``files`` of each stream
    entry), is taken first: it knows which files belong to which stream,
    even for a stream whose name ends in ``_2``. Logs it does not list (a
    killed session's metadata.json lists none) are found by their names.
    """
    folder = Path(task_folder) / STREAMS_FOLDER
    if not folder.is_dir():
        return {}
    parts = {}
    listed = set()
    for name, (_, entry) in stream_entries(metadata).items():
        files = entry.get("files") if isinstance(entry, dict) else None
        if not isinstance(files, list):
            continue
        paths = [Path(task_folder) / f for f in files if isinstance(f, str) and (Path(task_folder) / f).is_file()]
        if paths:
            parts[name] = paths
            listed.update(p.name for p in paths)
    stems = sorted(
        p.name[: -len(STREAM_SUFFIX)] for p in folder.glob(f"*{STREAM_SUFFIX}")
        if not p.name.startswith(".") and p.name not in listed
    )
    found = {}
    for stem in stems:
        match = _PART.match(stem)
        if match and int(match["n"]) >= 2 and match["base"] in stems:
            found.setdefault(match["base"], []).append((int(match["n"]), stem))
        else:
            found.setdefault(stem, []).append((1, stem))
    for name, entries in found.items():
        parts.setdefault(name, []).extend(folder / f"{stem}{STREAM_SUFFIX}" for _, stem in sorted(entries))
    return dict(sorted(parts.items()))


def stream_entries(metadata):
    """Stream name -> (category, its ``metadata.json`` entry) for every stream the metadata lists."""
    entries = {}
    if not isinstance(metadata, dict):
        return entries
    for category, content in metadata.items():
        streams = content.get("streams") if isinstance(content, dict) else None
        if isinstance(streams, dict):
            for name, entry in streams.items():
                if isinstance(entry, dict):
                    entries[name] = (category, entry)
    return entries


class Session:
    """A recorded task folder; see :func:`open_session` and the module notes.

    Attributes
    ----------
    path : Path
    metadata : dict
        ``metadata.json`` (``{}`` when missing or unreadable: see ``problems``).
    problems : list of Problem
        Files that could not be read so far (reading more can add some).
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"no session folder {self.path}")
        self.problems = []
        self.metadata = self._read_metadata()
        self._reader = TaskReader(self.path)
        self._parts = stream_parts(self.path, self.metadata)
        self._tables = {}
        self.streams = _LazyMapping(self._parts, self._stream_frame)
        self.arrays = _LazyMapping(self._array_names(), self._array)

    # -- metadata ---------------------------------------------------------

    def _read_metadata(self):
        path = self.path / METADATA_FILE
        if not path.exists():
            return {}
        try:
            with open(path, encoding="utf-8") as f:
                document = json.load(f)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            self._problem(path, f"not readable as JSON ({error})")
            return {}
        if not isinstance(document, dict):
            self._problem(path, f"holds a {type(document).__name__}, not a JSON object")
            return {}
        bad = [k for k in ("general", "animal", "stimulus") if k in document and not isinstance(document[k], dict)]
        if bad:
            self._problem(path, f"{', '.join(bad)} should be JSON objects")
            return {k: v for k, v in document.items() if k not in bad}
        return document

    def _problem(self, path, reason):
        problem = Problem(str(Path(path).relative_to(self.path) if Path(path).is_relative_to(self.path) else path),
                          reason)
        if problem not in self.problems:
            logger.warning("%s: %s", Path(path), reason)
            self.problems.append(problem)

    @property
    def general(self):
        return self.metadata.get("general", {})

    @property
    def status(self):
        """``"complete"``, ``"interrupted"``, ``"recovered"``, ``"recording"`` (unfinished, or
        still running) or ``"unknown"`` (no metadata.json: the session never got far, or was
        written by something else)."""
        status = self.general.get("status")
        if isinstance(status, str):
            return status
        if not self.metadata:
            return "unknown"
        return "complete" if self.general.get("end_time") else "recording"

    @property
    def t0_wall_clock(self):
        """The wall-clock time of ``t = 0`` (ISO 8601 with time zone), or None if no file says it."""
        for name in self._parts:
            info = self._stream_info(name)
            if info is not None and info.t0_wall_clock:
                return info.t0_wall_clock
        try:
            return t0_from_metadata(self.metadata)
        except ValueError as error:
            self._problem(self.path / METADATA_FILE, str(error))
            return None

    # -- streams ----------------------------------------------------------

    def _table(self, name):
        if name not in self._tables:
            import pyarrow as pa

            tables = []
            for path in self._parts[name]:
                try:
                    tables.append(read_stream(path))
                except (OSError, ValueError) as error:
                    self._problem(path, str(error))
                    raise ValueError(f"stream {name!r}: {path} is unreadable ({error})") from error
            if len(tables) == 1:
                self._tables[name] = tables[0]
            else:
                tables = [
                    t.append_column("part", pa.array(np.full(t.num_rows, i + 1, dtype=np.int16)))
                    for i, t in enumerate(tables)
                ]
                self._tables[name] = pa.concat_tables(tables, promote_options="permissive")
        return self._tables[name]

    def _stream_info(self, name):
        try:
            table = self._table(name)
        except ValueError:
            return None
        try:
            return StreamInfo.from_schema(table.schema)
        except ValueError as error:
            self._problem(self._parts[name][0], f"unreadable stream description ({error})")
            return None

    def _stream_frame(self, name):
        return self._table(name).to_pandas()

    def stream(self, name, wall_clock=False):
        """Stream ``name`` as a DataFrame; ``wall_clock=True`` adds a ``wall_clock`` column.

        Raises
        ------
        KeyError
            No such stream (the message lists them).
        ValueError
            A log of the stream is unreadable, or ``wall_clock`` is asked
            and no file says when ``t = 0`` was.
        """
        frame = self.streams[name]
        if not wall_clock:
            return frame
        import pandas as pd

        t0 = self.t0_wall_clock
        if t0 is None:
            raise ValueError(f"{self.path}: no file says the wall-clock time of t = 0")
        frame = frame.copy()
        frame["wall_clock"] = pd.Timestamp(t0) + pd.to_timedelta(frame["t"], unit="s")
        return frame

    @property
    def units(self):
        """Stream name -> field -> unit, as the files say (readable streams only)."""
        units = {}
        entries = stream_entries(self.metadata)
        for name in self._parts:
            info = self._stream_info(name)
            declared = dict(info.units) if info is not None else {"t": "s"}
            entry_units = entries.get(name, (None, {}))[1].get("units")
            if isinstance(entry_units, dict):
                declared = {**entry_units, **declared}
            units[name] = declared
        return units

    # -- trials and arrays ------------------------------------------------

    @property
    def trials(self):
        """``trials.csv`` as a DataFrame (empty if there is none)."""
        path = self.path / TRIALS_FILE
        try:
            return read_trials(path)
        except (UnicodeDecodeError, ValueError, OSError) as error:
            self._problem(path, f"unreadable ({error})")
            raise ValueError(f"{path} is unreadable: {error}") from error

    @property
    def journal_only_arrays(self):
        """Arrays whose trials are (maybe only) in their journal: the writer was killed or runs."""
        return self._reader.journal_only_arrays

    def _array_names(self):
        try:
            return self._reader.array_names
        except (OSError, ValueError) as error:
            self._problem(self.path, f"cannot list the trial arrays ({error})")
            return []

    def _array(self, name):
        labels = self._reader.array_labels(name)
        data = self._reader.array(name)
        field_axis = labels.get("field_axis")
        return TrialArray(
            name=name,
            data=data,
            shapes=self._reader.array_shapes(name),
            fields=labels.get("fields"),
            field_axis=None if field_axis is None else field_axis + 1,
            time_field=labels.get("time_field"),
            units=labels.get("units", {}),
            description=labels.get("description"),
        )

    # -- summary ----------------------------------------------------------

    def summary(self):
        """What the session holds, as a JSON-able dict (never raises on a bad file).

        Keys: ``path``, ``subject``, ``task``, ``status``, ``unfinished``,
        ``t0_wall_clock``, ``rig``, ``protocol``, ``duration_s``,
        ``streams`` (name -> rows, fields, units, duration_s, rate_hz,
        files, exports, dropped, flagged, lost, write_outages, category), ``trials`` (count,
        columns), ``arrays`` (name -> shapes, labels), ``journal_only_arrays``,
        ``problems`` (list of ``{"file", "reason"}``).
        """
        general = self.general
        entries = stream_entries(self.metadata)
        units = self.units
        streams = {}
        for name, paths in self._parts.items():
            item = {"files": [str(p.relative_to(self.path)) for p in paths]}
            category, entry = entries.get(name, (None, {}))
            item["category"] = category
            for key in ("dropped", "flagged", "lost", "write_outages"):
                if key in entry:
                    item[key] = entry[key]
            item["exports"] = sorted(
                suffix.lstrip(".") for suffix in FORMATS.values() if (self.path / f"{name}{suffix}").is_file()
            )
            try:
                table = self._table(name)
            except ValueError:
                item["unreadable"] = True
                streams[name] = item
                continue
            item["rows"] = table.num_rows
            item["fields"] = [c for c in table.column_names if c not in ("t", "part")]
            item["units"] = units.get(name, {})
            item["duration_s"] = 0.0
            if table.num_rows > 1 and "t" in table.column_names:
                t = table.column("t").to_numpy()
                duration = float(np.nanmax(t) - np.nanmin(t))
                item["duration_s"] = duration
                item["rate_hz"] = (t.size - 1) / duration if duration > 0 else None
            streams[name] = item
        try:
            trials = self.trials
            trial_summary = {"count": len(trials), "columns": [str(c) for c in trials.columns]}
        except ValueError:
            trial_summary = {"count": None, "unreadable": True}
        arrays = {}
        for name in self.arrays:
            try:
                arrays[name] = {
                    "shapes": [None if s is None else list(s) for s in self._reader.array_shapes(name)],
                    "labels": self._reader.array_labels(name),
                }
            except (OSError, ValueError, KeyError) as error:
                self._problem(self.path / f"{name}.hdf5", f"unreadable ({error})")
                arrays[name] = {"unreadable": True}
        stimulus = self.metadata.get("stimulus", {})
        duration = general.get("recording_duration_s")
        return _json_safe({
            "path": str(self.path),
            "subject": general.get("subject_id", self.path.parent.name),
            "task": general.get("task_id", self.path.name),
            "status": self.status,
            "unfinished": self.status == "recording" or not (self.path / METADATA_FILE).exists(),
            "t0_wall_clock": self.t0_wall_clock,
            "rig": general.get("rig"),
            "protocol": stimulus.get("protocol_name") if isinstance(stimulus, dict) else None,
            "duration_s": duration if isinstance(duration, (int, float)) else None,
            "streams": streams,
            "trials": trial_summary,
            "arrays": arrays,
            "journal_only_arrays": self.journal_only_arrays,
            "problems": [{"file": p.file, "reason": p.reason} for p in self.problems],
        })

    def __repr__(self):
        return (f"Session({str(self.path)!r}, status={self.status!r}, streams={list(self.streams)}, "
                f"arrays={list(self.arrays)})")


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def open_session(path):
    """Open a recorded task folder (``<root>/<subject>/<task>``) for reading.

    Parameters
    ----------
    path : str or Path
        The task folder.

    Returns
    -------
    Session
        Reads lazily; never modifies the folder.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a folder.

    Examples
    --------
    >>> session = rigbook.open_session("data/fish-1/t1")   # doctest: +SKIP
    >>> session.streams["tracker"].head()                  # doctest: +SKIP
    >>> session.units["tracker"]["x"]                      # doctest: +SKIP
    """
    return Session(path)
