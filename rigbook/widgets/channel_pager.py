"""Paging through many channels: a scroll bar that picks which consecutive channels a plot shows.

A probe has hundreds of channels; drawing them all at once is neither legible
nor cheap. A plot of a stream with more than :data:`PAGE` channels shows a
page of them, and this bar moves the page.
"""

from qtpy import QtCore, QtWidgets

#: channels shown at once when a stream has more
PAGE = 16


class ChannelPager(QtWidgets.QWidget):
    """A scroll bar over a list of channel names; emits the page of names it shows.

    Parameters
    ----------
    page : int
        Channels per page.

    Attributes
    ----------
    page_changed : Signal(list)
        The names of the new page, when the user (or :meth:`set_first`) moves it.
    """

    page_changed = QtCore.Signal(list)

    def __init__(self, page=PAGE, parent=None):
        super().__init__(parent)
        if page < 1:
            raise ValueError(f"a channel page holds at least one channel, got {page!r}")
        self.page = int(page)
        self._names = []
        self.bar = QtWidgets.QScrollBar(QtCore.Qt.Horizontal)
        self.bar.setPageStep(self.page)
        self.bar.setMinimumWidth(120)
        self.bar.setToolTip("scroll through the channels")
        self.label = QtWidgets.QLabel()
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.label)
        self.bar.valueChanged.connect(self._moved)
        self.setVisible(False)

    @property
    def needed(self):
        """True when there are more channels than one page."""
        return len(self._names) > self.page

    def set_channels(self, names):
        """Page through ``names``; shown only when they are more than a page. Does not emit."""
        self._names = list(names)
        self.bar.blockSignals(True)
        self.bar.setRange(0, max(0, len(self._names) - self.page))
        self.bar.setValue(0)
        self.bar.blockSignals(False)
        self._show_label(0)
        self.setVisible(self.needed)

    def page_at(self, first):
        """The names of the page starting at channel index ``first`` (clamped)."""
        first = min(max(int(first), 0), max(0, len(self._names) - self.page))
        return self._names[first : first + self.page]

    def set_first(self, first):
        """Move the page to start at channel index ``first`` (emits :attr:`page_changed`)."""
        self.bar.setValue(int(first))

    def _moved(self, first):
        self._show_label(first)
        self.page_changed.emit(self.page_at(first))

    def _show_label(self, first):
        page = self.page_at(first)
        self.label.setText(f"{page[0]}–{page[-1]} of {len(self._names)}" if page else "")
