"""The command line as a user runs it: `rigbook record`, `rigbook inspect`, a rig of one's own."""

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from rigbook.app import cli


def run_rigbook(*args, cwd=None, env=None, timeout=180):
    environment = dict(os.environ)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "rigbook", *args], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=timeout)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One headless recording shared by the tests that read it."""
    root = tmp_path_factory.mktemp("store")
    config = tmp_path_factory.mktemp("config")
    result = run_rigbook("record", "--duration", "1.5", "--subject", "fish-3", "--task", "free-swim",
                         "--root", str(root), "--formats", "csv,json,hdf5",
                         env={"RIGBOOK_CONFIG_DIR": str(config)})
    return root, result


def test_record_writes_everything_and_exits_zero(recorded):
    root, result = recorded
    assert result.returncode == 0, result.stdout + result.stderr
    folder = root / "fish-3" / "free-swim"
    assert f"into {folder}" in result.stdout
    assert "all files written." in result.stdout
    for name in ("tracker", "camera", "vigor", "stimulus_gratings"):
        assert (folder / "streams" / f"{name}.arrows").is_file()
        for suffix in (".csv", ".json", ".hdf5"):
            assert (folder / f"{name}{suffix}").is_file(), name + suffix
    tracker = pd.read_csv(folder / "tracker.csv")
    assert 0.8 * 750 <= len(tracker) <= 1.2 * 750  # 1.5 s at 500 Hz
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["general"]["task_id"] == "free-swim"


def test_inspect_shows_what_the_recording_holds(recorded):
    root, _ = recorded
    result = run_rigbook("inspect", str(root))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "subject fish-3: 1 task(s)" in out
    assert "task free-swim" in out
    rows = len(pd.read_csv(root / "fish-3" / "free-swim" / "tracker.csv"))
    assert f"stream tracker: {rows} rows" in out
    assert "0 dropped" in out and "protocol gratings" in out
    task_only = run_rigbook("inspect", str(root / "fish-3" / "free-swim"))
    assert task_only.returncode == 0 and f"stream tracker: {rows} rows" in task_only.stdout


def test_inspect_of_a_missing_path_names_it():
    result = run_rigbook("inspect", "/no/such/place")
    assert result.returncode == 2
    assert "/no/such/place does not exist" in result.stderr


def test_record_refuses_a_bad_id_and_writes_nothing(tmp_path):
    result = run_rigbook("record", "--duration", "1", "--subject", "a/b", "--task", "t", "--root", str(tmp_path),
                         env={"RIGBOOK_CONFIG_DIR": str(tmp_path / "cfg")})
    assert result.returncode == 2
    assert "'a/b'" in result.stderr
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("args, message", [
    (["--duration", "0"], "duration must be positive"),
    (["--duration", "abc"], "not a number of seconds"),
    (["--duration", "1", "--formats", "csv,xls"], "unknown export format 'xls'"),
])
def test_record_refuses_bad_options(args, message):
    result = run_rigbook("record", "--subject", "s", "--task", "t", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_rig_of_ones_own_plugs_in_without_editing_rigbook(tmp_path):
    script = tmp_path / "my_rig.py"
    script.write_text(textwrap.dedent('''
        import time
        from collections import namedtuple

        from rigbook.app import Rig, Source

        Reading = namedtuple("Reading", ["temperature", "pressure"])


        def thermometer(queue, stop_event, rate=50.0):
            while not stop_event.wait(1 / rate):
                queue.put(time.monotonic(), Reading(21.5, 1013.0))


        def make_rig():
            return Rig(name="bench thermometer", sources=[
                Source("thermometer", thermometer, options=dict(rate=50.0), goal_rate=50.0),
            ])
    '''))
    result = run_rigbook("--rig", f"{script}:make_rig", "record", "--duration", "1", "--subject", "room-1",
                         "--task", "t1", "--root", str(tmp_path / "data"), "--formats", "parquet",
                         env={"RIGBOOK_CONFIG_DIR": str(tmp_path / "cfg")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bench thermometer" in result.stdout
    table = pd.read_parquet(tmp_path / "data" / "room-1" / "t1" / "thermometer.parquet")
    assert list(table.columns) == ["t", "temperature", "pressure"]
    assert (table["temperature"] == 21.5).all() and 25 <= len(table) <= 75

    # Back to the demo rig with the same config folder: the thermometer rig's settings are its own.
    result = run_rigbook("record", "--duration", "1", "--subject", "fish-1", "--task", "t1", "--restore",
                         "--root", str(tmp_path / "data"), env={"RIGBOOK_CONFIG_DIR": str(tmp_path / "cfg")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "protocol gratings" in result.stdout
    assert "not restored" not in result.stderr, result.stderr


def test_a_broken_rig_script_is_told_in_one_line(tmp_path):
    script = tmp_path / "bad_rig.py"
    script.write_text("import no_such_module_here\n")
    result = run_rigbook("--rig", f"{script}:make_rig", "record", "--duration", "1", "--subject", "s",
                         "--task", "t", "--root", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"rigbook: --rig {script}:make_rig: ModuleNotFoundError: No module named 'no_such_module_here'"]


def test_without_a_display_rigbook_records_headless_and_says_so(tmp_path, monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert not cli.has_display()
    monkeypatch.setattr(cli, "DEFAULT_HEADLESS_DURATION_S", 1.0)
    monkeypatch.setenv("RIGBOOK_DATA_DIR", str(tmp_path / "data"))
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "no display" in out and "headless" in out and "all files written." in out
    subject = tmp_path / "data" / cli.DEFAULT_SUBJECT
    (task,) = list(subject.iterdir())
    assert (task / "metadata.json").is_file()


def test_display_detection(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert not cli.has_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert cli.has_display()
    monkeypatch.delenv("WAYLAND_DISPLAY")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert cli.has_display()
