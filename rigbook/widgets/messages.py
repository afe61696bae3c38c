"""Status and messages: errors, warnings and information from sources and saving."""

import datetime
import logging

from qtpy import QtCore, QtGui, QtWidgets

logger = logging.getLogger(__name__)

LEVELS = ("error", "warning", "info")
_COLORS = {"error": "#c01818", "warning": "#a05a00", "info": "#303030"}
_LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}


class MessageLog(QtWidgets.QListWidget):
    """A list of time-stamped messages, newest at the bottom, colored by level.

    Parameters
    ----------
    status_bar : QtWidgets.QStatusBar, optional
        Also shows each message there (errors and warnings stay until the
        next message; information for 10 s).
    max_messages : int
        Oldest messages are dropped beyond this many.
    """

    posted = QtCore.Signal(str, str)

    def __init__(self, status_bar=None, max_messages=500, parent=None):
        super().__init__(parent)
        self.status_bar = status_bar
        self.max_messages = int(max_messages)
        self.messages = []  # (level, text)
        self.setWordWrap(True)
        self.setAlternatingRowColors(False)

    def post(self, level, text):
        """Show a message. ``level`` is ``"error"``, ``"warning"`` or ``"info"``."""
        if level not in LEVELS:
            raise ValueError(f"message level {level!r} is not one of {', '.join(LEVELS)}")
        text = str(text)
        stamp = datetime.datetime.now().strftime("%H:%M:%S")
        item = QtWidgets.QListWidgetItem(f"{stamp}  {level.upper():7s} {text}")
        item.setForeground(QtGui.QBrush(QtGui.QColor(_COLORS[level])))
        item.setToolTip(text)
        self.addItem(item)
        self.messages.append((level, text))
        while self.count() > self.max_messages:
            self.takeItem(0)
            self.messages.pop(0)
        self.scrollToBottom()
        if self.status_bar is not None:
            self.status_bar.setStyleSheet(f"color: {_COLORS[level]}")
            self.status_bar.showMessage(text, 0 if level != "info" else 10_000)
        logger.log(_LOG_LEVELS[level], "%s", text)
        self.posted.emit(level, text)

    def texts(self, level=None):
        """Texts of the messages held, optionally only those of one level."""
        return [text for lvl, text in self.messages if level is None or lvl == level]
