"""SIGKILL a recording process at random moments; nothing completed may be lost."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from rigbook.storage import TaskReader, read_stream

sys.path.insert(0, str(Path(__file__).parent))
import crash_child  # noqa: E402

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]
# A longer stress run: RIGBOOK_CRASH_KILLS=200 RIGBOOK_CRASH_SEED=7 pytest tests/storage/test_crash.py
N_KILLS = int(os.environ.get("RIGBOOK_CRASH_KILLS", 24))
SEED = int(os.environ.get("RIGBOOK_CRASH_SEED", 20261121))


def run_and_kill(root, delay):
    """Start the child, kill it ``delay`` s after it is ready; return what it reported."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(root)], stdout=subprocess.PIPE, env=env, text=True
    )
    lines = []
    ready = threading.Event()

    def collect():
        for line in child.stdout:
            lines.append(line.split())
            ready.set()
        ready.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    assert ready.wait(30), "the recording process never started"
    time.sleep(delay)  # the random kill moment, not a wait for work
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    reader.join(30)
    assert child.returncode == -signal.SIGKILL, "the child ended before it was killed"
    trials_done = max((int(v) + 1 for k, *v in lines if k == "T" for v in v), default=0)
    rows_flushed = max((int(v) for k, *v in lines if k == "S" for v in v), default=0)
    return trials_done, rows_flushed


def check_task(task, trials_done, rows_flushed):
    reader = TaskReader(task)
    df = reader.trials
    # The kill may land after a trial was written but before it was reported.
    assert trials_done <= len(df) <= trials_done + 1
    for i in range(len(df)):
        row = df.iloc[i]
        for name, value in crash_child.trial_attrs(i).items():
            got = row[name].item() if hasattr(row[name], "item") else row[name]
            assert got == value and type(got) is type(value), (i, name, got, value)
    if len(df):
        assert df["big"].dtype == np.int64 and df["ok"].dtype == bool
        emgs = list(reader.iterarray("emg"))
        cursors = list(reader.iterarray("cursor"))
        assert len(emgs) == len(df)
        for i in range(len(df)):
            np.testing.assert_array_equal(emgs[i], crash_child.emg(i))
            np.testing.assert_array_equal(cursors[i], crash_child.cursor(i))
    stream_path = task / "streams" / "tracking.arrows"
    if stream_path.exists():
        table = read_stream(stream_path)
        assert table.num_rows >= rows_flushed
        if table.num_rows:
            assert table.column("x").to_pylist() == list(range(table.num_rows))
    else:
        assert rows_flushed == 0
    return len(df)


def check_files_open_with_other_tools(task, n_trials):
    """After recovery, pandas, h5py and pyarrow open every file as they are."""
    TaskReader(task).recover()
    if (task / "trials.csv").exists():
        assert len(pd.read_csv(task / "trials.csv")) == n_trials
        json.loads((task / ".trials.types.json").read_text())
    for name in ("emg", "cursor"):
        path = task / f"{name}.hdf5"
        if n_trials or path.exists():
            with h5py.File(path, "r") as f:
                assert sorted(f.keys(), key=int) == [str(i) for i in range(n_trials)]
                for i in range(n_trials):
                    f[str(i)][()]
    assert not list(task.glob(".*.journal"))


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_completed(tmp_path):
    rng = random.Random(SEED)
    totals = {"trials": 0, "rows": 0, "mid_recording": 0}
    for k in range(N_KILLS):
        root = tmp_path / f"run{k}"
        delay = rng.choice([0.0, rng.uniform(0, 0.05), rng.uniform(0.05, 0.6)])
        trials_done, rows_flushed = run_and_kill(root, delay)
        task = root / "subject" / "task"
        if not task.exists():
            continue  # killed before the task folder existed: nothing to lose
        n_trials = check_task(task, trials_done, rows_flushed)
        check_files_open_with_other_tools(task, n_trials)
        totals["trials"] += trials_done
        totals["rows"] += rows_flushed
        totals["mid_recording"] += trials_done > 0
    # The kills must have hit running recordings, not only start-ups.
    assert totals["mid_recording"] >= N_KILLS // 2, totals
