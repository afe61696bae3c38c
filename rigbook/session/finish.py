"""``rigbook finish``: complete a session whose recording process was killed.

What a kill (SIGKILL, a power cut) leaves behind is readable: the stream
logs hold every batch flushed, the trial rows and their journal every
trial written, and metadata.json what was known at the start (status
``"recording"``). Finishing folds the journalled trials into their HDF5
files, writes the chosen exports, removes temporary files of a killed
export, and replaces metadata.json with the start context plus what the logs
hold, marked ``"recovered"`` with the span recovered.
"""

import logging
import math
from pathlib import Path

from rigbook import storage
from rigbook.collectors import provenance
from rigbook.collectors.metadata_json import dumps
from rigbook.session import status as session_status
from rigbook.session.exports import NWB_FILE, SessionResult, export_nwb, export_target
from rigbook.storage.session_reader import stream_parts
from rigbook.storage.atomic import atomic_open

logger = logging.getLogger(__name__)


def remove_leftover_temporaries(folder):
    """Delete hidden ``.*.tmp`` files a killed writer left in a task folder; return their paths."""
    removed = []
    folder = Path(folder)
    for where in (folder, folder / "streams"):
        if not where.is_dir():
            continue
        for path in where.glob(".*.tmp"):
            try:
                path.unlink()
                removed.append(path)
            except OSError as error:
                logger.warning("could not remove the leftover temporary file %s: %s", path, error)
    return removed


def _recorded_streams(folder, general):
    """Stream name -> (its start-of-recording entry, its log files)."""
    entries = general.get("recorded_streams") if isinstance(general.get("recorded_streams"), dict) else {}
    parts = stream_parts(folder)
    return {name: (entries.get(name, {}), parts.get(name, [])) for name in {**entries, **parts}}


def _log_summary(parts, folder):
    rows, t_min, t_max, fields = 0, math.inf, -math.inf, []
    for path in parts:
        table = storage.read_stream(path)
        rows += table.num_rows
        fields = fields or [c for c in table.column_names if c != "t"]
        if table.num_rows and "t" in table.column_names:
            t = table.column("t").to_numpy()
            t_min, t_max = min(t_min, float(t.min())), max(t_max, float(t.max()))
    return {
        "fields": fields,
        "rows_in_log": rows,
        "files": [Path(p).relative_to(folder).as_posix() for p in parts],
        "t_first": t_min if rows else None,
        "t_last": t_max if rows else None,
    }


def _write_metadata(metadata, folder):
    target = folder / session_status.METADATA_FILE
    metadata["general"]["files"] = provenance.files_in(folder, exclude={target.name})
    with atomic_open(target, "w", encoding="utf-8") as f:
        f.write(dumps(metadata))


def finish_session(folder, formats=None):
    """Finish the killed recording in task folder ``folder``; return its :class:`SessionResult`.

    Parameters
    ----------
    folder : str or Path
        The task folder.
    formats : list of str, optional
        Export formats; default: those chosen when the recording started.

    Raises
    ------
    FileNotFoundError
        ``folder`` is not a task folder with a metadata.json.
    ValueError
        The session is not unfinished: complete already, or its recording
        process is still running.
    """
    folder = Path(folder).resolve()
    metadata = session_status.read_metadata(folder)
    if metadata is None:
        raise FileNotFoundError(f"{folder} has no metadata.json: not a task folder Rigbook recorded")
    state = session_status.status_of(metadata)
    if state != session_status.RECORDING:
        raise ValueError(f"{folder}: the session is {state!r}, not unfinished; nothing to finish")
    if not session_status.is_unfinished(folder):
        raise ValueError(f"{folder}: its recording process is still running; stop it first")
    general = metadata.setdefault("general", {})
    formats = list(formats if formats is not None else general.get("export_formats") or [])

    removed = remove_leftover_temporaries(folder)
    errors = []
    try:
        rebuilt = storage.TaskReader(folder).recover()
    except (OSError, ValueError) as error:
        rebuilt = []
        errors.append(("trials", str(error)))
    files = []
    span_end = 0.0
    for name, (entry, parts) in _recorded_streams(folder, general).items():
        category = entry.get("category", "behavior") if isinstance(entry, dict) else "behavior"
        try:
            summary = _log_summary(parts, folder)
        except (OSError, ValueError) as error:
            errors.append((f"stream {name}", str(error)))
            continue
        if isinstance(entry, dict) and entry.get("units"):
            summary["units"] = entry["units"]
        metadata.setdefault(category, {}).setdefault("streams", {})[name] = summary
        if summary["t_last"] is not None:
            span_end = max(span_end, summary["t_last"])
        for path in parts:
            for fmt in (f for f in formats if f in storage.FORMATS):
                target = export_target(folder, path, fmt)
                if target.exists():
                    continue  # exports are written atomically: one that exists is complete
                try:
                    files.append(storage.export_stream(path, fmt, outfile=target))
                except (OSError, ValueError) as error:
                    errors.append((target.name, str(error)))
    trials = len(storage.TaskReader(folder).trials) if (folder / "trials.csv").exists() else 0
    general.update(
        status=session_status.RECOVERED,
        recovered={"start": 0.0, "end": span_end, "at": provenance.now_with_timezone().isoformat(),
                   "trial_arrays_rebuilt": rebuilt, "temporary_files_removed": [p.name for p in removed]},
        recording_duration_s=round(span_end, 3),
        trials=trials,
    )
    general["end_time"] = general.get("end_time") or provenance.now_with_timezone().isoformat()
    _write_metadata(metadata, folder)
    if "nwb" in formats and not (folder / NWB_FILE).exists():
        try:
            files.append(export_nwb(folder))
            _write_metadata(metadata, folder)  # (listing it)
        except (OSError, ValueError, ImportError) as error:
            errors.append((NWB_FILE, str(error)))
    logger.info("session %s finished: recovered %.1f s", folder, span_end)
    return SessionResult(folder=folder, subject_id=str(general.get("subject_id", folder.parent.name)),
                         task_id=str(general.get("task_id", folder.name)), duration=span_end, formats=formats,
                         files=files, errors=errors, status=session_status.RECOVERED)
