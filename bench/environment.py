"""Benchmark: explorations of small runs through the Environment, runs per second.

Runs 2 000 runs (each storing a small result: three scalars) through the
Environment in one process, with 2 processes in QUEUE mode and in LOCK mode,
and, as the baseline measured in the same run, in one process with the HDF5
file opened and closed for every store (what the reference system does by
default). Prints one JSON line.

    .venv/bin/python bench/environment.py [--quick] [--runs N] [--repeat K]
"""

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rigbook.trajectory import pypetconstants as pc  # noqa: E402
from rigbook.trajectory.environment import Environment  # noqa: E402


def small_run(traj):
    """Three scalars per run, like a quick simulation summary."""
    traj.f_add_result("summary", mean=traj.x * 0.5, count=int(traj.x), label="ok")


def explore(folder, runs, **options):
    """Seconds for one exploration of ``runs`` runs with the given Environment options."""
    filename = os.path.join(folder, f"bench_{time.perf_counter_ns()}.hdf5")
    env = Environment(trajectory="bench", filename=filename, log_config=None, report_progress=False,
                      overwrite_file=True, **options)
    traj = env.trajectory
    traj.f_add_parameter("x", 0.0)
    traj.f_explore({"x": [float(i) for i in range(runs)]})
    started = time.perf_counter()
    env.run(small_run)
    elapsed = time.perf_counter() - started
    env.disable_logging()
    os.remove(filename)
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 runs, one repetition")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many repetitions")
    args = parser.parse_args(argv)
    runs = 200 if args.quick else args.runs
    repeat = 1 if args.quick else args.repeat
    logging.basicConfig(level=logging.WARNING)

    setups = {
        "one_process": dict(multiproc=False),
        "queue_2_processes": dict(multiproc=True, ncores=2, wrap_mode=pc.WRAP_MODE_QUEUE, freeze_input=True),
        "lock_2_processes": dict(multiproc=True, ncores=2, wrap_mode=pc.WRAP_MODE_LOCK, freeze_input=True),
        "baseline_open_close_per_store": dict(multiproc=False, keep_file_open=False),
    }
    timings = {name: [] for name in setups}
    with tempfile.TemporaryDirectory() as folder:
        # Interleave the setups so machine noise hits them alike; keep the best of each.
        for _ in range(repeat):
            for name, options in setups.items():
                timings[name].append(explore(folder, runs, **options))
    rates = {name: runs / min(values) for name, values in timings.items()}
    baseline = rates["baseline_open_close_per_store"]
    report = {
        "bench": "environment",
        "runs": runs,
        "repeat": repeat,
        "runs_per_s": {name: round(rate, 1) for name, rate in rates.items()},
        "median_s": {name: round(statistics.median(values), 3) for name, values in timings.items()},
        "speedup_vs_baseline": {name: round(rate / baseline, 2) for name, rate in rates.items()
                                if name != "baseline_open_close_per_store"},
        "cores": os.cpu_count(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
