"""One graphics item drawing every curve of a plot: polylines filled straight from numpy."""

import numpy as np
import pyqtgraph as pg
from qtpy import QtCore, QtGui


class LinesItem(pg.GraphicsObject):
    """All curves of one plot in one item: one polyline per channel, one paint call.

    pyqtgraph's curve items recompute their bounds and rebuild paths per
    curve on every update; for tens of channels refreshed at 30 Hz that
    overhead dominates. Here the bounding rectangle is given and each line
    is a QPolygonF filled straight from numpy.
    """

    def __init__(self):
        super().__init__()
        self._lines = []  # (pen, QPolygonF or QPainterPath)
        self._rect = QtCore.QRectF()

    def set_lines(self, lines, rect):
        """``lines``: list of ``(pen, x, y)``; ``rect``: QRectF enclosing them."""
        built = []
        for pen, x, y in lines:
            if x.size == 0:
                continue
            if np.isfinite(y).all():
                poly = pg.functions.create_qpolygonf(x.size)
                view = pg.functions.ndarray_from_qpolygonf(poly)
                view[:, 0] = x
                view[:, 1] = y
                built.append((pen, poly))
            else:  # flagged NaN samples: break the line there
                built.append((pen, pg.functions.arrayToQPath(x, y, connect="finite")))
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QtCore.QRectF(rect)
        self._lines = built
        self.update()

    def boundingRect(self):
        return self._rect

    def paint(self, painter, *_):
        for pen, shape in self._lines:
            painter.setPen(pen)
            if isinstance(shape, QtGui.QPolygonF):
                painter.drawPolyline(shape)
            else:
                painter.drawPath(shape)
