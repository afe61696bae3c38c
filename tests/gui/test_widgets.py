"""Widgets read real accumulators and Parametrized models and show what a user expects."""

import time

import numpy as np
import pytest

from rigbook.collectors import FramerateAccumulator, NamedTupleQueue, QueueDataAccumulator
from rigbook.collectors.params import Param, Parametrized
from rigbook.widgets.framerate import LOW_COLOR, OK_COLOR, FramerateGauge, FrameratePanel
from rigbook.widgets.messages import MessageLog
from rigbook.widgets.param_editor import ParamEditor
from rigbook.widgets.session_panel import SessionPanel
from rigbook.widgets.stream_plot import OVERLAID, STACKED, StreamPlot

RATE = 1000.0
FIELDS = ("a", "b", "c")


@pytest.fixture
def fed_accumulator(qtbot):
    """An accumulator holding 3 s of 1 kHz data: a = ramp, b = sine * 5 + 100, c = constant."""
    queue = NamedTupleQueue()
    t0 = time.monotonic() - 10
    acc = QueueDataAccumulator(queue, name="tracker", monitored_headers=["a", "b"], t0=t0,
                               max_history_if_not_running=None)
    n = int(3 * RATE)
    times = t0 + 5 + np.arange(n) / RATE
    values = {"a": np.arange(n, dtype=float), "b": np.sin(np.arange(n) / 50) * 5 + 100, "c": np.full(n, 7.0)}
    queue.put_block(times, values)
    qtbot.waitUntil(lambda: (acc.update_list() or True) and acc.n_received == n, timeout=5000)
    return acc


def shown_plot(qtbot, accumulator, size, **options):
    """A StreamPlot of ``accumulator`` shown at ``size`` (width, height), its view laid out."""
    plot = StreamPlot(accumulator, window_s=2.0, **options)
    qtbot.addWidget(plot)
    plot.plot_item.getAxis("left").setWidth(80)  # else its first labels set its width, and the view's, once
    plot.resize(*size)
    with qtbot.waitExposed(plot):
        plot.show()
    qtbot.waitUntil(lambda: 0 < plot.view_box.width() < size[0] and plot.view_box.height() > 0)
    return plot


def test_stream_plot_shows_exactly_the_window_of_monitored_channels(qtbot, fed_accumulator):
    plot = StreamPlot(fed_accumulator, window_s=1.0, mode=OVERLAID)
    qtbot.addWidget(plot)
    plot.resize(1200, 400)
    plot.show()
    assert plot.selected_channels == ["a", "b"]
    plot.refresh()
    x, y = plot.curve_data("a")
    t_all = fed_accumulator.t
    expected = t_all[t_all > t_all[-1] - 1.0]
    # 1000 samples fit in the plot's width: all drawn, x relative to the newest sample
    np.testing.assert_array_equal(x, expected - t_all[-1])
    assert plot.newest_t == t_all[-1]
    # overlaid curves show raw values
    np.testing.assert_array_equal(y, fed_accumulator.column("a")[-expected.size:])
    plot.set_window(0.1)
    plot.refresh()
    assert plot.curve_data("a")[0].size == pytest.approx(100, abs=1)


def test_window_outside_limits_is_refused(qtbot, fed_accumulator):
    plot = StreamPlot(fed_accumulator)
    qtbot.addWidget(plot)
    with pytest.raises(ValueError, match="30"):
        plot.set_window(31)
    with pytest.raises(ValueError, match="0.1"):
        plot.set_window(0.05)
    plot.set_window(30)
    assert plot.window_s == 30


def test_stacked_lanes_are_normalized_and_separate(qtbot, fed_accumulator):
    plot = StreamPlot(fed_accumulator, window_s=2.0, mode=STACKED)
    qtbot.addWidget(plot)
    plot.show()
    plot.set_channels(["a", "b", "c"])
    plot.refresh()
    lanes = {}
    for lane, name in enumerate(["a", "b", "c"]):
        y = plot.curve_data(name)[1]
        base = 2 - lane  # first channel on top
        assert y.min() >= base and y.max() <= base + 1, name
        lanes[name] = y
    # a constant channel sits in the middle of its lane instead of dividing by zero
    assert np.all(lanes["c"] == 0.5)
    with pytest.raises(ValueError, match="no channel 'z'"):
        plot.set_channels(["z"])


def test_frozen_plot_stops_scrolling(qtbot, fed_accumulator):
    plot = StreamPlot(fed_accumulator, window_s=1.0)
    qtbot.addWidget(plot)
    plot.show()
    plot.refresh()
    before = plot.curve_data("a")[0].copy()
    plot.set_frozen(True)
    n = 500
    times = fed_accumulator.t0 + 8 + np.arange(n) / RATE
    fed_accumulator.data_queue.put_block(times, {"a": np.zeros(n), "b": np.zeros(n), "c": np.zeros(n)})
    qtbot.waitUntil(lambda: (fed_accumulator.update_list() or True) and fed_accumulator.n_received == 3500)
    plot.refresh()
    np.testing.assert_array_equal(plot.curve_data("a")[0], before)
    plot.set_frozen(False)  # unfreezing refreshes at once
    assert plot.newest_t == pytest.approx(fed_accumulator.t[-1])


def test_long_windows_are_peak_decimated_keeping_every_peak(qtbot, fed_accumulator):
    from rigbook.widgets.stream_plot import peak_decimate

    x = np.arange(10_000) / 1000.0
    y = np.zeros((1, x.size))
    y[0, 1234] = 5.0  # one-sample spike
    y[0, 8000] = -3.0
    y[0, 4000] = np.nan  # a flagged sample does not hide its bin
    xs, ys = peak_decimate(x, y, bins=100)
    assert xs.size == ys.shape[1] == 200
    assert ys.max() == 5.0 and ys.min() == -3.0
    assert np.isfinite(ys).all()
    # samples that do not divide evenly into bins: none is left out, the oldest included
    x, y = np.arange(1500) / 500.0, np.zeros((1, 1500))
    y[0, 0] = 7.0
    xs, ys = peak_decimate(x, y, bins=435)
    assert xs.size <= 870 and xs[0] == x[0] and xs[-1] == x[-1] and ys.max() == 7.0
    plot = StreamPlot(fed_accumulator, window_s=3.0, mode=OVERLAID)
    qtbot.addWidget(plot)
    plot.resize(900, 300)
    plot.show()
    qtbot.waitUntil(lambda: 0 < plot.view_box.width() < 1000)
    plot.refresh()
    drawn = plot.curve_data("a")[1]
    assert abs(plot.canvas.width() - plot.view_box.width()) < 2  # the canvas covers the view area
    assert drawn.size <= 2 * (plot.canvas.width() + 1) < 3000  # a min and a max per pixel column
    assert drawn.max() == fed_accumulator.column("a").max()


def test_ten_sources_fit_on_a_common_screen(qtbot):
    panel = FrameratePanel()
    qtbot.addWidget(panel)
    for i in range(10):
        panel.add_source(FramerateAccumulator(goal_framerate=100.0, name=f"camera_{i}"))
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.minimumSizeHint().width() <= 1920
    rows = sorted({gauge.y() for gauge in panel.gauges})
    assert len(rows) == 3  # 4 + 4 + 2 gauges
    assert [gauge.y() for gauge in panel.gauges[:4]] == [rows[0]] * 4


def test_gauge_is_red_below_goal_and_counts_drops(qtbot):
    acc = FramerateAccumulator(name="camera", goal_framerate=100.0)
    gauge = FramerateGauge(acc)
    qtbot.addWidget(gauge)
    acc.update_list(99.0)
    gauge.refresh()
    assert not gauge.below_goal and OK_COLOR in gauge.rate_label.styleSheet()
    assert "99.0 Hz" in gauge.rate_label.text() and "goal 100.0 Hz" in gauge.goal_label.text()
    acc.update_list(70.0)
    gauge.refresh()
    assert gauge.below_goal and LOW_COLOR in gauge.rate_label.styleSheet()
    acc.dropped = 12
    gauge.refresh()
    assert "dropped 12" in gauge.drop_label.text()


def _gratings():
    return Parametrized(name="stimulus/protocol/gratings", params=dict(
        speed=Param(10.0, limits=[0.0, 50.0], unit="mm/s"),
        repetitions=Param(3, limits=[1, 100]),
        direction=Param("forward", limits=["forward", "backward"]),
        closed_loop=Param(True),
        label=Param("run"),
    ))


def test_editor_has_right_control_per_type(qtbot):
    from qtpy import QtWidgets

    editor = ParamEditor(_gratings())
    qtbot.addWidget(editor)
    assert isinstance(editor.fields["direction"].widget, QtWidgets.QComboBox)
    assert isinstance(editor.fields["closed_loop"].widget, QtWidgets.QCheckBox)
    assert editor.fields["speed"].widget.text() == "10.0"
    assert "0 … 50" in editor.fields["speed"].widget.toolTip() and "mm/s" in editor.fields["speed"].widget.toolTip()


@pytest.mark.parametrize("field, text, reason", [
    ("speed", "500", "outside its limits"),
    ("speed", "fast", "not a number"),
    ("speed", "nan", "not a finite number"),
    ("repetitions", "2.5", "not a whole number"),
    ("repetitions", "0", "outside its limits"),
    ("repetitions", "", "a value is required"),
])
def test_editor_refuses_bad_values_with_a_message_and_keeps_the_model(qtbot, field, text, reason):
    model = _gratings()
    editor = ParamEditor(model)
    qtbot.addWidget(editor)
    before = getattr(model, field)
    with qtbot.waitSignal(editor.message) as signal:
        assert editor.set_text(field, text) is False
    level, message = signal.args
    assert level == "error" and reason in message and f"gratings/{field}" in message
    assert reason in editor.last_error
    assert getattr(model, field) == before and type(getattr(model, field)) is type(before)
    assert editor.fields[field].widget.text() == str(before)  # the field shows the kept value


def test_an_error_marker_clears_when_the_value_is_valid_again(qtbot):
    model = _gratings()
    editor = ParamEditor(model)
    qtbot.addWidget(editor)
    speed = editor.fields["speed"].widget
    assert editor.set_text("speed", "500") is False
    assert "outside its limits" in editor.last_error and speed.styleSheet()
    assert editor.set_text("speed", "10.0")  # the value it had: valid again, though nothing changed
    assert editor.last_error == "" and speed.styleSheet() == ""
    assert editor.set_text("speed", "fast") is False
    model.speed = 20.0  # set by code (a restore): the field shows it, and it is valid
    assert editor.last_error == "" and speed.styleSheet() == ""


def test_editor_applies_good_values_exactly(qtbot):
    model = _gratings()
    editor = ParamEditor(model)
    qtbot.addWidget(editor)
    assert editor.set_text("speed", "12.5")
    assert model.speed == 12.5
    assert editor.set_text("repetitions", "100")
    assert model.repetitions == 100 and type(model.repetitions) is int
    assert editor.set_text("label", "déjà vu")
    assert model.label == "déjà vu"
    assert editor.last_error == ""
    editor.fields["direction"].widget.setCurrentIndex(1)
    editor.fields["direction"].commit()
    assert model.direction == "backward"


def test_editor_follows_changes_made_by_code(qtbot):
    model = _gratings()
    editor = ParamEditor(model)
    qtbot.addWidget(editor)
    model.speed = 42.0
    assert editor.fields["speed"].widget.text() == "42.0"


def test_message_log_keeps_levels(qtbot):
    log = MessageLog()
    qtbot.addWidget(log)
    log.post("error", "camera lost")
    log.post("info", "saved")
    assert log.texts("error") == ["camera lost"]
    assert log.count() == 2
    with pytest.raises(ValueError, match="level"):
        log.post("fatal", "x")


def test_session_panel_reports_what_the_user_chose(qtbot):
    panel = SessionPanel(protocols=["gratings"])
    qtbot.addWidget(panel)
    panel.set_values(root="/tmp/x", subject_id="fish-1", task_id="t-1", formats=["parquet"])
    assert (panel.root, panel.subject_id, panel.task_id, panel.formats) == ("/tmp/x", "fish-1", "t-1", ["parquet"])
    with qtbot.waitSignal(panel.start_requested):
        panel.record_button.click()
    panel.set_recording(True)
    assert not panel.subject_edit.isEnabled()
    with qtbot.waitSignal(panel.stop_requested):
        panel.record_button.click()
    with pytest.raises(ValueError, match="xls"):
        panel.set_values(formats=["xls"])


def test_frozen_plot_zoom_shows_every_sample_of_the_zoomed_span(qtbot, fed_accumulator):
    plot = StreamPlot(fed_accumulator, window_s=3.0, mode=OVERLAID)
    qtbot.addWidget(plot)
    plot.resize(700, 300)
    plot.show()
    qtbot.waitUntil(lambda: 0 < plot.view_box.width() < 3000 / 2)
    plot.refresh()
    assert plot.curve_data("a")[0].size < 3000  # the whole window is decimated
    plot.set_frozen(True)
    plot.view_box.setXRange(-0.2, -0.1, padding=0)  # the user zooms into 100 ms
    x, y = plot.curve_data("a")
    inside = x[(x >= -0.2) & (x <= -0.1)]
    assert inside.size == pytest.approx(100, abs=2)  # clipped to view: full resolution again
    t = fed_accumulator.t
    np.testing.assert_allclose(np.sort(inside), np.sort((t - t[-1])[((t - t[-1]) >= -0.2) & ((t - t[-1]) <= -0.1)]))


def test_long_live_window_is_drawn_from_new_samples_only_and_stays_exact(qtbot, fed_accumulator, monkeypatch):
    plot = shown_plot(qtbot, fed_accumulator, (1000, 300), mode=OVERLAID)
    plot.refresh()
    x, y = plot.curve_data("a")
    bin_s = 2.0 / plot.canvas.width()
    assert x.size <= 2 * (plot.canvas.width() + 1)  # decimated: a min and a max per pixel column
    assert x[-1] == 0.0 and -2.0 < x[0] <= -2.0 + bin_s + 0.001 + 1e-9  # the last 2 s, to a bin
    assert y.max() == fed_accumulator.column("a")[-1]  # the newest sample's value is there
    fed = []
    original = fed_accumulator.values_since
    monkeypatch.setattr(fed_accumulator, "values_since", lambda n, names: fed.append(n) or original(n, names))
    n = 250
    times = fed_accumulator.t0 + 8 + np.arange(n) / RATE
    fed_accumulator.data_queue.put_block(times, {"a": np.full(n, 3500.0), "b": np.zeros(n), "c": np.zeros(n)})
    qtbot.waitUntil(lambda: (fed_accumulator.update_list() or True) and fed_accumulator.n_received == 3250)
    plot.refresh()
    assert fed == [3000]  # only the 250 new rows were asked for
    x, y = plot.curve_data("a")
    assert plot.newest_t == pytest.approx(fed_accumulator.t[-1])
    assert y.max() == 3500.0 and x[-1] == 0.0
    # the drawn peaks equal those of the exact window
    t = fed_accumulator.t
    in_window = t > t[-1] - 2.0
    assert y.max() <= fed_accumulator.column("a")[in_window].max()


def test_a_timestamp_going_back_neither_garbles_nor_stops_the_live_plot(qtbot, fed_accumulator):
    plot = shown_plot(qtbot, fed_accumulator, (1000, 300), mode=OVERLAID)
    plot.refresh()
    assert plot.canvas.isVisible()  # drawn from min/max bins
    n = 100
    times = fed_accumulator.t0 + 8 + np.arange(n) / RATE
    times[50] -= 0.5  # one sample stamped half a second early (a clock glitch in the source)
    fed_accumulator.data_queue.put_block(times, {"a": np.full(n, 3500.0), "b": np.zeros(n), "c": np.zeros(n)})
    qtbot.waitUntil(lambda: (fed_accumulator.update_list() or True) and fed_accumulator.n_received == 3100)
    plot.refresh()  # raises nothing: the plot draws the samples as they are
    assert plot.newest_t == pytest.approx(times[-1] - fed_accumulator.t0)
    x, y = plot.curve_data("a")
    assert y.max() == 3500.0 and x.max() == 0.0


def test_plot_without_new_samples_is_not_redrawn(qtbot, fed_accumulator, monkeypatch):
    plot = StreamPlot(fed_accumulator, window_s=1.0)
    qtbot.addWidget(plot)
    plot.show()
    plot.refresh()
    drawn = []
    original = plot._lines_item.set_lines
    monkeypatch.setattr(plot._lines_item, "set_lines", lambda *a: drawn.append(1) or original(*a))
    plot.refresh()
    assert drawn == []
    plot.set_window(2.0)  # a new window is drawn at once
    assert plot.curve_data("a")[0][0] < -1.9


def test_plot_collapsed_in_a_splitter_is_not_drawn(qtbot, fed_accumulator):
    from qtpy import QtCore, QtWidgets

    splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
    qtbot.addWidget(splitter)
    plot = StreamPlot(fed_accumulator, window_s=1.0)
    splitter.addWidget(plot)
    splitter.addWidget(QtWidgets.QLabel("other"))
    splitter.resize(800, 600)
    with qtbot.waitExposed(splitter):
        splitter.show()
    splitter.setSizes([0, 600])  # the user collapsed the plot
    qtbot.waitUntil(lambda: plot.height() == 0 or plot.visibleRegion().isEmpty())
    plot.refresh()
    assert plot.newest_t is None and plot.curve_data("a")[0].size == 0
    splitter.setSizes([300, 300])
    qtbot.waitUntil(lambda: not plot.visibleRegion().isEmpty())
    plot.refresh()
    assert plot.newest_t == fed_accumulator.t[-1]


def test_lane_scale_holds_through_noise_and_follows_data_that_leaves_it(qtbot, fed_accumulator):
    plot = shown_plot(qtbot, fed_accumulator, (1000, 400), mode=STACKED)
    plot.set_channels(["a", "b"])
    plot.refresh()
    before = plot._lane_ranges["b"]
    assert before[0] < 95 and before[1] > 105  # sine * 5 + 100, padded

    def feed(start, b_values):
        n = len(b_values)
        times = fed_accumulator.t0 + start + np.arange(n) / RATE
        fed_accumulator.data_queue.put_block(times, {"a": np.arange(n, dtype=float), "b": b_values, "c": np.zeros(n)})
        total = fed_accumulator.n_received + n
        qtbot.waitUntil(lambda: (fed_accumulator.update_list() or True) and fed_accumulator.n_received == total)
        plot._last_fit = -np.inf  # the next frame checks the whole window (as it does 4 times a second)
        plot.refresh()

    # more of the same, with noise: the lane keeps its scale (no jitter)
    rng = np.random.default_rng(0)
    feed(8.0, np.sin(np.arange(300) / 50) * 4.8 + 100 + rng.normal(0, 0.05, 300))
    assert plot._lane_ranges["b"] == before
    # a value far outside: the lane takes it in at once, and it is drawn inside the lane
    feed(8.3, np.full(10, 200.0))
    low, high = plot._lane_ranges["b"]
    assert low < 95 and high >= 200
    y = plot.curve_data("b")[1]
    assert y.max() <= 1.0 and y.min() >= 0.0  # "b" is the lower of two lanes: [0, 1]


def test_lane_labels_show_ranges_when_there_is_room_and_thin_out_when_not(qtbot, fed_accumulator):
    plot = StreamPlot(fed_accumulator, window_s=2.0, mode=STACKED)
    qtbot.addWidget(plot)
    plot.set_channels(["a", "b", "c"])
    plot.resize(900, 600)
    with qtbot.waitExposed(plot):
        plot.show()
    qtbot.waitUntil(lambda: plot.view_box.height() > 300)
    plot.set_frozen(True)  # frozen, labels follow every redraw
    plot.set_frozen(False)
    plot.refresh()
    labels = [text for _, text in plot._lane_ticks]
    assert labels[0].startswith("a\n") and "…" in labels[0] and len(labels) == 3
    plot.resize(900, 110)  # lanes lower than a line of text
    qtbot.waitUntil(lambda: plot.view_box.height() < 3 * 15)
    plot._last_label_update = -np.inf
    plot._update_lane_labels()
    names = [text for _, text in plot._lane_ticks]
    assert names in (["a", "c"], ["a"])  # every other (or third) lane named, names only


def test_lanes_show_the_units_the_source_declares(qtbot, fed_accumulator):
    fed_accumulator.units = {"a": "mm", "b": "rad"}  # (as the session sets them from Source(units=...))
    plot = shown_plot(qtbot, fed_accumulator, (900, 600))
    plot.set_channels(["a", "b", "c"])
    plot.refresh()
    plot._last_label_update = -np.inf
    plot._update_lane_labels()
    names = [text.split("\n")[0] for _, text in plot._lane_ticks]
    assert names == ["a (mm)", "b (rad)", "c"]


def test_the_protocol_choice_is_hidden_for_a_rig_without_protocols(qtbot):
    from rigbook.widgets.session_panel import SessionPanel

    without = SessionPanel(protocols=[])
    with_one = SessionPanel(protocols=["gratings"])
    for panel in (without, with_one):
        qtbot.addWidget(panel)
        panel.show()
    assert not without.protocol_combo.isVisible() and with_one.protocol_combo.isVisible()


def test_a_format_that_cannot_be_written_here_is_greyed_out_and_stays_unticked(qtbot):
    from rigbook.widgets.session_panel import SessionPanel

    panel = SessionPanel(protocols=["gratings"])
    qtbot.addWidget(panel)
    panel.disable_format("nwb", "nwb export needs a library that is not installed: pip install pynwb")
    panel.set_values(formats=["csv", "nwb"])  # (restored from a machine that had it)
    assert panel.formats == ["csv"]
    panel.set_recording(False)
    assert not panel.format_boxes["nwb"].isEnabled() and "pip install" in panel.format_boxes["nwb"].toolTip()
