"""Benchmark: operations that must be no slower than the systems Rigbook replaces, one JSON line.

Each figure is Rigbook's median beside a naive baseline measured in the same
run, the two alternating (DESIGN.md §5):

* ``config_save``: ``DataCollector.save_config_file()`` with 200 parameters
  in 6 categories (budget 5 ms) against a per-parameter h5py writer (one
  dataset with a ``type`` attribute per parameter, as config.h5 format 1
  was written, without its read-back of the previous file). The save
  fsyncs before its atomic rename, so it waits for the disk:
  ``rigbook_cpu_ms`` is its CPU time alone, ``fsync_of_same_size_file_ms``
  what one fsync costs on this disk now (more when other processes keep
  the disk busy).
* ``metadata``: ``get_clean_dict()`` and ``save_json_log()`` of the same
  collector against ``json.dump`` of a plain dict of the same parameters
  (stytra's way); ``save_json_log`` also lists the folder and fsyncs.
* ``first_poll``: the first ``StreamRecorder.poll()`` of a recording in a
  fresh process, after ``rigbook.collectors.warmup.warm_up()`` and without
  it, against a first poll that converts numpy columns with
  ``pyarrow.array`` (which imports pandas on first use).
* ``zip``: ``storage_to_zip`` of a 2 000-trial store (6 attributes, arrays
  8 x 500 and 2 x 100 float64 per trial: 68 MB) against a plain
  ``zipfile`` ZIP_STORED copy of the same files (budget 1.2 x).
* ``trials``: ``TaskReader.trials`` of that store's 2 000 rows against
  ``pandas.read_csv`` of the same file (budget 1.5 x).
* ``gui_first_seconds_of_recording``: the longest GUI-thread block in the
  first 2 s of a recording in the app (offscreen window, demo rig; budget
  20 ms), measured as the longest gap between ticks of a 1 ms timer, beside
  the same window's 2 s of live view just before the Record click.

    .venv/bin/python bench/parity.py [--quick]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rigbook.collectors import DataCollector, Param, Parametrized  # noqa: E402
from rigbook.storage import Storage, TaskReader, Trial, storage_to_zip  # noqa: E402

CATEGORIES = ("general", "animal", "stimulus", "imaging", "behavior", "camera")
N_PARAMS = 200
N_TRIALS = 2000


def paired_medians(rigbook, baseline, repeat, writes=False):
    """Median seconds of each function, called alternately ``repeat`` times.

    With ``writes``, dirty pages are written out before each call (untimed):
    an fsync would otherwise also wait for what the other function wrote.
    """
    ours, theirs = [], []
    for _ in range(repeat):
        for fn, times in ((rigbook, ours), (baseline, theirs)):
            if writes:
                os.sync()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(theirs)


def figure(name, ours, theirs, unit="ms", budget_ratio=None, budget=None):
    scale = 1e3 if unit == "ms" else 1.0
    result = {
        "rigbook_" + unit: round(ours * scale, 3),
        "baseline": name,
        "baseline_" + unit: round(theirs * scale, 3),
        "ratio": round(ours / theirs, 3),
    }
    if budget_ratio is not None:
        result["budget_ratio"] = budget_ratio
        result["within_budget"] = result["ratio"] <= budget_ratio
    if budget is not None:
        result["budget_" + unit] = budget
        result["within_budget"] = result["rigbook_" + unit] <= budget
    return result


# -- config.h5 and metadata ------------------------------------------------------------


def make_collector():
    collector = DataCollector(experiment_code=None)
    for k, category in enumerate(CATEGORIES):
        n = N_PARAMS // len(CATEGORIES) + (k < N_PARAMS % len(CATEGORIES))
        params = {}
        for j in range(n):
            params[f"p{j}"] = [Param(float(j)), Param(j), Param(f"value {j}"), Param(bool(j % 2))][j % 4]
        Parametrized(name=f"{category}/settings", tree=collector, params=params)
    return collector


def naive_config_writer(collector, path):
    def write():
        with h5py.File(path, "w") as f:
            for owner, parametrized in collector.tracked.items():
                for name, param in parametrized.params.items().items():
                    dataset = f.create_dataset(f"{owner}/{name}", data=param.value)
                    dataset.attrs["type"] = type(param.value).__name__

    return write


def cpu_seconds(fn, repeat):
    """Median CPU time of ``fn`` (the process's, so waiting for the disk does not count)."""
    times = []
    for _ in range(repeat):
        os.sync()
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def fsync_seconds(like, repeat):
    """Median time to write and fsync a file the size of ``like`` beside it: the disk's share of a save."""
    data = os.urandom(like.stat().st_size)
    path = like.with_name(".fsync-probe")
    times = []
    for _ in range(repeat):
        os.sync()
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            start = time.perf_counter()
            os.fsync(f.fileno())
            times.append(time.perf_counter() - start)
    path.unlink()
    return statistics.median(times)


def bench_config(tmp, repeat):
    collector = make_collector()
    collector.save_config_file()  # the file exists, as from the previous session
    ours, theirs = paired_medians(
        collector.save_config_file, naive_config_writer(collector, tmp / "naive.h5"), repeat, writes=True
    )
    config = figure("per-parameter h5py writer", ours, theirs, budget=5.0)
    config["rigbook_cpu_ms"] = round(cpu_seconds(collector.save_config_file, repeat) * 1e3, 3)
    config["fsync_of_same_size_file_ms"] = round(fsync_seconds(collector.config_path, repeat) * 1e3, 3)

    plain = {
        category: {"settings": dict(collector.tracked[f"{category}/settings"].params.values)} for category in CATEGORIES
    }
    clean_ours, clean_theirs = paired_medians(collector.get_clean_dict, lambda: json.loads(json.dumps(plain)), repeat)
    folder = tmp / "session"
    folder.mkdir()

    def naive_json():
        with open(folder / "naive.json", "w") as f:
            json.dump(plain, f, indent=2)

    json_ours, json_theirs = paired_medians(
        lambda: collector.save_json_log(folder / "metadata.json"), naive_json, repeat, writes=True
    )
    metadata = {
        "get_clean_dict": figure("a copy of a plain dict of the parameters", clean_ours, clean_theirs),
        "save_json_log": figure("json.dump of a plain dict of the parameters", json_ours, json_theirs),
    }
    return config, metadata


# -- first poll of a recording -----------------------------------------------------------

FIRST_POLL = """
import sys, tempfile, time
from collections import namedtuple
import numpy as np
from rigbook.collectors import Accumulator
from rigbook.collectors.recording import StreamRecorder
from rigbook.collectors.warmup import warm_up
mode = sys.argv[1]
if mode == "warm":
    warm_up()
Sample = namedtuple("Sample", ["x", "y", "flag"])
acc = Accumulator(name="tail", t0=0.0, recording=True)
for i in range(300):
    acc.append(i / 1000, Sample(float(i), -float(i), i % 2 == 0))
if mode == "naive":
    import pyarrow as pa
    start = time.perf_counter()
    columns, _ = acc.columns_since(0)
    pa.RecordBatch.from_arrays([pa.array(v) for v in columns.values()], names=list(columns))
else:
    recorder = StreamRecorder([acc], tempfile.mkdtemp(), include_held=True)
    start = time.perf_counter()
    recorder.poll()
elapsed = time.perf_counter() - start
print(elapsed, "pandas" in sys.modules)
"""


def first_poll(mode):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", FIRST_POLL, mode], capture_output=True, text=True, env=env, check=True)
    seconds, pandas_imported = out.stdout.split()
    return float(seconds), pandas_imported == "True"


def bench_first_poll(repeat):
    runs = {"warm": [], "cold": [], "naive": []}
    imported = {}
    for _ in range(repeat):
        for mode, times in runs.items():
            seconds, imported[mode] = first_poll(mode)
            times.append(seconds)
    warm, cold, naive = (statistics.median(runs[m]) for m in ("warm", "cold", "naive"))
    result = figure("first poll converting with pyarrow.array (imports pandas)", warm, naive)
    result["rigbook_without_warm_up_ms"] = round(cold * 1e3, 3)
    result["rigbook_longest_ms"] = round(max(runs["warm"] + runs["cold"]) * 1e3, 3)
    result["pandas_imported_by_first_poll"] = {mode: imported[mode] for mode in runs}
    return result


# -- the GUI thread during the first seconds of a recording --------------------------------

GUI_BLOCKS = r"""
import json, os, sys, tempfile, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["RIGBOOK_CONFIG_DIR"] = tempfile.mkdtemp()
from qtpy import QtCore, QtWidgets
from rigbook.app.application import open_window
from rigbook.session.demo import demo_rig

app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
window = open_window(demo_rig(seed=3))
controller = window.controller

def run_for(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents(QtCore.QEventLoop.AllEvents, 5)

def longest_gap(seconds):
    # A 1 ms precise timer: the longest time between two of its ticks is the longest time
    # the GUI thread was busy with something else (a block), plus up to 1 ms.
    ticks = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.PreciseTimer)
    timer.setInterval(1)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    run_for(seconds)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return max(gaps) * 1e3, len(ticks)

deadline = time.monotonic() + 60
while not controller.session.sources_ready() and time.monotonic() < deadline:
    run_for(0.1)
run_for(1.0)
live_ms, _ = longest_gap(2.0)   # the same window, live view only (baseline)
window.session_panel.set_values(root=tempfile.mkdtemp(), subject_id="fish", task_id="t", formats=["csv"])
window.session_panel.record_button.click()
assert controller.recording, window.messages.texts("error")
recording_ms, ticks = longest_gap(2.0)
controller.stop_recording()
while controller.saving:
    run_for(0.1)
controller.shutdown()
print(json.dumps({"recording_ms": recording_ms, "live_ms": live_ms, "ticks": ticks}))
"""


def bench_gui_blocks(repeat):
    """Longest GUI-thread block in the first 2 s of a recording, beside 2 s of live view just before."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", GUI_BLOCKS], capture_output=True, text=True, env=env,
                             check=True, timeout=300)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    recording = statistics.median(r["recording_ms"] for r in runs)
    live = statistics.median(r["live_ms"] for r in runs)
    return {
        "what": "longest gap between ticks of a 1 ms timer on the GUI thread (offscreen window, demo rig)",
        "rigbook_first_2s_of_recording_ms": round(recording, 2),
        "baseline_2s_live_view_before_ms": round(live, 2),
        "runs_recording_ms": [round(r["recording_ms"], 2) for r in runs],
        "budget_ms": 20.0,
        "within_budget": recording <= 20.0,
    }


# -- zip and trials --------------------------------------------------------------------


def make_store(root):
    rng = np.random.default_rng(0)
    emg, cursor = rng.normal(size=(8, 500)), rng.normal(size=(2, 100))
    storage = Storage(root)
    storage.subject_id = "bench"
    writer = storage.create_task("task")
    for i in range(N_TRIALS):
        trial = Trial({"block": i // 100, "trial": i, "target": i % 8, "rt": 0.3 + (i % 17) / 100,
                       "success": bool(i % 3), "label": f"t{i:05d}"})
        trial.add_array("emg").stack(emg)
        trial.add_array("cursor").stack(cursor)
        writer.write(trial)
    writer.close()
    return root / "bench" / "task"


def plain_zip_copy(root, outfile):
    with zipfile.ZipFile(outfile, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root.parent).as_posix())


def bench_zip(root, tmp, repeat):
    counter = iter(range(10**6))

    def ours():
        storage_to_zip(root, tmp / f"rigbook{next(counter)}.zip")

    def theirs():
        plain_zip_copy(root, tmp / f"plain{next(counter)}.zip")

    ours(), theirs()  # the files are in the page cache for both
    result = figure("zipfile ZIP_STORED copy", *paired_medians(ours, theirs, repeat, writes=True), unit="s", budget_ratio=1.2)
    result["store_mb"] = round(sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6, 1)
    return result


def bench_trials(task, repeat):
    reader = TaskReader(task)
    csv = task / "trials.csv"
    rigbook_frame, pandas_frame = reader.trials, pd.read_csv(csv)
    assert len(rigbook_frame) == len(pandas_frame) == N_TRIALS
    return figure("pandas.read_csv", *paired_medians(lambda: reader.trials, lambda: pd.read_csv(csv), repeat),
                  budget_ratio=1.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rigbook-bench-parity-"))
    os.environ["RIGBOOK_CONFIG_DIR"] = str(tmp / "config")
    try:
        # The sub-millisecond trials read first, while this process is fresh: after the other
        # benches (thousands of objects, other code warmed) it moves by up to 0.4 ms either way.
        task = make_store(tmp / "data")
        trials = bench_trials(task, 21 if args.quick else 101)
        zipped = bench_zip(tmp / "data", tmp, 3 if args.quick else 7)
        config, metadata = bench_config(tmp, 21 if args.quick else 101)
        poll = bench_first_poll(3 if args.quick else 7)
        gui = bench_gui_blocks(1 if args.quick else 5)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "bench": "parity",
        "quick": args.quick,
        "config_save": config,
        "metadata": metadata,
        "first_poll": poll,
        "zip": zipped,
        "trials": trials,
        "gui_first_seconds_of_recording": gui,
    }
    result["within_budget"] = all(
        r["within_budget"] for r in (config, zipped, trials, gui)
    ) and not poll["pandas_imported_by_first_poll"]["warm"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
