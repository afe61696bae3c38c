"""rigbook.open_session: one object for a session, complete or killed, read without changing it."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import rigbook
from rigbook.storage import StreamInfo, TaskWriter, Trial

REPO = Path(__file__).resolve().parents[2]
T0 = "2026-12-05T10:00:00+01:00"


def info(**units):
    return StreamInfo(t0_wall_clock=T0, recording_started=T0, units=units)


def write_session(folder, status="complete"):
    with TaskWriter(folder) as task:
        for i, n in enumerate((4, 5)):
            trial = Trial({"trial": i, "ok": i == 0})
            trial.add_array("tracked", data=np.vstack([np.arange(n) / 10, np.full(n, i)]),
                            fields=["t", "x"], time_field="t", units={"t": "s", "x": "mm"})
            task.write(trial)
        with task.stream("tracker", metadata=info(x="mm")) as log:
            log.append(pa.record_batch({"t": np.arange(3) / 10, "x": np.arange(3, dtype=np.int16)}))
        # A schema change continued the stream in a second part.
        with task.stream("tracker_2", metadata=info(x="mm", y="mm")) as log:
            log.append(pa.record_batch({"t": np.arange(3, 5) / 10, "x": np.arange(3, 5, dtype=np.int16),
                                        "y": np.ones(2)}))
    metadata = {"general": {"status": status, "subject_id": "fish", "task_id": folder.name,
                            "t0_wall_clock": T0, "end_time": T0},
                "behavior": {"streams": {"tracker": {"dropped": 0, "file": "streams/tracker.arrows"}}}}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def fingerprint(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_import_rigbook_stays_light():
    code = "import sys, rigbook; rigbook.open_session; print(sorted(m for m in ('pandas', 'PyQt5', 'qtpy') if m in sys.modules))"
    code_light = "import sys, rigbook; print(sorted(m for m in ('pandas', 'pyarrow', 'h5py', 'PyQt5') if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    light = subprocess.run([sys.executable, "-c", code_light], capture_output=True, text=True, env=env, check=True)
    assert light.stdout.strip() == "[]"
    lazy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "PyQt5" not in lazy.stdout and "qtpy" not in lazy.stdout


def test_complete_session(tmp_path):
    folder = write_session(tmp_path / "fish" / "t1")
    session = rigbook.open_session(folder)
    assert list(session.streams) == ["tracker"]  # tracker_2 is its second part
    tracker = session.streams["tracker"]
    assert tracker.x.tolist() == [0, 1, 2, 3, 4]
    assert tracker.part.tolist() == [1, 1, 1, 2, 2]
    assert tracker.y.isna().tolist() == [True, True, True, False, False]
    with_clock = session.stream("tracker", wall_clock=True)
    assert with_clock.wall_clock[1] == pd.Timestamp(T0) + pd.Timedelta(seconds=0.1)
    assert session.units["tracker"]["x"] == "mm" and session.units["tracker"]["t"] == "s"
    assert session.trials.trial.tolist() == [0, 1]
    tracked = session.arrays["tracked"]
    assert tracked.data.shape == (2, 2, 5) and tracked.shapes == [(2, 4), (2, 5)]
    assert tracked.fields == ["t", "x"] and tracked.field_axis == 1 and tracked.units["x"] == "mm"
    np.testing.assert_array_equal(tracked.field("x")[1], np.ones(5))
    assert session.metadata["general"]["subject_id"] == "fish"
    assert session.status == "complete" and session.t0_wall_clock == T0
    summary = session.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["streams"]["tracker"]["rows"] == 5
    assert summary["streams"]["tracker"]["files"] == ["streams/tracker.arrows", "streams/tracker_2.arrows"]
    assert summary["trials"]["count"] == 2 and summary["problems"] == []
    assert summary["unfinished"] is False and summary["journal_only_arrays"] == []


def test_unknown_stream_lists_the_others(tmp_path):
    session = rigbook.open_session(write_session(tmp_path / "t"))
    with pytest.raises(KeyError, match="tracker"):
        session.streams["camera"]


def test_not_a_folder():
    with pytest.raises(FileNotFoundError, match="/no/such"):
        rigbook.open_session("/no/such/session")


KILLED_CHILD = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np, pyarrow as pa
    from rigbook.storage import StreamInfo, TaskWriter, Trial
    folder = sys.argv[1]
    task = TaskWriter(folder)
    with open(os.path.join(folder, "metadata.json"), "w") as f:
        json.dump({"general": {"status": "recording", "t0_wall_clock": "2026-12-05T10:00:00+00:00"}}, f)
    log = task.stream("tracker", metadata=StreamInfo(t0_wall_clock="2026-12-05T10:00:00+00:00", units={"x": "mm"}))
    for i in range(3):
        trial = Trial({"trial": i})
        trial.add_array("a", data=np.full(4, i, dtype=np.float32))
        task.write(trial)
        log.append(pa.record_batch({"t": np.array([i / 10]), "x": np.array([float(i)])}))
    log.flush()
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_sigkilled_session_opens_without_being_changed(tmp_path):
    folder = tmp_path / "fish" / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.run([sys.executable, "-c", KILLED_CHILD, str(folder)], env=env, timeout=60)
    assert child.returncode == -signal.SIGKILL
    before = fingerprint(folder)
    session = rigbook.open_session(folder)
    assert session.status == "recording"
    assert session.streams["tracker"].x.tolist() == [0.0, 1.0, 2.0]
    assert session.units["tracker"]["x"] == "mm"
    assert session.trials.trial.tolist() == [0, 1, 2]
    assert session.journal_only_arrays == ["a"]
    np.testing.assert_array_equal(session.arrays["a"].data, np.repeat(np.arange(3.0), 4).reshape(3, 4))
    summary = session.summary()
    assert summary["unfinished"] is True and summary["journal_only_arrays"] == ["a"]
    assert fingerprint(folder) == before


def test_broken_files_become_problems_in_the_summary(tmp_path):
    folder = write_session(tmp_path / "t")
    (folder / "metadata.json").write_text("{not json")
    (folder / "streams" / "noise.arrows").write_bytes(os.urandom(300))
    (folder / "trials.csv").write_bytes(b"trial\n\xff\xfe\n")
    session = rigbook.open_session(folder)
    summary = session.summary()
    files = {p["file"] for p in summary["problems"]}
    assert {"metadata.json", "streams/noise.arrows", "trials.csv"} <= files
    assert summary["streams"]["noise"]["unreadable"] is True
    assert summary["streams"]["tracker"]["rows"] == 5
    with pytest.raises(ValueError, match="noise.arrows"):
        session.streams["noise"]


def test_the_recorders_list_of_files_in_metadata_says_which_logs_are_one_stream(tmp_path):
    folder = tmp_path / "fish" / "t"
    with TaskWriter(folder) as task:
        for name, value in (("cam", 1.0), ("cam_2", 2.0)):  # two streams, one named like a later part
            with task.stream(name, metadata=info()) as log:
                log.append(pa.record_batch({"t": np.arange(3.0), "x": np.full(3, value)}))
    scanned = rigbook.open_session(folder)
    assert list(scanned.streams) == ["cam"] and len(scanned.streams["cam"]) == 6  # names alone: one stream
    (folder / "metadata.json").write_text(json.dumps({"general": {"status": "complete"}, "camera": {"streams": {
        "cam": {"files": ["streams/cam.arrows"]}, "cam_2": {"files": ["streams/cam_2.arrows"]}}}}))
    listed = rigbook.open_session(folder)
    assert sorted(listed.streams) == ["cam", "cam_2"]
    assert listed.streams["cam_2"]["x"].tolist() == [2.0, 2.0, 2.0]
