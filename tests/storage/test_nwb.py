"""NWB export: the file reads back with pynwb to the same values; nwbinspector finds nothing serious."""

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from rigbook.storage import StreamInfo, TaskWriter, Trial  # noqa: E402
from rigbook.storage.nwb import export_nwb  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
T0 = "2026-12-05T10:00:00.250000+01:00"
RNG = np.random.default_rng(3)


def info(**units):
    return StreamInfo(t0_wall_clock=T0, recording_started=T0, units=units)


def make_session(folder):
    n = 200
    t = np.sort(RNG.uniform(0, 4, n))
    tracker = {"t": t, "x": RNG.normal(size=n), "y": RNG.normal(size=n),
               "tail_angle": RNG.normal(size=n).astype(np.float32)}
    stim_t = np.arange(40) / 10
    stimulus = {"t": stim_t, "velocity": np.where(stim_t > 2, 5.5, 0.25), "moving": (stim_t > 2).astype(float),
                "contrast": np.ones(40)}
    with TaskWriter(folder) as task:
        with task.stream("tracker", metadata=info(x="mm", y="mm", tail_angle="radians")) as log:
            log.append(pa.record_batch(tracker))
        with task.stream("stimulus_gratings", metadata=info(velocity="mm/s")) as log:
            log.append(pa.record_batch(stimulus))
        with task.stream("camera", metadata=info(fps="Hz")) as log:
            log.append(pa.record_batch({"t": np.arange(10) / 5, "fps": np.full(10, 99.5)}))
        with task.stream("vigor", metadata=info()) as log:
            log.append(pa.record_batch({"t": stim_t, "vigor": np.linspace(0, 1, 40)}))
        for i in range(3):
            trial = Trial({"trial": i, "start_time": float(i), "stop_time": i + 0.8, "label": f"r{i}", "ok": i != 1})
            samples = np.vstack([i + np.arange(5 + i) / 10, np.full(5 + i, float(i))])
            trial.add_array("trial_tracker", data=samples, fields=["t", "x"], time_field="t",
                            units={"t": "s", "x": "mm"})
            task.write(trial)
    metadata = {
        "rigbook_format": 1,
        "general": {"status": "complete", "subject_id": "fish-9", "task_id": folder.name, "rig": "test rig",
                    "t0_wall_clock": T0, "experiment": {"experimenter": "Doe, Jane", "notes": "calm fish"}},
        "animal": {"fish": {"species": "Danio rerio", "genotype": "wild type", "age": 6, "sex": "female",
                            "comments": "from tank 3"}},
        "stimulus": {"protocol_name": "gratings",
                     "streams": {"stimulus_gratings": {"file": "streams/stimulus_gratings.arrows"}}},
        "behavior": {"streams": {"tracker": {"source": "sim"}, "vigor": {}}},
        "camera": {"streams": {"camera": {"source": "cam"}}},
    }
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder, tracker, stimulus


def test_round_trip_gives_the_same_values(tmp_path):
    folder, tracker, stimulus = make_session(tmp_path / "fish-9" / "t1")
    out = export_nwb(folder)
    assert out == folder / "session.nwb"
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time == datetime.fromisoformat(T0)
        assert nwb.session_id == "t1" and list(nwb.experimenter) == ["Doe, Jane"]
        assert "calm fish" in nwb.session_description
        assert nwb.subject.subject_id == "fish-9" and nwb.subject.sex == "F" and nwb.subject.age == "P6D"
        assert nwb.subject.species == "Danio rerio"
        behavior = nwb.processing["behavior"]
        xy = behavior["tracker_position"]["tracker_xy"]
        np.testing.assert_array_equal(xy.data[:], np.column_stack([tracker["x"], tracker["y"]]))
        np.testing.assert_array_equal(xy.timestamps[:], tracker["t"])
        assert xy.unit == "millimeters"  # (spelled out, as NWB best practice asks)
        tail = behavior["tracker_tail_angle"]
        assert tail.unit == "radians" and tail.data.dtype == np.float32
        np.testing.assert_array_equal(tail.data[:], tracker["tail_angle"])
        velocity = nwb.stimulus["stimulus_gratings_velocity"]
        np.testing.assert_array_equal(velocity.data[:], stimulus["velocity"])
        np.testing.assert_allclose(velocity.get_timestamps(), stimulus["t"], atol=1e-12)
        assert velocity.unit == "mm/s"
        assert "stimulus_gratings_contrast" not in nwb.stimulus  # constant: not a dynamic parameter
        epochs = nwb.epochs.to_dataframe()
        assert [list(tags) for tags in epochs.tags] == [["moving=0"], ["moving=1"]]
        np.testing.assert_allclose(epochs.start_time, [0.0, 2.1], atol=1e-12)
        assert behavior["camera_fps"].unit == "Hz"
        assert behavior["vigor_vigor"].data[-1] == 1.0
        trials = nwb.trials.to_dataframe()
        assert trials.start_time.tolist() == [0.0, 1.0, 2.0]
        assert trials.stop_time.tolist() == [0.8, 1.8, 2.8]
        assert trials.label.tolist() == ["r0", "r1", "r2"] and trials.ok.tolist() == [True, False, True]
        joined = behavior["trial_trial_tracker_x"]
        assert joined.unit == "mm" and joined.data[:].tolist() == [0.0] * 5 + [1.0] * 6 + [2.0] * 7
        kept = json.loads(nwb.scratch["rigbook_metadata_json"].data)
        assert kept["animal"]["fish"]["comments"] == "from tank 3"


def test_refuses_to_replace_unless_asked(tmp_path):
    folder, _, _ = make_session(tmp_path / "s" / "t")
    out = export_nwb(folder, tmp_path / "x.nwb")
    with pytest.raises(FileExistsError, match="x.nwb"):
        export_nwb(folder, out)
    assert export_nwb(folder, out, overwrite=True) == out


def test_a_session_that_never_says_when_t0_was_is_refused(tmp_path):
    folder = tmp_path / "t"
    with TaskWriter(folder) as task:
        with task.stream("tracker") as log:
            log.append(pa.record_batch({"t": np.arange(3.0), "x": np.arange(3.0)}))
    with pytest.raises(ValueError, match="t = 0"):
        export_nwb(folder)
    assert not (folder / "session.nwb").exists()


@pytest.fixture(scope="module")
def demo_recording(tmp_path_factory):
    """A 10-s demo-rig recording made the way a user makes one."""
    root = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, PYTHONPATH=str(REPO), RIGBOOK_CONFIG_DIR=str(root / "config"), QT_QPA_PLATFORM="offscreen")
    subprocess.run(
        [sys.executable, "-m", "rigbook", "record", "--duration", "10", "--subject", "fish-1", "--task", "t1",
         "--root", str(root / "data"), "--formats", "csv,nwb"],
        cwd=root, env=env, check=True, capture_output=True, timeout=300,
    )
    return root / "data" / "fish-1" / "t1"


def test_nwbinspector_is_clean_on_a_demo_recording(demo_recording):
    out = demo_recording / "session.nwb"  # written at the session's end, as --formats nwb asks
    listed = json.loads((demo_recording / "metadata.json").read_text())["general"]["files"]
    assert "session.nwb" in [entry["path"] for entry in listed]
    serious = [
        f"{m.importance.name} {m.check_function_name} {m.object_name}: {m.message}"
        for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(out))
        if m.importance in (nwbinspector.Importance.CRITICAL, nwbinspector.Importance.BEST_PRACTICE_VIOLATION)
    ]
    assert serious == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        tracker = pd.read_csv(demo_recording / "tracker.csv")
        xy = nwb.processing["behavior"]["tracker_position"]["tracker_xy"]
        assert len(xy.data) == len(tracker)
        np.testing.assert_array_equal(xy.data[:, 0], tracker.x.to_numpy())
        assert nwb.session_start_time.tzinfo is not None
