"""The app as a user drives it: the main window with the demo rig, offscreen."""

import json

import h5py
import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pytest
from qtpy import QtCore

from rigbook.app.application import open_window
from rigbook.session.demo import demo_rig
from rigbook.storage import read_stream

STREAMS = ("tracker", "camera", "vigor", "stimulus_gratings")
TRACKER_RATE = 500.0


@pytest.fixture
def make_window(qtbot):
    windows = []

    def make():
        window = open_window(demo_rig(tracker_rate=TRACKER_RATE, seed=1))
        qtbot.addWidget(window)
        windows.append(window)
        qtbot.waitUntil(window.controller.session.sources_ready, timeout=30_000)
        return window

    yield make
    for window in windows:
        controller = window.controller
        if controller.recording or controller.saving:
            with qtbot.waitSignal(controller.session_saved, timeout=60_000, raising=False):
                controller.stop_recording()
        controller.shutdown()


def _fill_session(window, root, subject="fish-7", task="gratings-1", formats=("csv", "feather", "parquet")):
    window.session_panel.set_values(root=str(root), subject_id=subject, task_id=task, formats=list(formats))
    return root / subject / task


def test_record_two_seconds_gives_a_complete_session(qtbot, make_window, tmp_path):
    window = make_window()
    controller = window.controller
    folder = _fill_session(window, tmp_path / "data")
    window.session_panel.record_button.click()
    assert controller.recording and window.session_panel.record_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: controller.session.recording.elapsed >= 2.0, timeout=20_000)
    with qtbot.waitSignal(controller.session_saved, timeout=60_000) as saved:
        window.session_panel.record_button.click()
    result = saved.args[0]
    assert result.ok, result.errors
    assert result.folder == folder
    assert str(folder) in window.session_panel.where_label.text()

    for name in STREAMS:
        assert (folder / "streams" / f"{name}.arrows").is_file(), name
        for suffix in (".csv", ".feather", ".parquet"):
            assert (folder / f"{name}{suffix}").is_file(), name + suffix
    tracker = pd.read_feather(folder / "tracker.feather")
    assert list(tracker.columns) == ["t", "tail_angle", "x", "y", "heading"]
    expected_rows = TRACKER_RATE * result.duration
    assert abs(len(tracker) - expected_rows) <= 0.1 * expected_rows
    assert np.all(np.diff(tracker["t"]) > 0)
    # every export holds exactly what the log holds
    log = read_stream(folder / "streams" / "tracker.arrows").to_pandas()
    pd.testing.assert_frame_equal(tracker, log)
    pd.testing.assert_frame_equal(pd.read_csv(folder / "tracker.csv"), log)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "tracker.parquet"), log)
    camera = feather.read_table(folder / "camera.feather").to_pandas()
    assert 0.5 * 10 * result.duration <= len(camera) <= 1.5 * 10 * result.duration  # 10 reports/s
    assert camera["fps"].between(50, 103).all()

    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["rigbook_format"] == 1
    assert {"general", "animal", "stimulus", "imaging", "behavior", "camera"} <= set(metadata)
    assert metadata["general"]["subject_id"] == "fish-7"
    assert metadata["stimulus"]["protocol"]["gratings"]["speed"] == 10.0
    assert metadata["animal"]["fish"]["species"] == "Danio rerio"
    assert metadata["behavior"]["streams"]["tracker"]["rows_received"] == len(tracker)
    assert metadata["behavior"]["streams"]["tracker"]["dropped"] == 0
    assert metadata["camera"]["streams"]["camera"]["goal_rate_hz"] == 100.0
    listed = {f["path"] for f in metadata["general"]["files"]}
    assert {"streams/tracker.arrows", "tracker.feather", "camera.csv"} <= listed


def test_protocol_runs_to_its_end_and_writes_one_trial_per_repetition(qtbot, make_window, tmp_path):
    window = make_window()
    controller = window.controller
    editor = window.editors.editors["stimulus/protocol/gratings"]
    for name, text in (("duration", "0.4"), ("pause", "0.2"), ("repetitions", "3")):
        assert editor.set_text(name, text), editor.last_error
    folder = _fill_session(window, tmp_path, formats=["hdf5"])
    with qtbot.waitSignal(controller.session_saved, timeout=60_000) as saved:
        window.session_panel.record_button.click()
        assert not editor.isEnabled()  # protocol parameters are frozen while it runs
    assert saved.args[0].ok
    assert editor.isEnabled()
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["repetition"]) == [0, 1, 2]
    assert np.allclose(trials["t_end"] - trials["t_start"], 0.6)
    with h5py.File(folder / "trial_tracker.hdf5") as f:
        assert len(f.keys()) == 3
        first = f[sorted(f.keys())[0]][()]
        assert first.shape[0] == 5  # t, tail_angle, x, y, heading stacked as rows
        assert first.shape[1] == pytest.approx(0.6 * TRACKER_RATE, rel=0.15)
        assert first[0].min() >= trials["t_start"][0] and first[0].max() < trials["t_end"][0]
    assert (folder / "tracker.hdf5").is_file()  # the stream export sits beside the trial arrays
    with h5py.File(folder / "stimulus_gratings.hdf5") as f:
        moving = f["moving"][()]
    assert set(np.unique(moving)) == {0.0, 1.0}  # still then moving gratings were logged


def test_settings_changed_in_editors_are_restored_on_next_start(qtbot, make_window, tmp_path):
    first = make_window()
    gratings = first.editors.editors["stimulus/protocol/gratings"]
    fish = first.editors.editors["animal/fish"]
    assert gratings.set_text("speed", "17.5")
    assert fish.set_text("age", "12")
    first.session_panel.set_values(subject_id="fish-42")
    first.close()
    assert not first.isVisible()

    second = make_window()
    assert second.controller.session.protocols["gratings"].params.speed == 17.5
    assert second.editors.editors["stimulus/protocol/gratings"].fields["speed"].widget.text() == "17.5"
    assert second.editors.editors["animal/fish"].fields["age"].widget.text() == "12"
    assert second.session_panel.subject_id == "fish-42"
    assert any("restored" in text for text in second.messages.texts("info"))


def test_what_could_not_be_restored_is_shown(qtbot, make_window, tmp_path):
    first = make_window()
    first.close()
    config = first.controller.session.collector.config_path
    with h5py.File(config, "r+") as f:  # as if the limits had changed since the last session
        settings = f["stimulus/protocol/gratings/.settings"]
        entries = json.loads(settings[()])
        entries["speed"]["value"] = 500.0
        entries["repetitions"]["value"] = 2  # fine
        settings[()] = json.dumps(entries)
    second = make_window()
    warnings = second.messages.texts("warning")
    assert any("speed" in text and "500" in text for text in warnings), warnings
    assert second.controller.session.protocols["gratings"].params.speed == 50.0
    assert second.controller.session.protocols["gratings"].params.repetitions == 2


def test_bad_value_typed_in_an_editor_is_refused_with_a_message(qtbot, make_window):
    window = make_window()
    editor = window.editors.editors["stimulus/protocol/gratings"]
    assert editor.set_text("speed", "500") is False
    assert editor.set_text("repetitions", "2.5") is False
    errors = window.messages.texts("error")
    assert any("gratings/speed" in e and "outside" in e for e in errors), errors
    assert any("gratings/repetitions" in e and "whole number" in e for e in errors), errors
    assert "whole number" in window.statusBar().currentMessage()
    params = window.controller.session.protocols["gratings"].params
    assert params.speed == 10.0 and params.repetitions == 10


def test_bad_ids_do_not_start_a_recording(qtbot, make_window, tmp_path):
    window = make_window()
    window.session_panel.set_values(root=str(tmp_path), subject_id="../escape", task_id="t")
    window.session_panel.record_button.click()
    assert not window.controller.recording
    assert any("../escape" in e for e in window.messages.texts("error"))
    assert list(tmp_path.iterdir()) == []


def test_existing_task_is_never_overwritten(qtbot, make_window, tmp_path):
    window = make_window()
    folder = _fill_session(window, tmp_path)
    folder.mkdir(parents=True)
    (folder / "precious.txt").write_text("keep me")
    _click_when_asked(qtbot, "Cancel")  # the window asks: next free ID, replace, or cancel
    window.session_panel.record_button.click()
    assert not window.controller.recording
    assert (folder / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / ".replaced").exists()


def test_closing_during_a_recording_saves_what_was_recorded(qtbot, make_window, tmp_path):
    window = make_window()
    controller = window.controller
    folder = _fill_session(window, tmp_path)
    window.session_panel.record_button.click()
    qtbot.waitUntil(lambda: controller.session.recording.elapsed >= 1.0, timeout=20_000)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    assert not controller.recording and not controller.saving
    assert controller.last_result is not None and controller.last_result.ok
    metadata = json.loads((folder / "metadata.json").read_text())
    rows = read_stream(folder / "streams" / "tracker.arrows").num_rows
    assert rows >= 0.9 * TRACKER_RATE * 1.0
    assert metadata["behavior"]["streams"]["tracker"]["rows_received"] == rows
    assert (folder / "tracker.feather").is_file()
    assert all(not p.alive for p in controller.session._runners)


def test_window_shows_live_data(qtbot, make_window):
    window = make_window()
    tracker_plot = next(p for p in window.plots if p.accumulator.name == "tracker")
    qtbot.waitUntil(lambda: "tail_angle" in tracker_plot.selected_channels
                    and tracker_plot.curve_data("tail_angle")[0].size > 100, timeout=10_000)
    gauges = {g.name: g for g in window.gauges.gauges}
    qtbot.waitUntil(lambda: "Hz" in gauges["camera"].rate_label.text() and "–" not in gauges["camera"].rate_label.text(),
                    timeout=10_000)
    assert "goal 100.0 Hz" in gauges["camera"].goal_label.text()
    assert "goal 500.0 Hz" in gauges["tracker"].goal_label.text()


def test_plots_above_one_another_line_up_in_time(qtbot, make_window):
    window = make_window()
    window.resize(1400, 900)

    def view_left_edges():
        edges = []
        for plot in window.plots:
            rect = plot.view_box.sceneBoundingRect()
            edges.append(plot.plot_widget.mapTo(window, plot.plot_widget.mapFromScene(rect.topLeft())).x())
        return edges

    # lane labels of different widths in each plot ("tail_angle", "vigor", "velocity", with their ranges)
    def natural_widths():
        return {plot.plot_item.getAxis("left").textWidth for plot in window.plots}

    qtbot.waitUntil(lambda: len(natural_widths()) > 1, timeout=10_000)
    qtbot.waitUntil(lambda: len(set(view_left_edges())) == 1, timeout=5_000)
    assert view_left_edges()[0] > window.plots[0].plot_widget.mapTo(window, QtCore.QPoint(0, 0)).x()


def _click_when_asked(qtbot, label_start):
    """Press the button starting with ``label_start`` of the next modal message box."""
    from qtpy import QtWidgets

    def press():
        box = QtWidgets.QApplication.activeModalWidget()
        if box is None:
            QtCore.QTimer.singleShot(20, press)
            return
        for button in box.buttons():
            if button.text().startswith(label_start):
                button.click()
                return
    QtCore.QTimer.singleShot(0, press)


def test_two_recordings_in_a_row_with_the_restored_settings_both_succeed(qtbot, make_window, tmp_path):
    first = make_window()
    folder = _fill_session(first, tmp_path / "data", task="session-1", formats=["csv"])
    first.session_panel.record_button.click()
    qtbot.waitUntil(lambda: first.controller.session.recording.elapsed >= 0.5, timeout=20_000)
    with qtbot.waitSignal(first.controller.session_saved, timeout=60_000):
        first.session_panel.record_button.click()
    assert first.session_panel.task_id == "session-2"  # proposed after the stop
    assert first.session_panel.protocol_bar.value() == 0  # progress cleared on stop
    first.close()

    second = make_window()  # restores session-2... and session-1 is the one on disk
    assert second.session_panel.root == str(tmp_path / "data")
    second.session_panel.task_edit.setText("session-1")  # the user types a task that exists
    _click_when_asked(qtbot, "Use session-2")
    second.session_panel.record_button.click()
    assert second.controller.recording, second.messages.texts("error")
    assert second.session_panel.task_id == "session-2"
    with qtbot.waitSignal(second.controller.session_saved, timeout=60_000) as saved:
        second.session_panel.record_button.click()
    assert saved.args[0].folder == folder.parent / "session-2" and saved.args[0].ok


def test_replacing_an_existing_task_moves_the_old_one_aside(qtbot, make_window, tmp_path):
    window = make_window()
    folder = _fill_session(window, tmp_path / "data", task="t", formats=["csv"])
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("the old task")
    _click_when_asked(qtbot, "Replace")
    window.session_panel.record_button.click()
    assert window.controller.recording
    with qtbot.waitSignal(window.controller.session_saved, timeout=60_000):
        window.session_panel.record_button.click()
    (moved,) = (tmp_path / "data" / ".replaced" / "fish-7").iterdir()
    assert (moved / "notes.txt").read_text() == "the old task"
    assert not any("allow_overwrite" in text for text in window.messages.texts("error"))


def test_protocol_progress_reads_100_percent_when_the_protocol_completes(qtbot, make_window, tmp_path):
    window = make_window()
    editor = window.editors.editors["stimulus/protocol/gratings"]
    for name, text in (("duration", "0.3"), ("pause", "0.1"), ("repetitions", "1")):
        assert editor.set_text(name, text), editor.last_error
    _fill_session(window, tmp_path, formats=[])
    with qtbot.waitSignal(window.controller.session_saved, timeout=60_000):
        window.session_panel.record_button.click()
    assert window.session_panel.protocol_bar.value() == 1000
    assert window.session_panel.protocol_bar.format() == "protocol complete"


def test_a_killed_recording_under_the_root_is_offered_for_finishing(qtbot, make_window, tmp_path):
    from rigbook.session.status import this_process

    folder = tmp_path / "data" / "fish-7" / "killed"
    (folder / "streams").mkdir(parents=True)
    process = this_process()
    process["pid"] = 2 ** 22 + 12345  # no such process
    (folder / "metadata.json").write_text(json.dumps(
        {"rigbook_format": 1, "general": {"status": "recording", "process": process, "export_formats": ["csv"],
                                          "t0_wall_clock": "2026-12-05T10:00:00+00:00"}}))
    first = make_window()
    _fill_session(first, tmp_path / "data")
    first.close()
    window = make_window()
    assert window.session_panel.finish_button.isVisible() or not window.isVisible()
    assert any("cut short" in text for text in window.messages.texts("warning"))
    window.session_panel.finish_button.click()
    assert not window.session_panel.finish_button.isVisibleTo(window)
    qtbot.waitUntil(lambda: any("finished" in text for text in window.messages.texts("info")), timeout=30_000)
    assert json.loads((folder / "metadata.json").read_text())["general"]["status"] == "recovered"


def test_the_window_fits_a_small_screen(qtbot, make_window, monkeypatch):
    from qtpy import QtWidgets

    screen = QtWidgets.QApplication.primaryScreen()
    monkeypatch.setattr(type(screen), "availableGeometry", lambda self: QtCore.QRect(0, 0, 1366, 738))
    window = make_window()
    assert window.width() <= 1366 and window.height() <= 738
