"""Benchmark: NWB export of a 10-minute demo-rig session beside its parquet export, one JSON line.

The session is synthesized, not recorded in real time: its four stream logs
get the demo rig's streams, rates, dtypes and batch sizes (tracker 500 Hz
with tail_angle, x, y, heading; stimulus_gratings and vigor at ~63 Hz; the
camera frame rate at 10 Hz), written through :class:`StreamWriter` in one
batch per 0.1 s of recording as the session recorder does, plus the
``metadata.json`` a demo recording writes (categories, sources, animal,
protocol). Sample values are random; only their amount and layout matter.

Figures (medians of ``--repeats`` runs, in the same process):

* ``nwb_s``: :func:`export_nwb` of the task folder (reads every log, writes
  ``session.nwb``);
* ``parquet_s``: the baseline, :func:`export_stream` of every log to parquet
  (what ``record --formats parquet`` does at session end);
* ``nwb_over_parquet``: the ratio (the comparable figure across machines);
* ``rows``: rows over all streams, ``nwb_mb`` / ``parquet_mb``: file sizes.

    PYTHONPATH=. .venv/bin/python bench/nwb_export.py [--minutes 10] [--repeats 3]
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rigbook.storage import StreamInfo, StreamWriter, export_stream  # noqa: E402
from rigbook.storage.nwb import export_nwb  # noqa: E402

T0 = "2026-12-05T10:00:00+00:00"
BATCH_S = 0.1
STREAMS = {
    # name: (category, rate Hz, fields, units, source)
    "tracker": ("behavior", 500.0, ["tail_angle", "x", "y", "heading"],
                {"tail_angle": "radians", "x": "mm", "y": "mm", "heading": "radians"}, "simulated_tracker"),
    "stimulus_gratings": ("stimulus", 63.4, ["velocity", "contrast", "moving", "repetition"],
                          {"velocity": "mm/s"}, None),
    "vigor": ("behavior", 63.4, ["vigor"], {}, None),
    "camera": ("camera", 10.0, ["fps"], {"fps": "Hz"}, "simulated_camera"),
}


def synthesize(folder, minutes):
    rng = np.random.default_rng(0)
    duration = minutes * 60.0
    metadata = {
        "rigbook_format": 1,
        "general": {"status": "complete", "subject_id": "fish-1", "task_id": folder.name, "rig": "demo rig",
                    "t0_wall_clock": T0, "recording_started": T0, "recording_duration_s": duration,
                    "experiment": {"experimenter": "", "notes": ""}},
        "animal": {"fish": {"species": "Danio rerio", "genotype": "wild type", "age": 7, "sex": "unknown",
                            "comments": ""}},
        "stimulus": {"protocol_name": "gratings", "streams": {}},
        "behavior": {"streams": {}},
        "camera": {"streams": {}},
    }
    rows = 0
    for name, (category, rate, fields, units, source) in STREAMS.items():
        entry = {"fields": fields, "file": f"streams/{name}.arrows"}
        if source:
            entry["source"] = source
        metadata[category]["streams"][name] = entry
        t = np.arange(0.0, duration, 1.0 / rate) + rng.uniform(0, 1e-4)
        columns = {"t": t}
        for field in fields:
            if name == "stimulus_gratings" and field in ("moving", "repetition"):
                period = 6.0
                columns[field] = ((t // period) if field == "repetition" else ((t % period) > 2)).astype(float)
            else:
                columns[field] = rng.normal(size=t.size)
        rows += t.size
        per_batch = max(1, int(rate * BATCH_S))
        info = StreamInfo(t0_wall_clock=T0, recording_started=T0, units=units)
        with StreamWriter(folder / "streams" / f"{name}.arrows", metadata=info) as log:
            for start in range(0, t.size, per_batch):
                log.append(pa.record_batch({k: v[start : start + per_batch] for k, v in columns.items()}))
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return rows


def timed(action):
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rigbook-nwb-bench-"))
    try:
        folder = work / "fish-1" / "t1"
        rows = synthesize(folder, args.minutes)
        nwb_times, parquet_times = [], []
        for _ in range(args.repeats):
            nwb_times.append(timed(lambda: export_nwb(folder, overwrite=True)))
            parquet_times.append(timed(lambda: [
                export_stream(folder / "streams" / f"{name}.arrows", "parquet", overwrite=True)
                for name in STREAMS
            ]))
        nwb_s, parquet_s = statistics.median(nwb_times), statistics.median(parquet_times)
        print(json.dumps({
            "bench": "nwb_export",
            "minutes": args.minutes,
            "rows": rows,
            "nwb_s": round(nwb_s, 3),
            "parquet_s": round(parquet_s, 3),
            "nwb_over_parquet": round(nwb_s / parquet_s, 2),
            "nwb_mb": round((folder / "session.nwb").stat().st_size / 1e6, 1),
            "parquet_mb": round(sum((folder / f"{n}.parquet").stat().st_size for n in STREAMS) / 1e6, 1),
            "repeats": args.repeats,
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
