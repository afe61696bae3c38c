"""A line of text that changes several times a second without re-laying out its window."""

from qtpy import QtCore, QtGui, QtWidgets


class LiveText(QtWidgets.QWidget):
    """One line of gray text, elided to the width it is given.

    A QLabel asks its layout to recompute the window's geometry at every
    new text; for a readout updated a few times a second in each of ten
    plots, that cost more than drawing the plots. This widget's size hint
    is one line high and does not depend on the text: a new text only
    repaints it.
    """

    def __init__(self, text="", parent=None):
        super().__init__(parent)
        self._text = str(text)
        self.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Fixed)
        # Opaque: a new text repaints this widget alone. Transparent, it had Qt repaint the plot,
        # the splitter and the window behind it, ten plots four times a second.
        self.setAutoFillBackground(True)
        self._color = QtGui.QColor("gray")

    def text(self):
        return self._text

    def setText(self, text):
        text = str(text)
        if text != self._text:
            self._text = text
            self.update()

    def sizeHint(self):
        metrics = self.fontMetrics()
        return QtCore.QSize(metrics.horizontalAdvance(self._text[:20]), metrics.height())

    def minimumSizeHint(self):
        return QtCore.QSize(0, self.fontMetrics().height())

    def paintEvent(self, _event):
        painter = QtGui.QPainter(self)
        painter.setPen(self._color)
        metrics = painter.fontMetrics()
        text = metrics.elidedText(self._text, QtCore.Qt.ElideRight, self.width())
        painter.drawText(self.rect(), int(QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter), text)
        painter.end()
