"""Live plot of one accumulator: selectable channels over a sliding time window.

The plot pulls numpy views of the last *window* seconds from the accumulator
(``get_last_t``) when :meth:`StreamPlot.refresh` is called by the app's plot
timer; it never builds a DataFrame and never drains queues itself.
"""

import logging
import math
import time

import numpy as np
import pyqtgraph as pg
from qtpy import QtCore, QtGui, QtWidgets

from rigbook.session.streams import LONGEST_PLOT_WINDOW_S
from rigbook.widgets.channel_pager import ChannelPager
from rigbook.widgets.decimation import BinnedHistory, peak_decimate  # noqa: F401 (peak_decimate: public here too)
from rigbook.widgets.lines_item import LinesItem
from rigbook.widgets.live_text import LiveText
from rigbook.widgets.trace_canvas import TraceCanvas

logger = logging.getLogger(__name__)

#: Time window limits, in seconds.
MIN_WINDOW_S = 0.1
MAX_WINDOW_S = LONGEST_PLOT_WINDOW_S  # the session keeps this much live history

STACKED = "stacked lanes"
OVERLAID = "overlaid"

# A palette that stays distinguishable on a dark background for up to 10 channels.
_COLORS = [
    (31, 180, 255), (255, 127, 14), (80, 220, 100), (240, 70, 70), (190, 140, 255),
    (200, 150, 110), (250, 130, 210), (200, 200, 200), (220, 220, 60), (60, 220, 220),
]

# Fraction of a lane's height its value range uses; the rest separates lanes.
_LANE_FILL = 0.9

# Padding added on each side of the data when a value range is (re)fitted.
_RANGE_PAD = 0.05


def stable_range(previous, low, high, slack=0.0):
    """The value range to show for data spanning [``low``, ``high``].

    ``previous`` is kept while the data stays inside it (give or take
    ``slack``, e.g. what half a pixel is worth) and fills at least half of
    it, so a trace's scale does not jitter from frame to frame with the
    noise (and its labels need no relayout); otherwise a range padded by
    5 % on each side is fitted (±0.5 around a constant).
    """
    if previous is not None:
        p_low, p_high = previous
        if p_low - slack <= low and high <= p_high + slack and (high - low) >= 0.5 * (p_high - p_low):
            return previous
    pad = (high - low) * _RANGE_PAD or 0.5
    return (low - pad, high + pad)


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
        if mode not in (STACKED, OVERLAID):
            raise ValueError(f"plot mode {mode!r} is not one of {STACKED!r}, {OVERLAID!r}")
        super().__init__(parent)
        self.accumulator = accumulator
        self._title = title if title is not None else getattr(accumulator, "name", "") or "stream"
        self._pens = {}
        self._drawn = {}
        self._lines_item = None
        self._lane_ranges = {}
        self._lane_ticks = []
        self._line_px = None
        self._last_label_update = -math.inf
        self._all_channels = []
        self._selected = ()  # a tuple: it is part of the keys compared at every frame
        self._synced_schema = None
        # Accumulators that hand out the rows since a count can be drawn from min/max bins fed with new rows only.
        self._binnable = hasattr(accumulator, "values_since") and hasattr(accumulator, "last_t_range")

        self.channel_button = QtWidgets.QToolButton(text="Channels")
        self.channel_button.setPopupMode(QtWidgets.QToolButton.InstantPopup)
        self.channel_menu = QtWidgets.QMenu(self.channel_button)
        self.channel_button.setMenu(self.channel_menu)
        # Streams of many channels (a probe) show a page of them at a time.
        self.pager = ChannelPager()
        self.pager.page_changed.connect(self._page_changed)

        # Read at every frame: kept here rather than asked of the widgets each time.
        self._mode = mode
        self._window_s = min(max(float(window_s), MIN_WINDOW_S), MAX_WINDOW_S)
        self._exposure_checked, self._exposed = -math.inf, False
        self._frozen = False

        self.window_spin = QtWidgets.QDoubleSpinBox()
        self.window_spin.setRange(MIN_WINDOW_S, MAX_WINDOW_S)
        self.window_spin.setDecimals(1)
        self.window_spin.setSingleStep(0.5)
        self.window_spin.setSuffix(" s")
        self.window_spin.setToolTip(f"time window, {MIN_WINDOW_S:g} to {MAX_WINDOW_S:g} s")
        self.window_spin.setValue(min(max(float(window_s), MIN_WINDOW_S), MAX_WINDOW_S))
        self.window_spin.valueChanged.connect(self._window_changed)

        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.addItems([STACKED, OVERLAID])
        self.mode_combo.setCurrentText(mode)
        self.mode_combo.currentTextChanged.connect(self._rebuild_curves)

        self.freeze_button = QtWidgets.QPushButton("Freeze")
        self.freeze_button.setCheckable(True)
        self.freeze_button.setToolTip("stop scrolling; drag to pan, wheel to zoom")
        self.freeze_button.toggled.connect(self._set_frozen)

        self.title_label = QtWidgets.QLabel(f"<b>{self._title}</b>")
        self.info_label = LiveText("no data yet")  # (a QLabel would re-lay out the window at every update)

        controls = QtWidgets.QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.title_label)
        controls.addWidget(self.info_label, 1)
        controls.addWidget(self.channel_button)
        controls.addWidget(self.pager, 1)
        controls.addWidget(QtWidgets.QLabel("window"))
        controls.addWidget(self.window_spin)
        controls.addWidget(self.mode_combo)
        controls.addWidget(self.freeze_button)

        self.plot_widget = pg.PlotWidget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=False, alpha=0.25)
        self.plot_item.setLabel("bottom", "time before the newest sample (s)")
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.plot_item.hideButtons()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.disableAutoRange()
        for side in ("left", "bottom"):
            # The curves' repaint region touches the axes; replaying their text
            # every frame is costly, a cached pixmap is not.
            self.plot_item.getAxis(side).setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)
        # A value axis that shrinks when its labels get shorter re-lays out the plot; let it only grow.
        self.plot_item.getAxis("left").setStyle(autoReduceTextSpace=False)
        self.view_box = self.plot_item.getViewBox()
        self.view_box.sigXRangeChanged.connect(self._view_range_changed)
        # Long live windows are drawn on this canvas over the view area (see _refresh_from_history).
        self.canvas = TraceCanvas(self.plot_widget.viewport())
        self.canvas.set_background(self.plot_widget.backgroundBrush().color())
        self.canvas.hide()
        self.view_box.sigResized.connect(self._place_canvas)
        self._canvas_key = None  # what the canvas' mapping, grid and legend were made for
        self._canvas_geometry = QtCore.QRect()
        self._canvas_on = False
        self._last_fit = -math.inf
        self._canvas_slack = ([], None)
        self.legend = None
        self._snapshot = None  # (t_ref, {"t": relative times, channel: values}) last drawn
        self._last_text_update = -math.inf
        self._rendering = False
        self._history = None  # BinnedHistory while the window holds more samples than are drawn
        self._history_key = None
        self._seen_rows = None  # accumulator rows taken into the history
        self._drawn_key = None  # what the last frame showed: skip frames that would not change it
        self._y_range = None

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)

        self._sync_channels()

    # -- public API ----------------------------------------------------------------

    @property
    def window_s(self):
        """The time window in seconds."""
        return self._window_s

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
        return self._frozen

    def set_frozen(self, frozen):
        self.freeze_button.setChecked(bool(frozen))

    @property
    def mode(self):
        return self._mode

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
        self._selected = tuple(c for c in self._all_channels if c in names)
        self._rebuild_curves()
        self.channels_changed.emit(self.selected_channels)

    def curve_data(self, channel):
        """The (x, y) arrays currently drawn for ``channel``.

        x is seconds relative to the newest sample; y is the raw value
        (overlaid) or its position in the channel's lane (stacked lanes).
        """
        if channel not in self._pens:
            raise KeyError(f"{self._title}: channel {channel!r} is not plotted")
        if self._drawn is None:  # drawn on the canvas: the same min/max bins, as points
            t_ref = self._snapshot[0]
            names = self._selected
            xs, values = self._history.window(t_ref - self.window_s)
            self._drawn = {name: (xs - t_ref, y) for name, y in zip(names, self._view_values(names, values))}
        return self._drawn.get(channel, (np.empty(0), np.empty(0)))

    def value_axis_text_width(self):
        """Pixels the widest value label drawn so far needs."""
        return self.plot_item.getAxis("left").textWidth

    def set_value_axis_text_width(self, pixels):
        """Reserve ``pixels`` for the value labels, so that plots above one another line up in time."""
        self.plot_item.getAxis("left").setStyle(autoExpandTextSpace=False, tickTextWidth=int(math.ceil(pixels)))

    @property
    def newest_t(self):
        """Accumulator time (s since its t0) of the newest sample drawn, or None."""
        return None if self._snapshot is None else self._snapshot[0]

    def refresh(self):
        """Take the newest window from the accumulator and redraw (no-op while frozen or hidden).

        Nothing is done when the accumulator received no sample since the
        last frame and the window, size and channels are unchanged. When the
        window holds more samples than pixels, only the new samples are
        reduced (see :class:`~rigbook.widgets.decimation.BinnedHistory`).
        """
        if self._frozen or not self._on_screen():
            return
        self._sync_channels()  # the first samples, or a schema change, define the channels
        if not self._all_channels:
            return
        received = getattr(self.accumulator, "n_received", None)
        key = (received, self._window_s, self._selected, self._mode, self._canvas_geometry)
        if received is not None and key == self._drawn_key:
            return
        if self._refresh_from_history(received):
            self._drawn_key = key
            return
        self._use_canvas(False)
        columns = self._window_columns()
        t = columns.get("t")
        if t is None or t.size == 0:
            self.info_label.setText("no data yet")
            return
        t_ref = float(t[-1])
        snapshot = {"t": t - t_ref}
        for name in self._selected:
            if name in columns:
                snapshot[name] = columns[name]
        self._snapshot = (t_ref, snapshot)
        self._render(-self.window_s, 0.0)
        self._drawn_key = key
        self._show_info(t.size, t_ref)

    def _show_info(self, n_samples, t_ref, force=False):
        """The readout, at most 4 times a second (``force``: the caller already paces it)."""
        now = time.monotonic()
        if force or now - self._last_text_update > 0.25:
            self._last_text_update = now
            self.info_label.setText(f"{n_samples:,} samples in view · newest at t = {t_ref:,.2f} s")

    # -- internals ------------------------------------------------------------------

    def _on_screen(self):
        """False when hidden, minimized or entirely covered (collapsed in a splitter, scrolled away).

        Whether it is covered is costly to find out: it is looked up when
        the plot is shown or resized, and otherwise at most 5 times a second.
        """
        if not self.isVisible():
            return False
        now = time.monotonic()
        if now - self._exposure_checked > 0.2:
            self._exposure_checked = now
            self._exposed = not self.window().isMinimized() and not self.visibleRegion().isEmpty()
        return self._exposed

    def resizeEvent(self, event):
        self._exposure_checked = -math.inf  # collapsed or brought back in a splitter: look again
        super().resizeEvent(event)

    def showEvent(self, event):
        self._exposure_checked = -math.inf
        super().showEvent(event)

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

    def _refresh_from_history(self, received):
        """Draw the window on the canvas from min/max bins fed with the new rows only; False if not applicable.

        Used when the window holds more than two samples per pixel column
        and the accumulator can hand out the rows received since a count
        (``values_since``); smaller windows are drawn sample by sample.
        The canvas keeps what it drew: a frame adds the columns of the bins
        that arrived since the last one, unless a channel's range, the
        size or the window changed.
        """
        acc = self.accumulator
        if received is None or not self._binnable:
            return False
        names = self._selected  # (always among the accumulator's channels: _sync_channels sees to it)
        bins = self._canvas_columns()
        if not names or bins < 10:
            return False
        key = (self._window_s, names, bins)
        if self._history is None or self._history_key != key or not self._feed_history(names):
            try:
                start, stop = acc.last_t_range(self.window_s)
            except Exception:  # unsorted timestamps: the plain window path copes with them
                logger.debug("%s: window rows not found by search", self._title, exc_info=True)
                self._history = None
                return False
            if stop - start <= 2 * bins:
                self._history = None
                return False
            self._seed_history(names, bins, key)
            self.canvas.clear()
            self._canvas_key = None
        history = self._history
        t_ref, newest = history.newest_t, history.newest_bin
        if t_ref is None:
            return False
        if not self._canvas_on:
            self._use_canvas(True)
        self._snapshot = (t_ref, None)  # raw samples are fetched only if the user freezes
        self._drawn = None  # curve_data computes the points from the history when asked
        # A frame draws the new bins. Four times a second, or at once when new data leaves its
        # range, the ranges are fitted to the whole window, and the axes and texts brought up to date.
        now = time.monotonic()
        if self._canvas_key is not None and now - self._last_fit < 0.25:
            if not self.canvas.draw(*history.bins_from(self.canvas.first_bin_wanted(newest))):
                return True
        self._last_fit = now
        n_window = history.count_from(newest - bins + 1)
        if n_window <= 2 * bins:  # the stream slowed down: draw its samples
            self._history = None
            return False
        self._set_range(0, -self.window_s, 0.0)
        slack_names, slack = self._canvas_slack
        self._fit_ranges(names, *history.extent_from(newest - bins + 1), slack if slack_names == names else None)
        self._map_canvas(names)  # clears the canvas if a range changed: the window is drawn again
        self.canvas.draw(*history.bins_from(self.canvas.first_bin_wanted(newest)))
        if self.mode == STACKED:
            self._update_lane_labels(force=True)  # this block runs 4 times a second: no second throttle
        self._show_info(n_window, t_ref, force=True)
        return True

    def _seed_history(self, names, bins, key):
        acc = self.accumulator
        self._seen_rows = acc.n_received
        columns = acc.get_last_t_columns(self.window_s, names)
        self._history = BinnedHistory(self.window_s / bins, len(names), keep_s=self.window_s)
        self._history_key = key
        self._history.add(columns["t"], np.vstack([columns[n] for n in names]))

    def _feed_history(self, names):
        """Add the rows received since the last frame; False if they cannot be had (reset, trimmed)."""
        acc = self.accumulator
        if acc.n_received == self._seen_rows:
            return True
        try:
            t, values, self._seen_rows = acc.values_since(self._seen_rows, names)
            self._history.add(t, values)
        except (LookupError, ValueError):  # a reset, trimmed rows, time going back: the caller starts over
            return False
        return True

    def _canvas_columns(self):
        """Pixel columns of the view area (the canvas' width), 0 before it is laid out."""
        if self._canvas_geometry.width() <= 0:
            self._place_canvas()
        return self._canvas_geometry.width()

    def _place_canvas(self, *_):
        """Lay the canvas exactly over the view area (called when the view box is resized)."""
        rect = self.view_box.sceneBoundingRect()
        top_left = self.plot_widget.mapFromScene(rect.topLeft())
        bottom_right = self.plot_widget.mapFromScene(rect.bottomRight())
        geometry = QtCore.QRect(top_left, QtCore.QSize(bottom_right.x() - top_left.x(), bottom_right.y() - top_left.y()))
        if geometry != self._canvas_geometry:
            self._canvas_geometry = geometry
            self.canvas.setGeometry(geometry)
            self._drawn_key = self._canvas_key = None

    def _use_canvas(self, on):
        """Show the live canvas (long windows) or the plot's own curves (short windows, frozen)."""
        if on == self._canvas_on:
            return
        self._canvas_on = on
        self.canvas.setVisible(on)
        self._lines_item.setVisible(not on)
        if on:  # start over: the view may have been panned, the ranges changed
            self.canvas.clear()
            self._canvas_key = None

    def _map_canvas(self, names):
        """Colors, value-to-row maps and row limits, grid and legend of the canvas for the current view."""
        y_low, y_high = self.view_box.viewRange()[1]
        rows_per_unit = self.canvas.height() / (y_high - y_low)
        # pixel row = (y_high - view y) * rows_per_unit, view y = (value - origin) * gain + base
        origin, gain, base = self._view_maps(names)
        scale, offset = -gain * rows_per_unit, (y_high - base + origin * gain) * rows_per_unit
        # (the maps as bytes: quick to compare, and a NaN offset, a lane without a range yet, equals itself)
        key = (tuple(names), self._mode, self._window_s, self.canvas.width(), scale.tobytes(), offset.tobytes())
        if key == self._canvas_key:
            return
        self._canvas_key = key
        if self.mode == STACKED:  # each channel stays in its lane's rows
            ranges = np.array([self._lane_ranges.get(name, (np.nan, np.nan)) for name in names]).reshape(-1, 2)
            limits = (scale * ranges[:, 1] + offset, scale * ranges[:, 0] + offset)
        else:  # every channel stays in the view
            limits = (np.zeros(len(names)), np.full(len(names), float(self.canvas.height())))
        colors = [self._pens[name].color() for name in names]
        self.canvas.set_grid(self._grid_lines())
        self.canvas.set_legend(list(zip(map(self._channel_label, names), colors)) if self.mode == OVERLAID else [])
        self.canvas.set_mapping(colors, scale, offset, limits)
        with np.errstate(divide="ignore"):
            self._canvas_slack = (names, 0.5 / np.abs(scale))  # half a pixel, in values

    def _grid_lines(self):
        """Pixel columns and colors of the time axis' tick lines, as the plot's own grid draws them."""
        axis = self.plot_item.getAxis("bottom")
        width = self.canvas.width()
        color = QtGui.QColor(axis.pen().color())
        lines = []
        for level, (_, values) in enumerate(axis.tickValues(-self.window_s, 0.0, width)[:2]):
            color = QtGui.QColor(color)
            color.setAlpha(64 if level == 0 else 32)
            for value in values:
                x = int(round((value + self.window_s) / self.window_s * width))
                if 0 <= x < width:
                    lines.append((x, color))
        return lines

    def _raw_window_up_to(self, t_ref):
        """Full-resolution snapshot of the window ending at ``t_ref`` (for a frozen plot)."""
        columns = self.accumulator.get_last_t_columns(self.window_s + 1.0, list(self._selected))
        t = np.asarray(columns["t"])
        keep = (t <= t_ref) & (t > t_ref - self.window_s)
        snapshot = {"t": t[keep] - t_ref}
        for name in self._selected:
            if name in columns:
                snapshot[name] = np.array(columns[name][keep], copy=True)
        return snapshot

    def _pixel_bins(self):
        """Bins for decimation: one per two pixels, so about one drawn point per pixel."""
        width = self.view_box.width() if self.view_box.width() > 0 else self.plot_widget.width()
        return max(int(width) // 2, 50)

    def _render(self, x0, x1):
        """Draw the snapshot's samples with x in [x0, x1], peak-decimated to the pixel width."""
        if self._snapshot is None or self._snapshot[1] is None or not self._selected:
            return
        _, snapshot = self._snapshot
        x = snapshot["t"]
        # clip to view: only the samples inside the visible range (plus one either side)
        lo = max(int(np.searchsorted(x, x0, side="left")) - 1, 0)
        hi = min(int(np.searchsorted(x, x1, side="right")) + 1, x.size)
        names = [n for n in self._selected if n in snapshot]
        if hi <= lo or not names:
            return
        values = np.vstack([snapshot[n][lo:hi] for n in names]).astype(np.float64, copy=False)
        xs, values = peak_decimate(x[lo:hi], values, self._pixel_bins())
        self._draw(xs, values, names, x0, x1)

    def _draw(self, xs, values, names, x0, x1):
        """Show ``values`` (one row per channel of ``names``) at times ``xs`` in the x range [x0, x1]."""
        with np.errstate(invalid="ignore"):
            self._fit_ranges(names, np.fmin.reduce(values, axis=1), np.fmax.reduce(values, axis=1))
        ys = self._view_values(names, values)
        self._drawn = {name: (xs, y) for name, y in zip(names, ys)}
        left, right = min(float(xs[0]), x0), max(float(xs[-1]), x1)
        if self.mode == STACKED:
            # A bounding rect that stays the same from frame to frame spares the scene a geometry change.
            bottom, top = 0.0, float(max(len(self._selected), 1))
            self._update_lane_labels()
        else:
            bottom, top = self.view_box.viewRange()[1]
            finite = np.isfinite(ys)
            if finite.any():
                bottom, top = min(bottom, float(ys[finite].min())), max(top, float(ys[finite].max()))
        self._rendering = True
        try:
            self._lines_item.set_lines(
                [(self._pens[name], xs, y) for name, y in zip(names, ys)],
                QtCore.QRectF(left, bottom, right - left, top - bottom),
            )
            if not self.frozen:
                self._set_range(0, x0, x1)
        finally:
            self._rendering = False

    def _fit_ranges(self, names, low, high, slack=None):
        """Follow the data's extent per channel (``low`` / ``high``): lane ranges, or the overlaid y range.

        ``slack`` (per channel, in values) is how far data may pass a range
        before it is refitted: on the canvas, half a pixel.
        """
        slack = np.zeros(len(names)) if slack is None else slack
        if self.mode == STACKED:
            for name, vlo, vhi, tolerance in zip(names, low, high, slack):
                if math.isfinite(vlo) and math.isfinite(vhi):
                    self._lane_ranges[name] = stable_range(self._lane_ranges.get(name), vlo, vhi, tolerance)
        elif not self.frozen:  # frozen, the user pans and zooms the values
            finite = np.isfinite(low) & np.isfinite(high)
            if finite.any():
                self._follow_values(float(low[finite].min()), float(high[finite].max()), float(slack.min(initial=0.0)))

    def _view_maps(self, names):
        """Per channel ``(origin, gain, base)`` arrays: a value is drawn at y = (value - origin) * gain + base.

        Overlaid, values are drawn as they are; stacked, each channel's
        range fills its lane (a channel with no range yet is not drawn).
        """
        n = len(names)
        if self.mode != STACKED:
            return np.zeros(n), np.ones(n), np.zeros(n)
        n_lanes = len(self._selected)
        origin, gain, base = np.zeros(n), np.zeros(n), np.full(n, np.nan)
        for i, name in enumerate(names):
            if name in self._lane_ranges:
                low, high = self._lane_ranges[name]
                origin[i], gain[i] = low, _LANE_FILL / (high - low)
                base[i] = n_lanes - 1 - self._selected.index(name) + (1 - _LANE_FILL) / 2
        return origin, gain, base

    def _view_values(self, names, values):
        """``values`` (one row per channel of ``names``) in the plot's y coordinates."""
        origin, gain, base = self._view_maps(names)
        return (values - origin[:, None]) * gain[:, None] + base[:, None]

    def _follow_values(self, ymin, ymax, slack=0.0):
        """Keep the overlaid y range while the data fills most of it.

        A new range re-lays out the value axis (ticks, text); redoing that at
        every frame for noise-sized changes costs more than the curves.
        """
        current = tuple(self.view_box.viewRange()[1])
        low, high = stable_range(current, ymin, ymax, slack)
        self._set_range(1, low, high)

    def _set_range(self, axis, low, high):
        # Setting an unchanged range still makes pyqtgraph redo the axis: skip it.
        current = self.view_box.viewRange()[axis]
        if current[0] == low and current[1] == high:
            return
        if axis == 0:
            self.view_box.setXRange(low, high, padding=0)
        else:
            self.view_box.setYRange(low, high, padding=0)

    def _channel_label(self, name):
        """A channel's name with its unit when the source declares one: ``x (mm)``."""
        unit = (getattr(self.accumulator, "units", None) or {}).get(name)
        return f"{name} ({unit})" if unit else name

    def _update_lane_labels(self, force=False):
        """Each lane's name and value range as the left axis' tick labels.

        On the axis, outside the plot area, they are not repainted with the
        curves at every frame; they change at most 4 times a second
        (``force``: the caller already paces it).
        """
        now = time.monotonic()
        if not (force or self.frozen) and now - self._last_label_update < 0.25:
            return
        self._last_label_update = now
        n = len(self._selected)
        line_px = self._label_line_px()
        lane_px = self.view_box.height() / max(n, 1)
        with_range = lane_px >= 1.8 * line_px  # two lines (font height has some leading to spare)
        # Lanes lower than a line of text: name every k-th lane rather than print names over each other.
        every = 1 if lane_px >= 1.1 * line_px else math.ceil(1.1 * line_px / max(lane_px, 1.0))
        ticks = []
        for lane, name in enumerate(self._selected):
            if lane % every:
                continue
            vlo, vhi = self._lane_ranges.get(name, (math.nan, math.nan))
            text = self._channel_label(name)
            if with_range and math.isfinite(vlo) and math.isfinite(vhi):
                text = f"{text}\n{_fmt(vlo)} … {_fmt(vhi)}"
            ticks.append((n - 1 - lane + 0.5, text))
        if ticks != self._lane_ticks:
            self._lane_ticks = ticks
            self.plot_item.getAxis("left").setTicks([ticks, []])

    def _label_line_px(self):
        """Height of a line of the value axis' labels (looked up once: labels are redone 4 times a second)."""
        if self._line_px is None:
            self._line_px = QtGui.QFontMetrics(self.plot_item.getAxis("left").font()).height()
        return self._line_px

    def _view_range_changed(self, *_):
        # While frozen the user pans and zooms: redraw the frozen samples for the new range.
        if self.frozen and not self._rendering:
            (x0, x1), _ = self.view_box.viewRange()
            self._render(x0, x1)

    def _window_changed(self, value):
        self._window_s = float(value)
        if self.frozen:
            self.view_box.setXRange(-self.window_s, 0, padding=0)
        else:
            self.refresh()

    def _sync_channels(self):
        # an accumulator with a schema changes its channels only with a new schema: a cheap identity check
        schema = getattr(self.accumulator, "schema", None)
        if schema is not None and schema is self._synced_schema:
            return
        self._synced_schema = schema
        names = channel_names(self.accumulator)
        if names == self._all_channels:
            return
        previous = set(self._selected)
        self._all_channels = names
        monitored = getattr(self.accumulator, "monitored_headers", None) or []
        if previous:
            selected = [c for c in names if c in previous]
        else:
            selected = ([c for c in names if c in monitored] or names[:4])[: self.pager.page]
        self.pager.set_channels(names)
        self.channel_menu.clear()
        for name in names:
            action = self.channel_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in selected)
            action.toggled.connect(self._channel_toggled)
        self._selected = tuple(selected)
        self._rebuild_curves()

    def _page_changed(self, names):
        self.set_channels(names)
        self.refresh()

    def _channel_toggled(self, _checked):
        self._selected = tuple(a.text() for a in self.channel_menu.actions() if a.isChecked())
        self._rebuild_curves()
        self.channels_changed.emit(self.selected_channels)
        self.refresh()

    def _rebuild_curves(self, *_):
        self._mode = self.mode_combo.currentText()
        if self._lines_item is None:
            self._lines_item = LinesItem()
            self.plot_item.addItem(self._lines_item)
        if self.legend is not None:
            if self.legend.scene() is not None:
                self.legend.scene().removeItem(self.legend)
            self.plot_item.legend = None
            self.legend = None
        self._pens = {}
        self._drawn = {}
        self._lane_ranges = {}
        self._lines_item.set_lines([], QtCore.QRectF())
        self.canvas.clear()
        self._canvas_key = None
        stacked = self.mode == STACKED
        n = len(self._selected)
        if not stacked and n:
            self.legend = self.plot_item.addLegend(offset=(5, 5))
        for name in self._selected:
            color = _COLORS[self._all_channels.index(name) % len(_COLORS)]
            pen = pg.mkPen(color, width=1)
            pen.setCosmetic(True)
            self._pens[name] = pen
            if self.legend is not None:
                self.legend.addItem(pg.PlotDataItem(pen=pen), self._channel_label(name))
        axis = self.plot_item.getAxis("left")
        if stacked:
            self._lane_ticks = [(n - 1 - i + 0.5, name) for i, name in enumerate(self._selected)]
            self._last_label_update = -math.inf
            axis.setTicks([self._lane_ticks, []])
            self.view_box.setYRange(0, max(n, 1), padding=0.02)
            self.plot_item.setLabel("left", "")
        else:
            axis.setTicks(None)
            self.plot_item.setLabel("left", "value")
        self._drawn_key = None
        if self._snapshot is not None:
            (x0, x1), _ = self.view_box.viewRange()
            if self.frozen:
                self._render(x0, x1)
            elif self._snapshot[1] is not None:
                self._render(-self.window_s, 0.0)
            # a decimated live view is redrawn by the next refresh

    def _set_frozen(self, frozen):
        self._frozen = bool(frozen)
        self.plot_item.setMouseEnabled(x=frozen, y=frozen)
        self.freeze_button.setText("Frozen" if frozen else "Freeze")
        if frozen and self._snapshot is not None:
            # keep the frozen samples even if the accumulator trims or resets
            t_ref, snapshot = self._snapshot
            if snapshot is None:  # the live view was decimated: take the raw samples it showed
                snapshot = self._raw_window_up_to(t_ref)
            self._snapshot = (t_ref, {k: np.array(v, copy=True) for k, v in snapshot.items()})
            if self._canvas_on:  # the frozen samples are drawn as curves, to pan and zoom
                self._use_canvas(False)
                self._render(*self.view_box.viewRange()[0])
        self._drawn_key = None
        if not frozen:
            self.refresh()


def _fmt(value):
    return f"{value:.3g}"
