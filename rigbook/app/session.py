"""What a finished session produced, and the steps that turn stream logs into exports."""

import dataclasses
import logging
from pathlib import Path

from rigbook import storage
from rigbook.storage import FORMATS

logger = logging.getLogger(__name__)

STREAMS_FOLDER = "streams"
STREAM_SUFFIX = ".arrows"


@dataclasses.dataclass
class SessionResult:
    """A saved session: where it is, what was written, what failed."""

    folder: Path
    subject_id: str
    task_id: str
    duration: float
    formats: list
    files: list
    errors: list

    @property
    def ok(self):
        return not self.errors


def stream_log_path(folder, name):
    return Path(folder) / STREAMS_FOLDER / f"{name}{STREAM_SUFFIX}"


def export_steps(folder, stream_names, formats):
    """``(description, function)`` steps exporting each stream log to each format.

    Each function returns the path written. A stream with no log file (it
    never received a sample) is exported as nothing and reported.
    """
    steps = []
    for name in stream_names:
        for fmt in formats:
            if fmt not in FORMATS:
                raise ValueError(f"unknown export format {fmt!r}; formats are {', '.join(FORMATS)}")
            source = stream_log_path(folder, name)
            target = Path(folder) / name
            steps.append((f"{name}.{fmt}", _export(source, target, fmt)))
    return steps


def _export(source, target, fmt):
    def run():
        if not source.exists():
            raise FileNotFoundError(f"stream log {source} was never written (no samples received)")
        written = storage.tables.format_path(target, fmt)
        if written.exists():
            # Only this session wrote into its new folder: a file there is data (a trial array...).
            raise FileExistsError(f"{written} already exists; the export of {source.name} would replace it")
        return storage.export_stream(source, fmt, outfile=target)
    return run


def stream_summary(accumulator, source=None, dropped_before=0, flagged_before=0):
    """Metadata about one recorded stream: fields, rows received, drops, goal rate.

    ``dropped`` and ``flagged`` count the recording only: the accumulator's
    counters minus their values when the recording started.
    """
    summary = {
        "fields": [c for c in accumulator.columns if c != "t"],
        "rows_received": int(getattr(accumulator, "n_received", 0) or 0),
        "dropped": int(getattr(accumulator, "dropped", 0) or 0) - int(dropped_before),
        "flagged": int(getattr(accumulator, "flagged", 0) or 0) - int(flagged_before),
        "file": f"{STREAMS_FOLDER}/{accumulator.name}{STREAM_SUFFIX}",
    }
    if source is not None:
        summary["source"] = getattr(source.target, "__qualname__", str(source.target))
        if source.goal_rate:
            summary["goal_rate_hz"] = float(source.goal_rate)
        summary["options"] = {k: v for k, v in source.options.items() if isinstance(v, (int, float, str, bool, type(None)))}
    return summary
