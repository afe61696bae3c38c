"""`rigbook record` as a scientist's session ends: signals, a kill then `rigbook finish`, a full disk, parameters."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from rigbook.storage import read_stream
from tests.session.test_cli import run_rigbook


def start_record(tmp_path, *args, duration=60):
    env = dict(os.environ, RIGBOOK_CONFIG_DIR=str(tmp_path / "cfg"))
    return subprocess.Popen(
        [sys.executable, "-m", "rigbook", "record", "--duration", str(duration), "--subject", "fish",
         "--task", "t1", "--root", str(tmp_path / "data"), "--formats", "csv", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def metadata(folder):
    return json.loads((folder / "metadata.json").read_text())


def tracker_rows(folder):
    log = folder / "streams" / "tracker.arrows"
    try:
        return read_stream(log).num_rows if log.exists() else 0
    except (OSError, ValueError):
        return 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_finish_the_session_as_interrupted(tmp_path, signum):
    folder = tmp_path / "data" / "fish" / "t1"
    process = start_record(tmp_path)
    try:
        wait_for(lambda: tracker_rows(folder) > 200)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, out + err
    assert f"interrupted by {signal.Signals(signum).name}" in out
    assert metadata(folder)["general"]["status"] == "interrupted"
    assert len(pd.read_csv(folder / "tracker.csv")) == tracker_rows(folder) > 200
    assert "leaked semaphore" not in err and "Traceback" not in err, err


def test_a_killed_recording_is_finished_by_rigbook_finish(tmp_path):
    folder = tmp_path / "data" / "fish" / "t1"
    process = start_record(tmp_path, "--set", "stimulus/protocol/gratings/duration=0.5",
                           "--set", "stimulus/protocol/gratings/pause=0.1")
    try:
        wait_for(lambda: (folder / "trials.csv").exists() and tracker_rows(folder) > 500)
        assert metadata(folder)["general"]["status"] == "recording"
        (folder / ".tracker.csv.abc123.tmp").write_text("a killed export's leftover")
    finally:
        process.kill()
        process.communicate(timeout=30)
    rows = tracker_rows(folder)
    result = run_rigbook("finish", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    general = metadata(folder)["general"]
    assert general["status"] == "recovered"
    assert general["recovered"]["end"] > 0.5 and general["subject_id"] == "fish"
    assert general["recovered"]["temporary_files_removed"] == [".tracker.csv.abc123.tmp"]
    assert not list(folder.glob(".*.tmp"))
    assert len(pd.read_csv(folder / "tracker.csv")) == rows
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) >= 1
    import h5py

    with h5py.File(folder / "trial_tracker.hdf5", "r") as f:  # folded from the journal, plain h5py reads it
        assert len(f) == len(trials)
    again = run_rigbook("finish", str(folder))
    assert again.returncode == 2 and "not unfinished" in again.stderr


def test_record_takes_the_rig_defaults_unless_restore_and_checks_its_parameters(tmp_path):
    env = {"RIGBOOK_CONFIG_DIR": str(tmp_path / "cfg")}
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"stimulus/protocol/gratings": {"speed": 20.0, "direction": "backward"}}))
    common = ["record", "--duration", "0.5", "--subject", "fish", "--root", str(tmp_path / "data"),
              "--formats", "csv"]
    result = run_rigbook(*common, "--task", "a", "--params", str(params),
                         "--set", "stimulus/protocol/gratings/contrast=0.5", "--protocol", "gratings", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stimulus/protocol/gratings/speed = 20.0" in result.stdout
    assert "stimulus/protocol/gratings/contrast = 0.5" in result.stdout
    saved = metadata(tmp_path / "data" / "fish" / "a")["stimulus"]["protocol"]["gratings"]
    assert (saved["speed"], saved["direction"], saved["contrast"]) == (20.0, "backward", 0.5)

    # What the window saved last (here: a recording that continued from it) is used only with --restore.
    continued = run_rigbook(*common, "--task", "b", "--restore", "--set", "stimulus/protocol/gratings/speed=30",
                            env=env)
    assert continued.returncode == 0, continued.stderr
    plain = run_rigbook(*common, "--task", "c", env=env)
    assert "stimulus/protocol/gratings/speed = 10.0" in plain.stdout  # the rig's default
    restored = run_rigbook(*common, "--task", "e", "--restore", env=env)
    assert "stimulus/protocol/gratings/speed = 30.0" in restored.stdout

    for bad, message in [
        (["--set", "stimulus/protocol/gratings/speed=500"], "stimulus/protocol/gratings/speed: 500"),
        (["--set", "stimulus/protocol/gratings/speed=fast"], "'fast' (str) is not a valid float value"),
        (["--set", "stimulus/protocol/gratings/sped=1"], "has no parameter 'sped'"),
        (["--set", "speed"], "expected owner/param=value"),
        (["--protocol", "nope"], "unknown protocol 'nope'"),
        (["--params", str(tmp_path / "missing.json")], "cannot be read"),
    ]:
        refused = run_rigbook(*common, "--task", "d", *bad, env=env)
        assert refused.returncode == 2, (bad, refused.stdout, refused.stderr)
        assert message in refused.stderr, (bad, refused.stderr)
        assert not (tmp_path / "data" / "fish" / "d").exists()


QT_BLOCKED = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'pyqtgraph'):
            raise ImportError('Qt is blocked: ' + name)

sys.meta_path.insert(0, Block())
from rigbook.app.cli import main
code = main(sys.argv[1:])
assert not [m for m in sys.modules if m.split('.')[0] in ('PyQt5', 'qtpy', 'pyqtgraph')]
sys.exit(code)
"""


def test_headless_record_inspect_and_finish_run_with_every_qt_binding_blocked(tmp_path):
    env = dict(os.environ, RIGBOOK_CONFIG_DIR=str(tmp_path / "cfg"))
    root = tmp_path / "data"
    record = subprocess.run([sys.executable, "-c", QT_BLOCKED, "record", "--duration", "1", "--subject", "s",
                             "--task", "t", "--root", str(root)], capture_output=True, text=True, env=env,
                            timeout=180)
    assert record.returncode == 0, record.stdout + record.stderr
    inspect = subprocess.run([sys.executable, "-c", QT_BLOCKED, "inspect", str(root)], capture_output=True,
                             text=True, env=env, timeout=60)
    assert inspect.returncode == 0 and "task t" in inspect.stdout, inspect.stderr


def _mount_tmpfs(where, size):
    where.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def test_a_full_disk_then_freed_mid_recording_resumes_the_logs_and_records_the_outage(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "16m"):
        pytest.skip("needs root to mount a small tmpfs (the injected-ENOSPC tests cover the rest)")
    try:
        folder = disk / "data" / "fish" / "t1"
        env = dict(os.environ, RIGBOOK_CONFIG_DIR=str(tmp_path / "cfg"))
        process = subprocess.Popen(
            [sys.executable, "-m", "rigbook", "record", "--duration", "6", "--subject", "fish", "--task", "t1",
             "--root", str(disk / "data"), "--formats", "csv"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            wait_for(lambda: tracker_rows(folder) > 100)
            ballast = disk / "ballast"
            with open(ballast, "wb") as f:  # fill the disk
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            time.sleep(1.5)  # (the recording goes on meanwhile: this is the outage's length, not a wait for work)
            ballast.unlink()
            out, err = process.communicate(timeout=120)
        finally:
            process.kill()
        assert process.returncode == 1, out + err  # the session had a problem: the user must look
        assert "could not be written from t =" in out
        assert "its log could not be written from t =" in out  # (the summary's own inspect lines list it too)
        streams = metadata(folder)["behavior"]["streams"]["tracker"]
        assert streams["write_outages"] and streams["write_outages"][0]["end"] is not None
        assert len(streams["files"]) >= 2  # resumed in a new part
        parts = [read_stream(folder / name).to_pandas() for name in streams["files"]]
        t = pd.concat(parts)["t"].to_numpy()
        assert (t[1:] > t[:-1]).all()  # no row twice
        assert t[-1] > 5.0 and (t[1:] - t[:-1]).max() < 0.1  # and no gap: the rows were kept meanwhile
        assert streams["lost"] == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
