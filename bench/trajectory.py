"""Benchmark: trajectory runs stored and loaded through HDF5StorageService.

Each run holds a float64 array of 1000 values, three scalars and a small dict
(five results). Prints ONE JSON line with, for 10 000 runs (1 000 with
--quick) and for 500 runs:

* ``add_s``: adding the results run by run in memory (``f_set_crun`` + ``f_add_result``);
* ``store_s``: ``traj.f_store()`` of all runs (one file opening, column-wise blocks);
* ``store_per_run_s``: the Environment's path: file kept open (OPEN_FILE), one
  ``SINGLE_RUN`` store per run of a pickled run payload, CLOSE_FILE;
* ``load_s``: a new ``Trajectory(filename=...)`` and ``f_load(load_all=2)``;
* ``gather_s``: ``f_get_from_runs('arr', fast_access=True)`` on the loaded trajectory;
* ``gather_cold_s``: skeleton load then ``f_load_items`` of every run's ``arr``;
* ``file_mb`` / ``payload_mb`` and their ratio.

The baseline, measured in the same process, is pypet's pattern written with
plain h5py: the file is opened and, for every run, a group per run and a group
per value with its dataset are created; loading walks the groups. It runs on
``baseline_runs`` runs (500; fewer than 10 000 because it is slow) and the
ratios compare per-run costs. Best of N repetitions for the 500-run figures.
The service's default settings are used (zlib level 9, shuffle), and the
500-run store is also given uncompressed (``complevel=0``).
"""

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time

import h5py
import numpy as np

from rigbook.trajectory import Trajectory
from rigbook.trajectory import pypetconstants as pc

ARRAY_LEN = 1000


def run_values(rng, idx):
    return {
        "arr": rng.random(ARRAY_LEN),
        "a": float(idx) * 0.5,
        "b": idx,
        "c": float(rng.random()),
        "info": {"trial": idx, "label": "ok", "gain": 0.25},
    }


def payload_bytes(n):
    return n * (ARRAY_LEN * 8 + 3 * 8 + (8 + 2 + 8))


def build(n, filename, **service):
    traj = Trajectory("bench", add_time=False, filename=filename, overwrite_file=True, **service)
    traj.f_add_parameter("idx", 0)
    traj.f_explore({"idx": list(range(n))})
    return traj


def add_results(traj, n, seed=0):
    rng = np.random.default_rng(seed)
    for idx in range(n):
        traj.f_set_crun(idx)
        for name, value in run_values(rng, idx).items():
            traj.f_add_result(name, value)
    traj.f_restore_default()


def measure_ours(n, folder, **service):
    filename = os.path.join(folder, f"ours_{n}.hdf5")
    traj = build(n, filename, **service)
    t0 = time.perf_counter()
    add_results(traj, n)
    t1 = time.perf_counter()
    traj.f_store()
    t2 = time.perf_counter()
    loaded = Trajectory(filename=filename)
    t3 = time.perf_counter()
    loaded.f_load(name="bench", load_all=2)
    t4 = time.perf_counter()
    gathered = loaded.f_get_from_runs("arr", fast_access=True)
    t5 = time.perf_counter()
    assert len(gathered) == n and len(loaded.f_get_from_runs("info")) == n
    cold = Trajectory(filename=filename)
    t6 = time.perf_counter()
    cold.f_load(name="bench", load_parameters=2, load_results=1)
    leaves = list(cold.f_get_from_runs("arr").values())
    cold.f_load_items(leaves)
    t7 = time.perf_counter()
    assert all(leaf.arr.shape == (ARRAY_LEN,) for leaf in leaves)
    size = os.path.getsize(filename)
    return {"add_s": t1 - t0, "store_s": t2 - t1, "load_s": t4 - t3, "gather_s": t5 - t4,
            "gather_cold_s": t7 - t6, "file_bytes": size}


def measure_per_run_store(n, folder, **service):
    filename = os.path.join(folder, f"per_run_{n}.hdf5")
    traj = build(n, filename, **service)
    traj.f_store()
    rng = np.random.default_rng(1)
    service_obj = traj.v_storage_service
    payloads = []
    for idx in range(n):
        traj.f_set_crun(idx)
        traj._set_start()
        for name, value in run_values(rng, idx).items():
            traj.f_add_result(name, value)
        traj._set_finish()
        payloads.append(pickle.dumps(traj._run_payload(store_final=True)))
        for branch in ("results",):
            group = traj._flat[f"{branch}.runs.run_%08d" % idx]
            traj._remove_subtree(group)
    traj.f_restore_default()
    t0 = time.perf_counter()
    service_obj.store(pc.OPEN_FILE, None, trajectory_name="bench")
    for raw in payloads:
        service_obj.store(pc.SINGLE_RUN, pickle.loads(raw), trajectory_name="bench", store_final=True)
    service_obj.store(pc.CLOSE_FILE, None)
    elapsed = time.perf_counter() - t0
    check = Trajectory(filename=filename)
    check.f_load(name="bench", load_all=1)
    assert check.f_is_completed() and len(check.f_get_from_runs("arr")) == n
    return elapsed


def baseline(n, folder):
    """pypet's pattern with plain h5py: one group per run and per value."""
    filename = os.path.join(folder, f"baseline_{n}.hdf5")
    rng = np.random.default_rng(0)
    runs = [run_values(rng, idx) for idx in range(n)]
    t0 = time.perf_counter()
    with h5py.File(filename, "w") as f:
        root = f.create_group("bench/results/runs")
        for idx, values in enumerate(runs):
            run = root.create_group("run_%08d" % idx)
            for name, value in values.items():
                group = run.create_group(name)
                group.attrs["class_name"] = "Result"
                if isinstance(value, dict):
                    table = group.create_group(name)
                    for key, item in value.items():
                        table.create_dataset(key, data=item)
                else:
                    group.create_dataset(name, data=value, compression="gzip" if isinstance(value, np.ndarray) else None,
                                         compression_opts=9 if isinstance(value, np.ndarray) else None,
                                         shuffle=isinstance(value, np.ndarray))
    t1 = time.perf_counter()
    loaded = {}
    with h5py.File(filename, "r") as f:
        for run_name, run in f["bench/results/runs"].items():
            values = {}
            for name, group in run.items():
                node = group[name]
                if isinstance(node, h5py.Group):
                    values[name] = {k: v[()] for k, v in node.items()}
                else:
                    values[name] = node[()]
            loaded[run_name] = values
    t2 = time.perf_counter()
    assert len(loaded) == n
    return {"store_s": t1 - t0, "load_s": t2 - t1, "file_bytes": os.path.getsize(filename)}


def best_of(repeats, fn):
    results = [fn() for _ in range(repeats)]
    keys = results[0].keys()
    return {k: min(r[k] for r in results) if k.endswith("_s") else results[0][k] for k in keys}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 000 runs instead of 10 000, fewer repetitions")
    parser.add_argument("--runs", type=int, default=None, help="number of runs of the large case")
    args = parser.parse_args(argv)
    n_large = args.runs or (1000 if args.quick else 10_000)
    repeats = 1 if args.quick else 3
    baseline_runs = 200 if args.quick else 500
    folder = tempfile.mkdtemp(prefix="rigbook-bench-trajectory-")
    try:
        small = best_of(repeats, lambda: measure_ours(500, folder))
        small_raw = best_of(repeats, lambda: measure_ours(500, folder, complevel=0))
        small_per_run = min(measure_per_run_store(500, folder) for _ in range(repeats))
        large = measure_ours(n_large, folder)
        large_per_run = measure_per_run_store(n_large, folder)
        base = best_of(1 if args.quick else 2, lambda: baseline(baseline_runs, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    per_run = lambda seconds, n: seconds / n  # noqa: E731
    result = {
        "bench": "trajectory",
        "runs": n_large,
        "per_run": "float64[1000] + 3 scalars + dict(3)",
        "settings": "HDF5StorageService defaults: complib=zlib complevel=9 shuffle",
        "store_s": round(large["store_s"], 3),
        "store_per_run_s": round(large_per_run, 3),
        "load_s": round(large["load_s"], 3),
        "add_s": round(large["add_s"], 3),
        "gather_one_result_s": round(large["gather_s"], 4),
        "gather_one_result_cold_s": round(large["gather_cold_s"], 3),
        "file_mb": round(large["file_bytes"] / 1e6, 2),
        "payload_mb": round(payload_bytes(n_large) / 1e6, 2),
        "file_vs_payload": round(large["file_bytes"] / payload_bytes(n_large), 3),
        "runs_500": {
            "store_s": round(small["store_s"], 3),
            "store_uncompressed_s": round(small_raw["store_s"], 3),
            "store_per_run_s": round(small_per_run, 3),
            "load_s": round(small["load_s"], 3),
            "gather_one_result_s": round(small["gather_s"], 4),
        },
        "baseline": {
            "what": "plain h5py, one group per run and per value (pypet's pattern), gzip 9 on arrays",
            "runs": baseline_runs,
            "store_s": round(base["store_s"], 3),
            "load_s": round(base["load_s"], 3),
            "file_mb": round(base["file_bytes"] / 1e6, 2),
        },
        "store_speedup_vs_baseline": round(per_run(base["store_s"], baseline_runs) / per_run(large["store_s"], n_large), 1),
        "load_speedup_vs_baseline": round(per_run(base["load_s"], baseline_runs) / per_run(large["load_s"], n_large), 1),
        "budget": {"500_store_s": 0.4, "500_load_s": 0.15, "10000_store_s": 10, "10000_load_s": 10},
        "python": sys.version.split()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
