"""Benchmark: memory while recording stays flat (DESIGN.md §5), one JSON line.

20 accumulators x 1 kHz x 10 float64 fields are recorded to stream logs for
one simulated hour. The hour runs faster than real time: the samples are
appended in-process (no source processes: the queue does not hold data, the
accumulators do), in blocks of 100 samples (0.1 s of stream time) per source
per step, with timestamps that advance 0.1 s per step; the recorder polls
every 5 steps (0.5 s of stream time, as the app's record timer). Everything
the recording keeps is the same as in real time; only the wall clock is
faster.

The figure: RSS after 60 simulated minutes / RSS after 1 simulated minute,
with the accumulators' default live window (flat memory). The baseline, in
a fresh process of the same run: the keep-everything mode
(``live_window=None``, stytra's behaviour), for ``--baseline-minutes``
minutes (its memory grows by ~1.8 MB/s of stream time: a whole hour would need
6+ GB), with its growth per minute extrapolated to the hour.

    .venv/bin/python bench/memory.py [--minutes 60] [--baseline-minutes 5]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SOURCES = 20
RATE = 1000
FIELDS = [f"f{i}" for i in range(10)]
STEP_S = 0.1
POLL_EVERY = 5


def rss_bytes():
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:  # Linux without psutil
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def simulate(minutes, live_window):
    """Record ``minutes`` of stream time; return RSS samples and the wall time taken."""
    from rigbook.collectors import Accumulator
    from rigbook.collectors.recording import StreamRecorder

    rng = np.random.default_rng(0)
    per_step = int(RATE * STEP_S)
    values = {name: rng.normal(size=per_step) for name in FIELDS}
    offsets = np.arange(per_step) / RATE
    kwargs = {} if live_window == "default" else {"live_window": live_window}
    accs = [Accumulator(name=f"source{i}", t0=0.0, recording=True, **kwargs) for i in range(SOURCES)]
    rss = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rigbook-bench-memory-") as folder:
        recorder = StreamRecorder(accs, folder)
        steps = int(round(minutes * 60 / STEP_S))
        for step in range(steps):
            times = step * STEP_S + offsets
            for acc in accs:
                acc.append_block(times, values)
            if step % POLL_EVERY == POLL_EVERY - 1:
                recorder.poll()
            minute = (step + 1) * STEP_S / 60
            if abs(minute - round(minute)) < 1e-9:
                rss[int(round(minute))] = rss_bytes()
        recorder.close()
        rows = sum(acc.n_received for acc in accs)
        held = sum(acc.n_held for acc in accs)
        log_bytes = sum(p.stat().st_size for p in Path(folder, "streams").iterdir())
    return {"rss": rss, "seconds": time.perf_counter() - started, "rows": rows, "rows_held": held,
            "log_bytes": log_bytes}


def child(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--child-minutes", type=float)
    parser.add_argument("--live-window", default="default")
    args, _ = parser.parse_known_args(argv)
    window = args.live_window
    window = "default" if window == "default" else None if window == "none" else float(window)
    print(json.dumps(simulate(args.child_minutes, window)))


def run_child(minutes, live_window):
    command = [sys.executable, __file__, "--child-minutes", str(minutes), "--live-window", live_window]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rss"] = {int(k): v for k, v in result["rss"].items()}
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--child-minutes" in argv:
        return child(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="stream time recorded (default 60)")
    parser.add_argument("--baseline-minutes", type=float, default=5.0,
                        help="stream time of the keep-everything baseline (default 5)")
    args = parser.parse_args(argv)
    flat = run_child(args.minutes, "default")
    keep = run_child(args.baseline_minutes, "none")
    mb = 1 / 2**20
    last = max(flat["rss"])
    keep_last = max(keep["rss"])
    keep_growth = (keep["rss"][keep_last] - keep["rss"][1]) / max(keep_last - 1, 1)  # bytes per minute
    result = {
        "bench": "memory",
        "sources": SOURCES, "rate_hz": RATE, "fields": len(FIELDS),
        "minutes_recorded": last,
        "rss_1min_mb": round(flat["rss"][1] * mb, 1),
        "rss_end_mb": round(flat["rss"][last] * mb, 1),
        "ratio_end_to_1min": round(flat["rss"][last] / flat["rss"][1], 3),
        "budget_ratio": 1.2,
        "rows_recorded": flat["rows"], "rows_in_ram_at_end": flat["rows_held"],
        "log_gb": round(flat["log_bytes"] / 1e9, 2),
        "simulation_seconds": round(flat["seconds"], 1),
        "baseline": {
            "mode": "keep everything in RAM (live_window=None)",
            "minutes_recorded": keep_last,
            "rss_1min_mb": round(keep["rss"][1] * mb, 1),
            "rss_end_mb": round(keep["rss"][keep_last] * mb, 1),
            "growth_mb_per_min": round(keep_growth * mb, 1),
            "ratio_at_60min_extrapolated": round((keep["rss"][1] + 59 * keep_growth) / keep["rss"][1], 2),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
