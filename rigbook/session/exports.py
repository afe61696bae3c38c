"""What a finished session produced, and the steps that turn stream logs into exports.

Every part of a stream log is exported: a stream whose schema changed
mid-recording has logs ``streams/tracker.arrows`` and
``streams/tracker_2.arrows`` (one schema each), and they are exported as
``tracker.<fmt>`` and ``tracker_2.<fmt>``: one table per part, each with its
own columns, named like its log.
"""

import dataclasses
import logging
from pathlib import Path

from rigbook import storage
from rigbook.storage import FORMATS
from rigbook.storage.streams import stream_name
from rigbook.storage.tables import format_path

logger = logging.getLogger(__name__)

STREAMS_FOLDER = "streams"
STREAM_SUFFIX = ".arrows"


@dataclasses.dataclass
class SessionResult:
    """A saved session: where it is, what was written, what failed, what was lost.

    Attributes
    ----------
    status : str
        ``"complete"``, ``"interrupted"`` or ``"recovered"``.
    lost : dict
        Stream name -> ``[{"start", "end", "rows"}]``: rows that are not on disk.
    outages : dict
        Stream name -> ``[{"start", "end", "error"}]``: times a log could not be written.
    """

    folder: Path
    subject_id: str
    task_id: str
    duration: float
    formats: list
    files: list
    errors: list
    status: str = "complete"
    lost: dict = dataclasses.field(default_factory=dict)
    outages: dict = dataclasses.field(default_factory=dict)
    parameters: dict = dataclasses.field(default_factory=dict)

    @property
    def rows_lost(self):
        return sum(span["rows"] for spans in self.lost.values() for span in spans)

    @property
    def ok(self):
        return not self.errors and not self.rows_lost and not any(self.outages.values())


def export_target(folder, log_path, fmt):
    """Where the ``fmt`` export of one log part goes: ``<task>/<part name>.<fmt>``."""
    return format_path(Path(folder) / stream_name(log_path), fmt)


def export_steps(folder, log_paths, formats):
    """``(description, function)`` steps exporting each log part to each format.

    Parameters
    ----------
    folder : Path
        The task folder.
    log_paths : dict
        Stream name -> list of its log files (the recorder's :attr:`paths`).
    formats : list of str

    Each function returns the path written. A stream with no log file (it
    never received a sample) has nothing to export (:func:`missing_files`
    reports it).
    """
    steps = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown table format {fmt!r}; formats are {', '.join(FORMATS)}")
    for name, paths in log_paths.items():
        for path in paths:
            for fmt in formats:
                steps.append((f"{stream_name(path)}.{fmt}", _export(Path(path), Path(folder), fmt)))
    return steps


def _export(source, folder, fmt):
    def run():  # (export_stream refuses to replace a file: only this session wrote into its new folder)
        return storage.export_stream(source, fmt, outfile=export_target(folder, source, fmt))
    return run


#: Where the ``nwb`` export of a session goes, in its task folder.
NWB_FILE = "session.nwb"


def save_steps(folder, log_paths, formats, write_metadata):
    """Every step that completes a stopped session: stream exports, metadata.json, then the NWB file.

    The NWB file is made from what is on disk, metadata.json included, so
    it comes after it; metadata.json is written again after it, to list it.
    """
    steps = export_steps(folder, log_paths, [f for f in formats if f in FORMATS])
    steps.append(("metadata.json", write_metadata))
    if "nwb" in formats:
        steps.append((NWB_FILE, lambda: export_nwb(folder)))
        steps.append(("metadata.json (listing the NWB file)", write_metadata))
    return steps


def export_nwb(folder):
    from rigbook.storage.nwb import export_nwb as write_nwb

    return write_nwb(folder, Path(folder) / NWB_FILE)


def missing_files(folder, log_paths, formats):
    """Problems with a saved session folder: missing metadata, stream logs or exports."""
    folder = Path(folder)
    problems = []
    if not (folder / "metadata.json").is_file():
        problems.append(f"{folder / 'metadata.json'} is missing")
    if "nwb" in formats and not (folder / NWB_FILE).is_file():
        problems.append(f"{folder / NWB_FILE} is missing")
    for name, paths in log_paths.items():
        if not paths:
            problems.append(f"stream {name}: no log (no samples received)")
        for path in paths:
            if not Path(path).is_file():
                problems.append(f"stream log {path} is missing")
            for fmt in (f for f in formats if f in FORMATS):
                export = export_target(folder, path, fmt)
                if not export.is_file():
                    problems.append(f"export {export} is missing")
    return problems


def stream_summary(accumulator, source=None, dropped_before=0, flagged_before=0, files=(), folder=None,
                   lost=(), outages=()):
    """Metadata about one recorded stream: fields, units, rows, drops, its files, what was lost.

    ``dropped`` and ``flagged`` count the recording only: the accumulator's
    counters minus their values when the recording started.
    """
    summary = {
        "fields": [c for c in accumulator.columns if c != "t"],
        "rows_received": int(getattr(accumulator, "n_received", 0) or 0),
        "dropped": int(getattr(accumulator, "dropped", 0) or 0) - int(dropped_before),
        "flagged": int(getattr(accumulator, "flagged", 0) or 0) - int(flagged_before),
        "files": [_relative(p, folder) for p in files],
        "lost": [dict(span) for span in lost],
        "write_outages": [dict(outage) for outage in outages],
    }
    units = getattr(accumulator, "units", None)
    if units:
        summary["units"] = dict(units)
    descriptions = getattr(accumulator, "descriptions", None)
    if descriptions:
        summary["descriptions"] = dict(descriptions)
    summary["file"] = summary["files"][0] if summary["files"] else f"{STREAMS_FOLDER}/{accumulator.name}{STREAM_SUFFIX}"
    if source is not None:
        summary["source"] = getattr(source.target, "__qualname__", str(source.target))
        if source.goal_rate:
            summary["goal_rate_hz"] = float(source.goal_rate)
        summary["kind"] = source.kind
        summary["options"] = {k: v for k, v in source.options.items()
                              if isinstance(v, (int, float, str, bool, type(None)))}
    return summary


def _relative(path, folder):
    path = Path(path)
    if folder is not None:
        try:
            return path.relative_to(folder).as_posix()
        except ValueError:
            pass
    return path.as_posix()
