"""``rigbook inspect``: what a storage root or a task folder holds, in a few lines of text.

Nothing here unpickles or changes anything: it reads stream logs, trials.csv
and metadata.json.
"""

import csv
import json
import logging
import math
from pathlib import Path

from rigbook import storage

logger = logging.getLogger(__name__)

STREAMS_FOLDER = "streams"
TASK_MARKERS = ("metadata.json", "trials.csv", STREAMS_FOLDER)


def is_task_folder(path):
    path = Path(path)
    return any((path / marker).exists() for marker in TASK_MARKERS)


def _visible_dirs(path):
    return sorted(p for p in Path(path).iterdir() if p.is_dir() and not p.name.startswith("."))


def count_trials(folder):
    """Rows of trials.csv (0 when there is none)."""
    path = Path(folder) / "trials.csv"
    if not path.is_file():
        return 0
    with open(path, newline="", encoding="utf-8") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


def stream_info(path):
    """Rows, fields and time span of one stream log."""
    table = storage.read_stream(path)
    info = {"rows": table.num_rows, "fields": [c for c in table.column_names if c != "t"],
            "duration": 0.0}
    if table.num_rows and "t" in table.column_names:
        t = table.column("t").to_numpy()
        info["duration"] = float(t.max() - t.min()) if t.size > 1 else 0.0
        info["rate"] = (t.size - 1) / info["duration"] if info["duration"] > 0 else math.nan
    return info


def load_metadata(folder):
    path = Path(folder) / "metadata.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _stream_metadata(metadata, name):
    if not metadata:
        return {}
    for category in metadata.values():
        if isinstance(category, dict):
            entry = category.get("streams", {}).get(name) if isinstance(category.get("streams"), dict) else None
            if isinstance(entry, dict):
                return entry
    return {}


def describe_task(folder, indent=""):
    """Lines describing one task folder."""
    folder = Path(folder)
    lines = [f"{indent}task {folder.name}  ({folder})"]
    metadata = load_metadata(folder)
    if metadata is None:
        lines.append(f"{indent}  metadata.json: missing (session not saved completely)")
    else:
        general = metadata.get("general", {})
        highlights = [
            ("rig", general.get("rig")),
            ("started", general.get("recording_started") or general.get("start_time")),
            ("recorded", f"{general['recording_duration_s']:.1f} s" if isinstance(general.get("recording_duration_s"), (int, float)) else None),
            ("protocol", metadata.get("stimulus", {}).get("protocol_name")),
            ("rigbook", (general.get("software") or {}).get("rigbook") if isinstance(general.get("software"), dict) else None),
        ]
        text = ", ".join(f"{k} {v}" for k, v in highlights if v is not None)
        lines.append(f"{indent}  metadata: {text}")
        protocol = metadata.get("stimulus", {}).get("protocol", {})
        for name, params in protocol.items() if isinstance(protocol, dict) else []:
            if isinstance(params, dict):
                values = ", ".join(f"{k}={v}" for k, v in params.items())
                lines.append(f"{indent}  protocol {name}: {values}")
        animal = {k: v for k, v in metadata.get("animal", {}).items()}
        if animal:
            lines.append(f"{indent}  animal: {json.dumps(animal, ensure_ascii=False)}")
    lines.append(f"{indent}  trials: {count_trials(folder)}")
    streams = sorted((folder / STREAMS_FOLDER).glob("*.arrows")) if (folder / STREAMS_FOLDER).is_dir() else []
    if not streams:
        lines.append(f"{indent}  streams: none")
    for path in streams:
        name = path.name[: -len(".arrows")]
        try:
            info = stream_info(path)
        except (OSError, ValueError) as error:
            lines.append(f"{indent}  stream {name}: unreadable ({error})")
            continue
        meta = _stream_metadata(metadata, name)
        drops = f", {meta['dropped']} dropped" if "dropped" in meta else ""
        flagged = f", {meta['flagged']} flagged" if meta.get("flagged") else ""
        rate = f", {info['rate']:.1f} Hz" if math.isfinite(info.get("rate", math.nan)) else ""
        exports = sorted(p.suffix.lstrip(".") for p in folder.glob(f"{name}.*") if p.is_file())
        lines.append(
            f"{indent}  stream {name}: {info['rows']} rows over {info['duration']:.2f} s{rate}{drops}{flagged}"
            f"; fields {', '.join(info['fields'])}"
            + (f"; exported as {', '.join(exports)}" if exports else "")
        )
    return lines


def describe(path):
    """The text ``rigbook inspect PATH`` prints.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder (give a storage root or a task folder)")
    if is_task_folder(path):
        return "\n".join(describe_task(path))
    lines = [f"storage root {path}"]
    subjects = _visible_dirs(path)
    if not subjects:
        lines.append("  no subjects")
    for subject in subjects:
        tasks = [t for t in _visible_dirs(subject)]
        lines.append(f"subject {subject.name}: {len(tasks)} task(s)")
        for task in tasks:
            lines.extend(describe_task(task, indent="  "))
    return "\n".join(lines)
