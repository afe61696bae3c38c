"""NWB export of a recorded task folder (needs the ``nwb`` extra: ``pip install rigbook[nwb]``).

:func:`export_nwb` reads only the files on disk (``metadata.json``, the
stream logs, ``trials.csv`` and the trial arrays) through
:func:`~rigbook.storage.session_reader.open_session`, so it works on any
session folder, also on another machine, and never changes it.

Mapping
-------
- ``session_start_time``: the wall-clock time of ``t = 0`` (with its time
  zone); every timestamp is seconds from it, i.e. the ``t`` column. If a
  sample precedes ``t = 0`` (NWB forbids negative times), the start is
  moved back to the earliest sample and all times shifted by the same
  amount (said in ``session_description``... and in the kept metadata,
  ``rigbook_nwb.t_shift_s``).
- ``identifier``: a UUID derived from rig, subject, task and start time
  (exporting the same session twice gives the same identifier);
  ``session_id``: the task ID; ``session_description``: the protocol, rig,
  subject and task (plus the notes of ``general.experiment``);
  ``experimenter``: ``general.experiment.experimenter`` when set.
- Subject: from the first entry of the ``animal`` metadata (``species``,
  ``genotype``, ``sex`` -> ``M``/``F``/``U``/``O``, ``age`` in days post
  fertilization -> ISO 8601 ``P<n>D``, ``comments`` -> description) and
  ``general.subject_id``.
- Streams, by what ``metadata.json`` says about them
  (``<category>/streams/<name>``); the first rule that matches wins:

  1. category ``stimulus`` (or a name starting with ``stimulus``): the
     stimulus log. Each field whose value changes becomes a TimeSeries in
     ``/stimulus``; the fields holding whole numbers only (phase, repetition,
     moving...) cut the log into epochs, one per run of rows where they all
     keep their values, tagged ``field=value``.
  2. category ``camera``, or only an ``fps`` field: frame rate, a
     TimeSeries per field (Hz) in the ``behavior`` processing module.
  3. an entry with a ``source`` (acquired by a Source, e.g. the tracker):
     tracking. ``x`` and ``y`` together become a SpatialSeries in a
     ``Position`` container; every other field a TimeSeries; all in the
     ``behavior`` processing module.
  4. anything else (computed by an Estimator, e.g. vigor): a TimeSeries per
     field in the ``behavior`` processing module.

  Series are named ``<stream>_<field>``; units come from the stream's
  description (``n.a.`` when it declares none). A series sampled at a
  constant rate is stored as start time + rate (NWB's recommendation).
- Trials: the NWB trials table, one row per trial of ``trials.csv``, every
  attribute a column. Start and stop are the ``start_time`` / ``stop_time``
  attributes (or ``t_start``/``t_stop``, ``start``/``stop``); failing that,
  the first and last time of a trial array with a time field.
- Trial arrays with a ``time_field``: one TimeSeries per other field in
  the ``behavior`` module (``trial_<array>_<field>``), all trials joined.
- The whole ``metadata.json`` is kept as text in the scratch space
  (``/scratch/rigbook_metadata_json``).
"""

import json
import logging
import uuid
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from rigbook.storage.atomic import atomic_path
from rigbook.storage.session_reader import open_session, stream_entries

logger = logging.getLogger(__name__)

NWB_FILE = "session.nwb"
UNKNOWN_UNIT = "n.a."
_START_COLUMNS = ("start_time", "t_start", "start")
_STOP_COLUMNS = ("stop_time", "t_stop", "stop", "t_end", "end")
_SEX = {"male": "M", "m": "M", "female": "F", "f": "F", "unknown": "U", "u": "U", "": "U"}
#: Timestamps whose steps agree to this many decimals count as a constant rate.
_REGULAR_DECIMALS = 9


def _require_pynwb():
    try:
        import pynwb  # noqa: F401
    except ImportError:
        raise ImportError(
            "NWB export needs pynwb: pip install 'rigbook[nwb]' (or pip install pynwb)"
        ) from None


def export_nwb(task_folder, outfile=None, overwrite=False):
    """Write a recorded task folder as one NWB file.

    Parameters
    ----------
    task_folder : str or Path
        The session's folder (``<root>/<subject>/<task>``).
    outfile : str or Path, optional
        The file to write; by default ``<task_folder>/session.nwb``.
    overwrite : bool
        Replace an existing file; by default FileExistsError names it.

    Returns
    -------
    Path
        The file written (atomically).

    Raises
    ------
    ImportError
        pynwb is not installed.
    FileExistsError
        ``outfile`` exists and ``overwrite`` is false.
    ValueError
        No file of the session says when ``t = 0`` was, or a stream log
        is unreadable (the message names it).
    """
    _require_pynwb()
    from pynwb import NWBHDF5IO

    session = open_session(task_folder)
    outfile = Path(outfile) if outfile is not None else session.path / NWB_FILE
    if outfile.exists() and not overwrite:
        raise FileExistsError(f"{outfile} already exists; pass overwrite=True to replace it")
    nwbfile = build_nwbfile(session)
    with atomic_path(outfile, overwrite=overwrite) as tmp, warnings.catch_warnings():
        # The temporary file's name ends in .tmp; the file written ends in .nwb.
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
    logger.info("NWB export of %s written to %s", session.path, outfile)
    return outfile


def build_nwbfile(session):
    """The in-memory :class:`pynwb.NWBFile` of an opened session (see the module notes)."""
    from pynwb import NWBFile

    t0 = session.t0_wall_clock
    if t0 is None:
        raise ValueError(f"{session.path}: no file says the wall-clock time of t = 0; cannot place it in NWB")
    general = session.general
    frames = {name: session.streams[name] for name in session.streams}
    earliest = min((float(f["t"].min()) for f in frames.values() if len(f) and "t" in f), default=0.0)
    shift = min(earliest, 0.0)
    start = datetime.fromisoformat(t0) + timedelta(seconds=shift)
    subject_id = str(general.get("subject_id") or session.path.parent.name)
    task_id = str(general.get("task_id") or session.path.name)
    stimulus = session.metadata.get("stimulus") if isinstance(session.metadata.get("stimulus"), dict) else {}
    experiment = general.get("experiment") if isinstance(general.get("experiment"), dict) else {}
    description = (
        f"{stimulus.get('protocol_name') or 'Rigbook'} session on the {general.get('rig') or 'rig'}: "
        f"subject {subject_id}, task {task_id}, recorded with Rigbook."
    )
    if experiment.get("notes"):
        description += f" Notes: {experiment['notes']}"
    if shift:
        description += f" Times are seconds from {shift:.6f} s before t = 0 (the earliest sample)."
    experimenter = experiment.get("experimenter")
    nwbfile = NWBFile(
        session_description=description,
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"rigbook:{general.get('rig')}:{subject_id}:{task_id}:{t0}")),
        session_start_time=start,
        session_id=task_id,
        experimenter=[experimenter] if isinstance(experimenter, str) and experimenter.strip() else None,
        subject=_subject(session.metadata.get("animal"), subject_id),
        source_script="rigbook",
        source_script_file_name="rigbook",
        keywords=[k for k in ("Rigbook", stimulus.get("protocol_name"), general.get("rig")) if k],
    )
    clock = _Clock(-shift)
    units = session.units
    entries = stream_entries(session.metadata)
    for name, frame in frames.items():
        category, entry = entries.get(name, (None, {}))
        mapper = next(rule for predicate, rule in _STREAM_RULES if predicate(name, category, entry, frame))
        mapper(nwbfile, name, frame, units.get(name, {}), clock)
    _add_trials(nwbfile, session, clock)
    _add_trial_arrays(nwbfile, session, clock)
    _keep_metadata(nwbfile, session, shift)
    return nwbfile


class _Clock:
    """Seconds from ``session_start_time`` for Rigbook's ``t``."""

    def __init__(self, offset):
        self.offset = offset

    def __call__(self, t):
        return np.asarray(t, dtype=np.float64) + self.offset


def _subject(animal, subject_id):
    from pynwb.file import Subject

    fields = {}
    if isinstance(animal, dict):
        first = next((v for v in animal.values() if isinstance(v, dict)), None)
        fields = first if first is not None else animal
    age = fields.get("age")
    try:
        days = float(age)
    except (TypeError, ValueError):
        days = None
    sex = str(fields.get("sex", "")).strip()
    return Subject(
        subject_id=subject_id,
        species=fields.get("species") or None,
        genotype=fields.get("genotype") or None,
        sex=_SEX.get(sex.lower(), "O"),
        age=f"P{days:g}D" if days is not None and days >= 0 else (str(age) if age else None),
        description=fields.get("comments") or None,
    )


#: Abbreviations a rig may declare, spelled out as NWB's best practices want spatial units.
SPATIAL_UNITS = {"m": "meters", "cm": "centimeters", "mm": "millimeters", "um": "micrometers",
                 "µm": "micrometers", "px": "pixels", "rad": "radians", "deg": "degrees"}


def _unit(units, field):
    return units.get(field) or UNKNOWN_UNIT


def _time_kwargs(timestamps):
    """``starting_time`` + ``rate`` for a constant rate, else ``timestamps``."""
    if timestamps.size > 2:
        steps = np.unique(np.round(np.diff(timestamps), _REGULAR_DECIMALS))
        if steps.size == 1 and steps[0] > 0:
            return {"starting_time": float(timestamps[0]), "rate": float(1.0 / steps[0])}
    return {"timestamps": timestamps}


def _numeric_fields(frame):
    return [
        c for c in frame.columns
        if c not in ("t", "part") and (np.issubdtype(frame[c].dtype, np.number) or frame[c].dtype == bool)
    ]


def _series(name, frame, field, units, clock, description):
    from pynwb import TimeSeries

    return TimeSeries(
        name=name,
        data=frame[field].to_numpy(),
        unit=_unit(units, field),
        description=description,
        **_time_kwargs(clock(frame["t"].to_numpy())),
    )


def _behavior(nwbfile):
    module = nwbfile.processing.get("behavior")
    if module is None:
        module = nwbfile.create_processing_module("behavior", "Tracking, frame rates and estimates recorded by Rigbook")
    return module


def _is_stimulus(name, category, entry, frame):
    return category == "stimulus" or name.startswith("stimulus")


def _is_framerate(name, category, entry, frame):
    return category == "camera" or _numeric_fields(frame) == ["fps"]


def _is_tracking(name, category, entry, frame):
    return "source" in entry


def _anything(name, category, entry, frame):
    return True


def _add_stimulus(nwbfile, name, frame, units, clock):
    fields = _numeric_fields(frame)
    dynamic = [f for f in fields if frame[f].nunique(dropna=False) > 1]
    for field in dynamic:
        nwbfile.add_stimulus(_series(
            f"{name}_{field}", frame, field, units, clock,
            f"Stimulus parameter {field!r} of the stimulus log {name!r}.",
        ))
    phases = [
        f for f in dynamic
        if frame[f].notna().all() and np.all(np.mod(frame[f].to_numpy(dtype=np.float64), 1) == 0)
    ]
    if not phases or not len(frame):
        return
    if nwbfile.epochs is None or "stream" not in nwbfile.epochs.colnames:
        nwbfile.add_epoch_column("stream", "The stimulus log the epoch comes from.")
    values = frame[phases].to_numpy(dtype=np.float64)
    changes = np.flatnonzero(np.any(values[1:] != values[:-1], axis=1)) + 1
    starts = np.concatenate([[0], changes])
    t = clock(frame["t"].to_numpy())
    stops = np.concatenate([t[changes], [t[-1]]])
    for start_row, stop in zip(starts, stops):
        tags = [f"{field}={values[start_row, i]:g}" for i, field in enumerate(phases)]
        nwbfile.add_epoch(start_time=float(t[start_row]), stop_time=float(stop), tags=tags, stream=name)


def _add_framerate(nwbfile, name, frame, units, clock):
    module = _behavior(nwbfile)
    for field in _numeric_fields(frame):
        module.add(_series(
            f"{name}_{field}", frame, field, {field: "Hz", **units}, clock,
            f"Frame rate of the source {name!r}, as Rigbook measured it.",
        ))


def _add_tracking(nwbfile, name, frame, units, clock):
    from pynwb.behavior import Position, SpatialSeries

    module = _behavior(nwbfile)
    fields = _numeric_fields(frame)
    if "x" in fields and "y" in fields:
        position = Position(name=f"{name}_position")
        unit = units.get("x") or UNKNOWN_UNIT
        if units.get("y", unit) != unit:
            unit = UNKNOWN_UNIT  # one SpatialSeries has one unit; x and y keep theirs in the metadata
        unit = SPATIAL_UNITS.get(unit, unit)
        position.add_spatial_series(SpatialSeries(
            name=f"{name}_xy",
            data=frame[["x", "y"]].to_numpy(),
            reference_frame=f"x, y as the source of stream {name!r} reports them",
            unit=unit,
            description=f"Position (x, y) tracked in stream {name!r}.",
            **_time_kwargs(clock(frame["t"].to_numpy())),
        ))
        module.add(position)
        fields = [f for f in fields if f not in ("x", "y")]
    for field in fields:
        module.add(_series(f"{name}_{field}", frame, field, units, clock,
                           f"Field {field!r} of the tracking stream {name!r}."))


def _add_estimate(nwbfile, name, frame, units, clock):
    module = _behavior(nwbfile)
    for field in _numeric_fields(frame):
        module.add(_series(f"{name}_{field}", frame, field, units, clock,
                           f"Field {field!r} of the estimator log {name!r}, computed live by Rigbook."))


_STREAM_RULES = [
    (_is_stimulus, _add_stimulus),
    (_is_framerate, _add_framerate),
    (_is_tracking, _add_tracking),
    (_anything, _add_estimate),
]


def _trial_bounds(session, trials, clock):
    """(starts, stops, the trial columns they came from) in NWB seconds, or None if nothing says them."""
    start = next((c for c in _START_COLUMNS if c in trials.columns), None)
    stop = next((c for c in _STOP_COLUMNS if c in trials.columns), None)
    if start and stop:
        return clock(trials[start].to_numpy(dtype=np.float64)), clock(trials[stop].to_numpy(dtype=np.float64)), {start, stop}
    for name in session.arrays:
        array = session.arrays[name]
        if array.time_field and array.fields:
            times = array.field(array.time_field)
            times = times.reshape(len(times), -1)
            return clock(np.nanmin(times, axis=1)), clock(np.nanmax(times, axis=1)), set()
    return None


def _add_trials(nwbfile, session, clock):
    try:
        trials = session.trials
    except ValueError as error:
        logger.warning("NWB export: trials left out: %s", error)
        return
    if not len(trials):
        return
    bounds = _trial_bounds(session, trials, clock)
    if bounds is None:
        logger.warning(
            "NWB export of %s: no trial start/stop times (attributes %s, or a trial array with a "
            "time field); the trials are left out of the NWB trials table", session.path,
            "/".join(_START_COLUMNS[:2] + _STOP_COLUMNS[:2]),
        )
        return
    starts, stops, used = bounds
    columns = [c for c in trials.columns if c not in used]
    for column in columns:
        nwbfile.add_trial_column(name=str(column), description=f"Trial attribute {column!r} of trials.csv.")
    for row in range(len(trials)):
        values = {str(c): _cell(trials[c].iloc[row], trials[c]) for c in columns}
        nwbfile.add_trial(start_time=float(starts[row]), stop_time=float(stops[row]), **values)


def _cell(value, column):
    if column.dtype == object:
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return value.item() if hasattr(value, "item") else value


def _add_trial_arrays(nwbfile, session, clock):
    from pynwb import TimeSeries

    for name in session.arrays:
        array = session.arrays[name]
        if not (array.time_field and array.fields and array.field_axis is not None and array.data.ndim == 3):
            logger.info("NWB export: trial array %r has no time field; left out", name)
            continue
        field_axis = array.field_axis - 1  # of one trial's array
        rows = [
            np.moveaxis(trial, field_axis, 0)[:, : shape[1 - field_axis]]  # without the NaN padding
            for trial, shape in zip(array.data, array.shapes) if shape is not None
        ]
        if not rows:
            continue
        samples = np.concatenate(rows, axis=1)
        time_kwargs = _time_kwargs(clock(samples[array.fields.index(array.time_field)]))
        for i, field in enumerate(array.fields):
            if field != array.time_field:
                _behavior(nwbfile).add(TimeSeries(
                    name=f"trial_{name}_{field}",
                    data=samples[i],
                    unit=_unit(array.units, field),
                    description=f"Field {field!r} of the trial array {name!r}, all trials joined.",
                    **time_kwargs,
                ))


def _keep_metadata(nwbfile, session, shift):
    from pynwb.core import ScratchData

    document = dict(session.metadata)
    document["rigbook_nwb"] = {"t_shift_s": -shift, "source_folder": str(session.path)}
    nwbfile.add_scratch(ScratchData(
        name="rigbook_metadata_json",
        data=json.dumps(document, ensure_ascii=False),
        description="The session's metadata.json as Rigbook wrote it (plus rigbook_nwb: how times were placed).",
    ))
