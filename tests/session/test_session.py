"""The session without Qt, as the window and `rigbook record` use it: record, stop, save, start again."""

import json

import h5py
import pandas as pd
import pytest

from rigbook.collectors.params import Param, Parametrized
from rigbook.session import Rig, Session, Source
from rigbook.storage import read_info
from tests.session.conftest import wait_until
from tests.session.sources_for_tests import counter_then_wider, steady_counter, unplugged_camera


def record_for(session, rows, **options):
    """Start a recording, drain until the counter has ``rows`` rows, stop and save; return the result."""
    session.start_recording(**options)
    acc = session.accumulators["counter"]
    assert wait_until(lambda: acc.n_received >= rows, step=lambda: (session.drain(), session.poll_recording()))
    session.stop_recording()
    return session.save()


@pytest.fixture
def session(counter_rig):
    s = Session(counter_rig)
    s.start_sources()
    yield s
    s.shutdown()


def test_a_recording_is_complete_on_disk_with_t_from_its_start(session, tmp_path):
    result = record_for(session, 40, root=tmp_path, subject_id="s", task_id="t", formats=["csv"])
    folder = tmp_path / "s" / "t"
    assert result.folder == folder and result.status == "complete" and result.ok
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["general"]["status"] == "complete"
    assert metadata["general"]["time_origin"]["wall_clock"] == metadata["general"]["recording_started"]
    assert metadata["behavior"]["streams"]["counter"]["units"] == {"value": "count"}
    assert metadata["behavior"]["streams"]["counter"]["files"] == ["streams/counter.arrows"]
    table = pd.read_csv(folder / "counter.csv")
    assert len(table) >= 40
    assert -0.05 < table["t"].iloc[0] < 0.5  # t = 0 is the recording's start, not the app's
    info = read_info(folder / "streams" / "counter.arrows")
    assert info.units["value"] == "count" and info.t0_wall_clock == metadata["general"]["t0_wall_clock"]


def test_two_recordings_in_a_row_with_restored_settings_both_succeed(counter_rig, tmp_path):
    first = Session(counter_rig)
    first.start_sources()
    try:
        record_for(first, 10, root=tmp_path, subject_id="fish", task_id="session-1", formats=["csv"])
    finally:
        first.shutdown()
    again = Session(counter_rig)  # restores root, subject and task: session-1 exists now
    again.start_sources()
    try:
        assert again.settings()["task_id"] == "session-2"
        assert any("session-2" in text for _, text in again.startup_messages)
        result = record_for(again, 10)  # the restored settings, as the window's Record button uses them
        assert result.folder == tmp_path / "fish" / "session-2"
        assert again.settings()["task_id"] == "session-2"  # (the next start proposes session-3)
    finally:
        again.shutdown()


def test_an_existing_task_is_refused_unless_next_or_replace_is_chosen(session, tmp_path):
    record_for(session, 5, root=tmp_path, subject_id="s", task_id="t", formats=["csv"])
    with pytest.raises(FileExistsError, match="the next free task ID is 't-2'"):
        session.start_recording(root=tmp_path, subject_id="s", task_id="t", formats=["csv"])
    assert session.recording.stopped  # nothing started
    result = record_for(session, 5, root=tmp_path, subject_id="s", task_id="t", formats=["csv"], if_exists="next")
    assert result.folder == tmp_path / "s" / "t-2"
    old = (tmp_path / "s" / "t" / "counter.csv").read_bytes()
    result = record_for(session, 5, root=tmp_path, subject_id="s", task_id="t", formats=["csv"],
                        if_exists="replace")
    assert result.folder == tmp_path / "s" / "t"
    moved = list((tmp_path / ".replaced" / "s").glob("t-*/counter.csv"))
    assert len(moved) == 1 and moved[0].read_bytes() == old  # moved aside, never deleted


def test_a_relative_root_is_made_absolute(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = record_for(session, 5, root="data", subject_id="s", task_id="t", formats=[])
    assert result.folder == tmp_path / "data" / "s" / "t"
    assert session.settings()["root"] == str(tmp_path / "data")


def test_settings_of_two_rigs_stay_apart(tmp_path):
    def speed_protocol(name, default):
        from rigbook.session.protocol import Protocol

        class Ramp(Protocol):
            def make_params(self, tree):
                return Parametrized(name=f"stimulus/protocol/{name}", tree=tree, params={"speed": Param(default)})
        Ramp.name = name
        return Ramp

    rig_a = Rig(name="rig a", sources=[Source("counter", steady_counter, in_process=True)],
                protocols={"ramp": speed_protocol("ramp", 1.0)})
    rig_b = Rig(name="rig b", sources=[Source("counter", steady_counter, in_process=True)],
                protocols={"sweep": speed_protocol("sweep", 2.0)})
    a = Session(rig_a)
    a.apply({"stimulus/protocol/ramp/speed": 5.0, "general/session/subject_id": "fish-a"})
    a.shutdown()
    b = Session(rig_b)
    try:
        assert not [text for level, text in b.startup_messages if "not restored" in text]
        assert b.settings()["subject_id"] != "fish-a"
    finally:
        b.shutdown()
    a_again = Session(rig_a)
    try:
        assert a_again.protocols["ramp"].params.speed == 5.0
        assert a_again.settings()["subject_id"] == "fish-a"
        config = a_again.collector.config_path
        assert "rig-a" in str(config)
        with h5py.File(config, "r"):  # readable with plain h5py
            pass
    finally:
        a_again.shutdown()


def test_bad_settings_are_refused_naming_the_parameter(session):
    with pytest.raises(ValueError, match="general/session has no parameter 'speed'"):
        session.apply({"general/session/speed": 1})
    with pytest.raises(ValueError, match="no parameter owner 'stimulus/protocol/nope'"):
        session.apply({"stimulus/protocol/nope/speed": 1})


def test_a_dead_source_is_reported_once_with_its_last_error(tmp_path):
    rig = Rig(name="flaky rig", sources=[Source("camera", unplugged_camera, in_process=True)])
    session = Session(rig)
    messages = []
    session.message.connect(lambda level, text: messages.append((level, text)))
    session.start_sources()
    try:
        assert wait_until(session.all_sources_dead, step=session.drain)
        wait_until(lambda: messages, step=session.drain, timeout=5)
        for _ in range(3):
            session._last_source_check = 0.0
            session.drain()
        errors = [text for level, text in messages if level == "error"]
        assert errors == ["source camera stopped (exit code 1): RuntimeError: camera unplugged"]
        assert session.accumulators["camera"].n_received == 5  # what it sent before dying is kept
    finally:
        session.shutdown()


def test_a_dead_source_process_reports_its_error_too():
    rig = Rig(name="flaky rig", sources=[Source("camera", unplugged_camera)])
    session = Session(rig)
    messages = []
    session.message.connect(lambda level, text: messages.append((level, text)))
    session.start_sources()
    try:
        assert wait_until(lambda: any("camera unplugged" in t for _, t in messages), timeout=60,
                          step=lambda: (setattr(session, "_last_source_check", 0.0), session.drain()))
    finally:
        session.shutdown()


class BrokenProtocol:
    """A user's protocol with a bug: update() returns a value the log does not know."""

    name = "broken"
    dynamic_fields = ("speed",)
    dynamic_parameters = ["speed"]
    duration = 60.0

    def __init__(self, tree):
        self.params = Parametrized(name="stimulus/protocol/broken", tree=tree, params={"x": Param(1.0)})
        self.running = False

    def start(self, t):
        self.running = True

    def stop(self):
        self.running = False

    def update(self, t, estimates):
        return {"sped": 1.0}  # typo: not a logged parameter

    def completed_trials(self, t):
        return []

    def finished(self, t):
        return False

    def elapsed(self, t):
        return 0.0

    def progress(self, t):
        return 0.0


def test_a_failing_protocol_is_reported_once_and_the_recording_goes_on(tmp_path):
    rig = Rig(name="buggy rig", sources=[Source("counter", steady_counter, in_process=True)],
              protocols={"broken": BrokenProtocol})
    session = Session(rig)
    messages = []
    session.message.connect(lambda level, text: messages.append((level, text)))
    session.start_sources()
    try:
        result = record_for(session, 40, root=tmp_path, subject_id="s", task_id="t", formats=["csv"])
        errors = [text for level, text in messages if level == "error"]
        assert len(errors) == 1 and "sped" in errors[0]  # told once, not at every tick
        assert result.errors == []
        assert len(pd.read_csv(result.folder / "counter.csv")) >= 40
    finally:
        session.shutdown()


def test_a_schema_change_mid_recording_exports_and_lists_every_part(tmp_path):
    rig = Rig(name="growing rig", sources=[Source("counter", counter_then_wider, in_process=True,
                                                  options=dict(switch_after=20))])
    session = Session(rig)
    session.start_sources()
    try:
        session.start_recording(root=tmp_path, subject_id="s", task_id="t", formats=["csv", "parquet"])
        acc = session.accumulators["counter"]
        assert wait_until(lambda: "extra" in acc.columns and acc.n_received > 10,
                          step=lambda: (session.drain(), session.poll_recording()))
        session.stop_recording()
        result = session.save()
    finally:
        session.shutdown()
    folder = tmp_path / "s" / "t"
    assert result.ok, result.errors
    first, second = pd.read_csv(folder / "counter.csv"), pd.read_parquet(folder / "counter_2.parquet")
    assert list(first.columns) == ["t", "value"] and list(second.columns) == ["t", "value", "extra"]
    assert first["value"].iloc[-1] + 1 == second["value"].iloc[0]  # nothing lost between the parts
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["behavior"]["streams"]["counter"]["files"] == ["streams/counter.arrows",
                                                                   "streams/counter_2.arrows"]
    listed = {entry["path"] for entry in metadata["general"]["files"]}
    assert {"counter.csv", "counter_2.csv", "counter.parquet", "counter_2.parquet"} <= listed


def test_record_stops_with_a_clear_message_when_its_only_source_died(tmp_path):
    from rigbook.session import record

    rig = Rig(name="flaky rig", sources=[Source("camera", unplugged_camera, in_process=True)])
    result, problems, _ = record(rig, 600.0, "s", "t", root=tmp_path, formats=["csv"])
    # Not a 10-minute wait ending in "no samples": it ends when the source dies, saved and marked.
    assert "every source stopped (camera): recording ended" in problems
    assert result.status == "interrupted" and result.duration < 600
    assert json.loads((result.folder / "metadata.json").read_text())["general"]["status"] == "interrupted"


def test_metadata_records_the_rig_script_with_its_hash(tmp_path):
    import hashlib

    script = tmp_path / "my_rig.py"
    script.write_text("# a rig script\n")
    rig = Rig(name="scripted rig", sources=[Source("counter", steady_counter, in_process=True)], script=script)
    session = Session(rig)
    session.start_sources()
    try:
        result = record_for(session, 5, root=tmp_path / "data", subject_id="s", task_id="t", formats=[])
    finally:
        session.shutdown()
    general = json.loads((result.folder / "metadata.json").read_text())["general"]
    assert general["rig_script"] == {"path": str(script.resolve()),
                                     "sha256": hashlib.sha256(script.read_bytes()).hexdigest()}
    assert general["experiment_code"]["path"] == str(script)


def test_a_rig_without_metadata_editors_still_gets_experimenter_and_notes(counter_rig):
    session = Session(counter_rig)
    try:
        owners = {owner.name: list(owner.params.values) for owner in session.editable_params()}
        assert owners["general/experiment"] == ["experimenter", "notes"]
    finally:
        session.shutdown()


def test_a_format_whose_library_is_missing_is_refused_before_recording(session, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pynwb" else real(name, *a))
    with pytest.raises(ValueError, match=r"'nwb' needs a library that is not installed: pip install 'rigbook\[nwb\]'"):
        session.start_recording(root=tmp_path, subject_id="s", task_id="t", formats=["csv", "nwb"])
    assert not (tmp_path / "s").exists()
