"""Frame-rate gauges: the measured rate of each source beside its goal, and its drops."""

import logging
import math
import time

from qtpy import QtCore, QtWidgets

logger = logging.getLogger(__name__)

OK_COLOR = "#3cb371"
LOW_COLOR = "#e04040"
IDLE_COLOR = "#808080"


def measured_rate(accumulator):
    """The accumulator's current rate in Hz, or NaN when it cannot tell yet.

    A frame-rate accumulator (one with ``last_framerate``) reports the rate
    its source measured; any other accumulator's rate is its sampling rate.
    """
    try:
        if hasattr(accumulator, "last_framerate"):
            rate = accumulator.last_framerate
        else:
            rate = accumulator.get_fps()
            if rate == 0 and getattr(accumulator, "n_held", 1) < 2:
                return math.nan
    except (ValueError, ZeroDivisionError, IndexError):
        return math.nan
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        return math.nan
    return rate if math.isfinite(rate) else math.nan


class FramerateGauge(QtWidgets.QFrame):
    """Rate of one source against its goal, red when below the goal.

    Parameters
    ----------
    accumulator
        Anything with ``get_fps()``; ``goal_framerate``, ``dropped`` and
        ``flagged`` are shown when it has them.
    name : str, optional
        Label of the source; defaults to the accumulator's ``name``.
    goal : float, optional
        Goal rate in Hz; defaults to ``accumulator.goal_framerate``.
    tolerance : float
        Fraction of the goal the rate may fall short before it counts as
        below the goal (rates jitter; 0.95 of the goal is "on goal").
    """

    below_goal_changed = QtCore.Signal(bool)

    def __init__(self, accumulator, name=None, goal=None, tolerance=0.05, parent=None):
        super().__init__(parent)
        self.accumulator = accumulator
        self.name = name or getattr(accumulator, "name", "") or "source"
        self._goal = goal
        self.tolerance = float(tolerance)
        self._below = None
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)

        self.name_label = QtWidgets.QLabel(f"<b>{self.name}</b>")
        self.rate_label = QtWidgets.QLabel("–")
        font = self.rate_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.rate_label.setFont(font)
        self.goal_label = QtWidgets.QLabel()
        self.bar = QtWidgets.QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.bar.setRange(0, 1000)
        self.drop_label = QtWidgets.QLabel()

        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.name_label, 0, 0)
        layout.addWidget(self.rate_label, 0, 1, alignment=QtCore.Qt.AlignRight)
        layout.addWidget(self.bar, 1, 0, 1, 2)
        layout.addWidget(self.goal_label, 2, 0)
        layout.addWidget(self.drop_label, 2, 1, alignment=QtCore.Qt.AlignRight)
        self.refresh()

    @property
    def goal(self):
        """The goal rate in Hz, or None when the source has none."""
        if self._goal is not None:
            return float(self._goal)
        goal = getattr(self.accumulator, "goal_framerate", None)
        return float(goal) if goal else None

    @property
    def rate(self):
        return measured_rate(self.accumulator)

    @property
    def below_goal(self):
        """True when there is a goal and the measured rate is under it (minus tolerance)."""
        return bool(self._below)

    def refresh(self):
        """Update from the accumulator (call from the plot timer)."""
        rate = self.rate
        goal = self.goal
        dropped = int(getattr(self.accumulator, "dropped", 0) or 0)
        flagged = int(getattr(self.accumulator, "flagged", 0) or 0)
        if math.isnan(rate):
            self._set_text(self.rate_label, "– Hz")
            color = IDLE_COLOR
            below = False
        else:
            self._set_text(self.rate_label, f"{rate:,.1f} Hz")
            below = goal is not None and rate < goal * (1 - self.tolerance)
            color = LOW_COLOR if below else OK_COLOR
        self._set_text(self.goal_label, f"goal {goal:,.1f} Hz" if goal else "no goal")
        drops = f"dropped {dropped:,}"
        if flagged:
            drops += f" · flagged {flagged:,}"
        self._set_text(self.drop_label, drops)
        # Style sheets re-polish the widget: only touch them when the state changes.
        self._set_style(self.drop_label, f"color: {LOW_COLOR}" if dropped else "")
        self._set_style(self.rate_label, f"color: {color}")
        self._set_style(self.bar, f"QProgressBar::chunk {{ background: {color}; }}")
        fraction = 0 if (math.isnan(rate) or not goal) else min(rate / goal, 1.0)
        value = int(fraction * 1000) if goal else (0 if math.isnan(rate) else 1000)
        if value != self.bar.value():
            self.bar.setValue(value)
        self._tip = (f"{self.name}: measured {rate:.2f} Hz" + (f", goal {goal:.2f} Hz" if goal else "")
                     + f", {dropped} samples dropped, {flagged} flagged")
        if below != self._below:
            self._below = below
            self.below_goal_changed.emit(below)


    @staticmethod
    def _set_text(label, text):
        if label.text() != text:
            label.setText(text)

    @staticmethod
    def _set_style(widget, style):
        if widget.styleSheet() != style:
            widget.setStyleSheet(style)

    def event(self, event):
        if event.type() == QtCore.QEvent.ToolTip:
            self.setToolTip(getattr(self, "_tip", ""))
        return super().event(event)


class FrameratePanel(QtWidgets.QWidget):
    """:class:`FramerateGauge` s, one per source, wrapped into rows.

    A rig with many sources gets several rows of gauges rather than one row
    wider than the screen (ten gauges in a row made a 3 600-pixel window).
    """

    #: Gauges update at most this often: digits changing at 30 Hz cannot be read.
    REFRESH_INTERVAL_S = 0.2
    #: Gauges per row.
    COLUMNS = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.gauges = []
        self._last_refresh = -math.inf
        self._layout = QtWidgets.QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def add_source(self, accumulator, name=None, goal=None):
        """Add a gauge for ``accumulator`` and return it."""
        gauge = FramerateGauge(accumulator, name=name, goal=goal, parent=self)
        row, column = divmod(len(self.gauges), self.COLUMNS)
        self.gauges.append(gauge)
        self._layout.addWidget(gauge, row, column)
        self._layout.setColumnStretch(column, 1)
        return gauge

    def refresh(self, force=False):
        now = time.monotonic()
        if not force and now - self._last_refresh < self.REFRESH_INTERVAL_S:
            return
        self._last_refresh = now
        for gauge in self.gauges:
            gauge.refresh()
