"""Live plot of one accumulator: selectable channels over a sliding time window.

The plot pulls numpy views of the last *window* seconds from the accumulator
(``get_last_t``) when :meth:`StreamPlot.refresh` is called by the app's plot
timer; it never builds a DataFrame and never drains queues itself.
"""

import logging

import numpy as np
import pyqtgraph as pg
from qtpy import QtCore, QtWidgets

logger = logging.getLogger(__name__)

#: Time window limits, in seconds.
MIN_WINDOW_S = 0.1
MAX_WINDOW_S = 30.0

STACKED = "stacked lanes"
OVERLAID = "overlaid"

# A palette that stays distinguishable on a dark background for up to 10 channels.
_COLORS = [
    (31, 180, 255), (255, 127, 14), (80, 220, 100), (240, 70, 70), (190, 140, 255),
    (200, 150, 110), (250, 130, 210), (200, 200, 200), (220, 220, 60), (60, 220, 220),
]

# Fraction of a lane's height a normalized trace uses; the rest separates lanes.
_LANE_FILL = 0.8


def channel_names(accumulator):
    """The data columns of an accumulator, without its timestamp column."""
    columns = list(getattr(accumulator, "columns", None) or getattr(accumulator, "header_list", []) or [])
    return [c for c in columns if c != "t"]


def last_window(accumulator, seconds):
    """Timestamps and data of the last ``seconds`` of an accumulator.

    Returns
    -------
    t : numpy.ndarray
        1-D timestamps (seconds since the accumulator's ``t0``).
    values : numpy.ndarray
        2-D array, one column per channel (same order as :func:`channel_names`).
    """
    data = accumulator.get_last_t(seconds)
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[0] == 0:
        return np.empty(0), np.empty((0, max(len(channel_names(accumulator)), 0)))
    return data[:, 0], data[:, 1:]


class StreamPlot(QtWidgets.QWidget):
    """Plot the newest samples of one accumulator.

    Parameters
    ----------
    accumulator : rigbook.collectors.QueueDataAccumulator or similar
        Anything with ``get_last_t(seconds)`` returning an ``N x (1 + channels)``
        array whose first column is time, and ``columns`` / ``monitored_headers``.
    title : str, optional
        Shown above the plot; defaults to the accumulator's ``name``.
    window_s : float
        Initial time window in seconds (0.1 to 30).
    mode : str
        ``"stacked lanes"`` (each channel normalized to its own lane, with its
        range printed) or ``"overlaid"`` (raw values on one axis).

    Notes
    -----
    Call :meth:`refresh` from a timer; at most 30 Hz is enough for the eye.
    While frozen, refresh does nothing and the mouse pans and zooms.
    """

    channels_changed = QtCore.Signal(list)

    def __init__(self, accumulator, title=None, window_s=5.0, mode=STACKED, parent=None):
        super().__init__(parent)
        self.accumulator = accumulator
        self._title = title if title is not None else getattr(accumulator, "name", "") or "stream"
        self._curves = {}
        self._lane_labels = []
        self._all_channels = []
        self._selected = []

        self.channel_button = QtWidgets.QToolButton(text="Channels")
        self.channel_button.setPopupMode(QtWidgets.QToolButton.InstantPopup)
        self.channel_menu = QtWidgets.QMenu(self.channel_button)
        self.channel_button.setMenu(self.channel_menu)

        self.window_spin = QtWidgets.QDoubleSpinBox()
        self.window_spin.setRange(MIN_WINDOW_S, MAX_WINDOW_S)
        self.window_spin.setDecimals(1)
        self.window_spin.setSingleStep(0.5)
        self.window_spin.setSuffix(" s")
        self.window_spin.setToolTip(f"time window, {MIN_WINDOW_S:g} to {MAX_WINDOW_S:g} s")
        self.window_spin.setValue(min(max(float(window_s), MIN_WINDOW_S), MAX_WINDOW_S))

        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.addItems([STACKED, OVERLAID])
        self.mode_combo.setCurrentText(mode)
        self.mode_combo.currentTextChanged.connect(self._rebuild_curves)

        self.freeze_button = QtWidgets.QPushButton("Freeze")
        self.freeze_button.setCheckable(True)
        self.freeze_button.setToolTip("stop scrolling; drag to pan, wheel to zoom")
        self.freeze_button.toggled.connect(self._set_frozen)

        self.title_label = QtWidgets.QLabel(f"<b>{self._title}</b>")
        self.info_label = QtWidgets.QLabel("no data yet")
        self.info_label.setStyleSheet("color: gray")

        controls = QtWidgets.QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.title_label)
        controls.addWidget(self.info_label)
        controls.addStretch(1)
        controls.addWidget(self.channel_button)
        controls.addWidget(QtWidgets.QLabel("window"))
        controls.addWidget(self.window_spin)
        controls.addWidget(self.mode_combo)
        controls.addWidget(self.freeze_button)

        self.plot_widget = pg.PlotWidget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=False, alpha=0.25)
        self.plot_item.setLabel("bottom", "time since start", units="s")
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.plot_item.hideButtons()
        self.plot_item.setMenuEnabled(False)
        self.legend = None

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)

        self._sync_channels()

    # -- public API ----------------------------------------------------------------

    @property
    def window_s(self):
        """The time window in seconds."""
        return self.window_spin.value()

    def set_window(self, seconds):
        """Set the time window; values outside 0.1–30 s raise ValueError."""
        seconds = float(seconds)
        if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
            raise ValueError(
                f"plot window {seconds:g} s is outside {MIN_WINDOW_S:g}–{MAX_WINDOW_S:g} s"
            )
        self.window_spin.setValue(seconds)

    @property
    def frozen(self):
        """True while the plot is frozen (not scrolling)."""
        return self.freeze_button.isChecked()

    def set_frozen(self, frozen):
        self.freeze_button.setChecked(bool(frozen))

    @property
    def mode(self):
        return self.mode_combo.currentText()

    def set_mode(self, mode):
        if mode not in (STACKED, OVERLAID):
            raise ValueError(f"plot mode {mode!r} is not one of {STACKED!r}, {OVERLAID!r}")
        self.mode_combo.setCurrentText(mode)

    @property
    def selected_channels(self):
        """Names of the channels currently plotted, in column order."""
        return list(self._selected)

    def set_channels(self, names):
        """Plot exactly ``names``; an unknown name raises ValueError naming it."""
        self._sync_channels()
        unknown = [n for n in names if n not in self._all_channels]
        if unknown:
            raise ValueError(
                f"{self._title}: no channel {unknown[0]!r}; channels are {', '.join(self._all_channels)}"
            )
        for action in self.channel_menu.actions():
            action.blockSignals(True)
            action.setChecked(action.text() in names)
            action.blockSignals(False)
        self._selected = [c for c in self._all_channels if c in names]
        self._rebuild_curves()
        self.channels_changed.emit(self.selected_channels)

    def curve_data(self, channel):
        """The (x, y) arrays currently shown for ``channel`` (for tests and screenshots)."""
        curve = self._curves[channel]
        return curve.xData, curve.yData

    def refresh(self):
        """Redraw from the accumulator's newest samples (no-op while frozen or hidden)."""
        if self.frozen or not self.isVisible():
            return
        if not self._all_channels:
            self._sync_channels()
            if not self._all_channels:
                return
        columns = self._window_columns()
        t = columns.get("t")
        if t is None or t.size == 0:
            self.info_label.setText("no data yet")
            return
        stacked = self.mode == STACKED
        n_lanes = len(self._selected)
        for lane, name in enumerate(self._selected):
            y = columns.get(name)
            if y is None:
                continue
            if stacked:
                y = self._normalize(y, lane, n_lanes)
            self._curves[name].setData(t, y)
        t_last = float(t[-1])
        self.plot_item.setXRange(t_last - self.window_s, t_last, padding=0)
        if not stacked:
            self.plot_item.enableAutoRange(axis="y")
        self.info_label.setText(f"{t.size} samples in view")

    # -- internals ------------------------------------------------------------------

    def _window_columns(self):
        """``{"t": ..., channel: ...}`` of the selected channels over the window."""
        getter = getattr(self.accumulator, "get_last_t_columns", None)
        if getter is not None:
            return getter(self.window_s, list(self._selected))
        t, values = last_window(self.accumulator, self.window_s)
        index = {name: i for i, name in enumerate(self._all_channels)}
        columns = {"t": t}
        for name in self._selected:
            if index[name] < values.shape[1]:
                columns[name] = values[:, index[name]]
        return columns

    def _normalize(self, y, lane, n_lanes):
        finite = y[np.isfinite(y)]
        base = n_lanes - 1 - lane
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
        else:
            lo = hi = 0.0
        span = hi - lo
        label = self._lane_labels[lane]
        label.setText(f"{_fmt(lo)} … {_fmt(hi)}")
        if span <= 0:
            return np.full(y.shape, base + 0.5)
        return (y - lo) * (_LANE_FILL / span) + base + (1 - _LANE_FILL) / 2

    def _sync_channels(self):
        names = channel_names(self.accumulator)
        if names == self._all_channels:
            return
        previous = set(self._selected)
        self._all_channels = names
        monitored = getattr(self.accumulator, "monitored_headers", None) or []
        if previous:
            selected = [c for c in names if c in previous]
        else:
            selected = [c for c in names if c in monitored] or names[:4]
        self.channel_menu.clear()
        for name in names:
            action = self.channel_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in selected)
            action.toggled.connect(self._channel_toggled)
        self._selected = selected
        self._rebuild_curves()

    def _channel_toggled(self, _checked):
        self._selected = [a.text() for a in self.channel_menu.actions() if a.isChecked()]
        self._rebuild_curves()
        self.channels_changed.emit(self.selected_channels)
        self.refresh()

    def _rebuild_curves(self, *_):
        self.plot_item.clear()
        if self.legend is not None:
            self.legend.scene().removeItem(self.legend) if self.legend.scene() else None
            self.legend = None
        self._curves = {}
        self._lane_labels = []
        stacked = self.mode == STACKED
        n = len(self._selected)
        if not stacked and n:
            self.legend = self.plot_item.addLegend(offset=(5, 5))
        for lane, name in enumerate(self._selected):
            color = _COLORS[self._all_channels.index(name) % len(_COLORS)]
            curve = self.plot_item.plot(pen=pg.mkPen(color, width=1), name=None if stacked else name)
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self._curves[name] = curve
            if stacked:
                label = pg.TextItem("", color=(170, 170, 170), anchor=(0, 0))
                label.setPos(0, 0)
                self.plot_item.addItem(label, ignoreBounds=True)
                self._lane_labels.append(label)
        axis = self.plot_item.getAxis("left")
        if stacked:
            axis.setTicks([[(n - 1 - i + 0.5, name) for i, name in enumerate(self._selected)], []])
            self.plot_item.setYRange(0, max(n, 1), padding=0.02)
            self.plot_item.setLabel("left", "")
            self.plot_item.getViewBox().sigXRangeChanged.connect(self._place_lane_labels)
        else:
            axis.setTicks(None)
            self.plot_item.setLabel("left", "value")
        self._place_lane_labels()

    def _place_lane_labels(self, *_):
        if not self._lane_labels:
            return
        (x0, _x1), _ = self.plot_item.getViewBox().viewRange()
        n = len(self._lane_labels)
        for lane, label in enumerate(self._lane_labels):
            label.setPos(x0, n - lane)

    def _set_frozen(self, frozen):
        self.plot_item.setMouseEnabled(x=frozen, y=frozen)
        self.freeze_button.setText("Frozen" if frozen else "Freeze")
        if not frozen:
            self.refresh()


def _fmt(value):
    return f"{value:.3g}"
