"""``rigbook inspect``: what a storage root or a task folder holds, in a few lines of text.

Built on :func:`rigbook.storage.session_reader.open_session`: nothing here
unpickles or changes anything. A file that cannot be read (metadata.json
that is not JSON, trials.csv that is not UTF-8, a stream log that is not
Arrow...) gives one line naming it and the reason, and inspection goes on
with the rest; :attr:`Inspection.unreadable` tells the caller (the exit
code) that something was.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rigbook.storage.session_reader import METADATA_FILE, open_session

logger = logging.getLogger(__name__)

STREAMS_FOLDER = "streams"
TASK_MARKERS = (METADATA_FILE, "trials.csv", STREAMS_FOLDER)


#: Fields listed per stream; more are elided (a probe has hundreds).
MAX_FIELDS_SHOWN = 12


def _seconds(value):
    return "?" if not isinstance(value, (int, float)) else f"{value:.1f}"


def is_task_folder(path):
    path = Path(path)
    return any((path / marker).exists() for marker in TASK_MARKERS)


def _visible_dirs(path):
    return sorted(p for p in Path(path).iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass
class Inspection:
    """What ``rigbook inspect PATH`` found.

    Attributes
    ----------
    lines : list of str
        The text, one line each.
    tasks : list of dict
        :meth:`Session.summary` of every task found.
    problems : list of dict
        ``{"file", "reason"}`` for each unreadable file or folder (paths
        absolute), in the order found.
    """

    path: str
    lines: list = field(default_factory=list)
    tasks: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    @property
    def unreadable(self):
        """Whether anything could not be read (``rigbook inspect`` then exits non-zero)."""
        return bool(self.problems)

    @property
    def text(self):
        return "\n".join(self.lines)

    def to_json(self):
        """The JSON-able dict ``rigbook inspect --json`` prints."""
        return {"path": self.path, "tasks": self.tasks, "problems": self.problems,
                "unreadable": self.unreadable}


def _problem_line(indent, file, reason):
    return f"{indent}  UNREADABLE {file}: {reason}"


def summary_lines(summary, metadata=None, indent=""):
    """Text lines for one task's summary (and its metadata, for the protocol and animal)."""
    metadata = metadata or {}
    lines = [f"{indent}task {Path(summary['path']).name}  ({summary['path']})"]
    general = metadata.get("general", {}) if isinstance(metadata.get("general"), dict) else {}
    if not metadata:
        lines.append(f"{indent}  metadata.json: missing or unreadable (session not saved completely)")
    else:
        software = general.get("software")
        duration = summary.get("duration_s")
        highlights = [
            ("rig", summary.get("rig")),
            ("started", general.get("recording_started") or general.get("start_time")),
            ("recorded", f"{duration:.1f} s" if isinstance(duration, (int, float)) else None),
            ("protocol", summary.get("protocol")),
            ("rigbook", software.get("rigbook") if isinstance(software, dict) else None),
            ("status", summary.get("status") if summary.get("status") != "complete" else None),
        ]
        text = ", ".join(f"{k} {v}" for k, v in highlights if v is not None)
        lines.append(f"{indent}  metadata: {text}")
        stimulus = metadata.get("stimulus") if isinstance(metadata.get("stimulus"), dict) else {}
        protocol = stimulus.get("protocol", {})
        for name, params in protocol.items() if isinstance(protocol, dict) else []:
            if isinstance(params, dict):
                values = ", ".join(f"{k}={v}" for k, v in params.items())
                lines.append(f"{indent}  protocol {name}: {values}")
        animal = metadata.get("animal")
        if isinstance(animal, dict) and animal:
            lines.append(f"{indent}  animal: {json.dumps(animal, ensure_ascii=False)}")
    if summary.get("t0_wall_clock"):
        lines.append(f"{indent}  t = 0 at {summary['t0_wall_clock']}")
    if summary.get("unfinished"):
        lines.append(f"{indent}  UNFINISHED: the recording did not end cleanly (status {summary['status']})")
    trials = summary["trials"]
    lines.append(f"{indent}  trials: {'unreadable' if trials.get('unreadable') else trials['count']}")
    for name, item in summary["arrays"].items():
        shapes = [s for s in item.get("shapes", []) if s is not None]
        labels = item.get("labels", {})
        fields = f"; fields {', '.join(labels['fields'])}" if labels.get("fields") else ""
        lines.append(f"{indent}  array {name}: {len(shapes)} trial(s){fields}")
    if summary["journal_only_arrays"]:
        lines.append(
            f"{indent}  arrays only in their journal (writer killed or running; plain h5py readers "
            f"of <array>.hdf5 may miss trials): {', '.join(summary['journal_only_arrays'])}"
        )
    if not summary["streams"]:
        lines.append(f"{indent}  streams: none")
    for name, item in summary["streams"].items():
        if item.get("unreadable"):
            continue  # its problem line says why
        drops = f", {item['dropped']} dropped" if "dropped" in item else ""
        flagged = f", {item['flagged']} flagged" if item.get("flagged") else ""
        rate = f", {item['rate_hz']:.1f} Hz" if item.get("rate_hz") else ""
        units = item.get("units", {})
        fields = [f"{f} [{units[f]}]" if f in units else f for f in item["fields"]]
        if len(fields) > MAX_FIELDS_SHOWN:  # a probe has hundreds of channels
            fields = fields[:MAX_FIELDS_SHOWN - 2] + [f"... ({len(fields)} fields)", fields[-1]]
        parts = f" in {len(item['files'])} parts" if len(item["files"]) > 1 else ""
        exports = item.get("exports")
        lines.append(
            f"{indent}  stream {name}: {item['rows']} rows over {item['duration_s']:.2f} s{rate}{drops}{flagged}"
            f"{parts}; fields {', '.join(fields)}"
            + (f"; exported as {', '.join(exports)}" if exports else "")
        )
        for outage in item.get("write_outages") or []:
            lines.append(f"{indent}    its log could not be written from t = {_seconds(outage.get('start'))} to "
                         f"{_seconds(outage.get('end'))} s ({outage.get('error')})")
        for span in item.get("lost") or []:
            lines.append(f"{indent}    LOST {span.get('rows')} row(s) between t = {_seconds(span.get('start'))} and "
                         f"{_seconds(span.get('end'))} s")
    for problem in summary["problems"]:
        lines.append(_problem_line(indent, problem["file"], problem["reason"]))
    return lines


def _inspect_task(folder, inspection, indent=""):
    folder = Path(folder)
    try:
        session = open_session(folder)
        summary = session.summary()
    except Exception as error:  # noqa: BLE001 - one bad task must not hide the others
        logger.debug("inspecting %s failed", folder, exc_info=True)
        inspection.lines.append(f"{indent}task {folder.name}  ({folder})")
        inspection.lines.append(_problem_line(indent, folder, f"{type(error).__name__}: {error}"))
        inspection.problems.append({"file": str(folder), "reason": str(error)})
        return
    inspection.tasks.append(summary)
    inspection.lines.extend(summary_lines(summary, session.metadata, indent))
    inspection.problems.extend(
        {"file": str(folder / p["file"]), "reason": p["reason"]} for p in summary["problems"]
    )


def inspect(path):
    """Inspect a storage root or a task folder.

    Returns
    -------
    Inspection

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        If ``path`` does not exist or is not a folder.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder (give a storage root or a task folder)")
    inspection = Inspection(str(path))
    if is_task_folder(path):
        _inspect_task(path, inspection)
        return inspection
    inspection.lines.append(f"storage root {path}")
    subjects = _visible_dirs(path)
    if not subjects:
        inspection.lines.append("  no subjects")
    for subject in subjects:
        try:
            tasks = _visible_dirs(subject)
        except OSError as error:
            inspection.lines.append(_problem_line("", subject, str(error)))
            inspection.problems.append({"file": str(subject), "reason": str(error)})
            continue
        inspection.lines.append(f"subject {subject.name}: {len(tasks)} task(s)")
        for task in tasks:
            _inspect_task(task, inspection, indent="  ")
    return inspection


def describe_task(folder, indent=""):
    """Lines describing one task folder."""
    inspection = Inspection(str(folder))
    _inspect_task(folder, inspection, indent)
    return inspection.lines


def describe(path):
    """The text ``rigbook inspect PATH`` prints (see :func:`inspect` for the problems)."""
    return inspect(path).text
