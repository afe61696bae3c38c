"""Live traces as pixel columns of a scrolling image: a frame costs its new columns, not the window."""

import numpy as np
import pyqtgraph as pg
from qtpy import QtCore, QtGui, QtWidgets


def _any(mask):
    """mask.any(), without the Python wrapper numpy puts around it (this runs at every frame)."""
    return np.logical_or.reduce(mask, axis=None)


def _argb(color):
    """0xAARRGGBB of a QColor, as numpy.uint32."""
    return np.uint32(QtGui.QColor(color).rgba())


class TraceCanvas(QtWidgets.QWidget):
    """Min/max spans of time bins, one pixel column per bin, in a ring image.

    Bin ``k`` (of a :class:`~rigbook.widgets.decimation.BinnedHistory`) is
    drawn in column ``k mod width``. Painting copies the ring starting after
    the newest bin, so the newest bin is at the right edge. Each frame draws
    only the bins that arrived since the last one (and redraws the still
    open newest bin), so its cost does not grow with the window, the
    samples or the time on screen; painting is two image copies.

    Each column is the vertical span between the bin's min and max, joined
    to the previous bin's span, which is what a polyline through every
    sample would cover in that column. A bin without samples (a gap in the
    data) stays empty.

    The canvas paints opaque over a plot's view area and ignores the mouse,
    leaving the plot's axes and labels around it untouched.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent)
        self.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        self._background = QtGui.QColor("black")
        self._background_argb = _argb(self._background)
        self._image = None
        self._pixels = None  # numpy view (rows, columns) of the image, uint32
        self._palette = np.empty(0, np.uint32)  # background, then each channel's color
        self._scale = np.empty(0)  # per channel: pixel row = scale * value + offset
        self._offset = np.empty(0)
        # The same maps for a bin's min and max at once (see draw): 2 x channels x 1
        self._span_scale = self._span_offset = self._span_limits = np.empty((2, 0, 1))
        self._codes = np.empty((0, 1, 1), np.uint8)
        self._rows = self._negative_rows = np.empty((1, 0, 1))
        self._width = 0
        self._newest = None  # index of the bin in the rightmost column
        self._grid = []  # (QColor, [QLine, ...]): grid lines grouped by color
        self._legend = []  # (name, QColor)

    # -- configuration ---------------------------------------------------------------

    def set_background(self, color):
        self._background = QtGui.QColor(color)
        self._background_argb = _argb(color)
        if self._palette.size:
            self._palette[0] = self._background_argb
        self.clear()

    def set_grid(self, lines):
        """Vertical grid lines drawn over the traces: ``[(x pixel, QColor), ...]``."""
        by_color = {}
        for x, color in lines:
            by_color.setdefault(QtGui.QColor(color).rgba(), []).append(x)
        self._grid = [
            (QtGui.QColor.fromRgba(rgba), [QtCore.QLine(x, 0, x, self.height()) for x in xs])
            for rgba, xs in by_color.items()
        ]
        self.update()

    def set_legend(self, entries):
        """Channel names shown at the top left: ``[(name, QColor), ...]`` (empty for none)."""
        self._legend = list(entries)
        self.update()

    def set_mapping(self, colors, scale, offset, limits):
        """Colors, value-to-row maps and row limits of the channels.

        A value is drawn at row ``scale * value + offset``; ``scale`` must
        be <= 0 (rows grow downwards while values grow upwards), and a
        channel with a NaN offset is not drawn. ``limits`` is ``(top,
        bottom)``, per channel the rows its spans should stay within:
        :meth:`draw` tells when they do not, so that the caller can fit new
        ranges. A change of colors or maps clears the canvas (every column
        must be drawn again); returns True when it did.
        """
        scale = np.asarray(scale, dtype=np.float64)
        offset = np.asarray(offset, dtype=np.float64)
        if (scale > 0).any():
            raise ValueError(f"canvas row scales must be <= 0 (values grow upwards), got {scale.tolist()}")
        top = np.asarray(limits[0], dtype=np.float64)
        bottom = np.asarray(limits[1], dtype=np.float64)
        # A bin's min maps to its span's bottom row, its max to 1 - its top row: then one comparison
        # finds the spans out of their limits (half a pixel of slack: rounding is not leaving them).
        self._span_limits = np.stack((bottom + 0.5, 1.5 - top))[:, :, None]
        palette = np.array([self._background_argb, *[_argb(c) for c in colors]], dtype=np.uint32)
        if (palette.shape == self._palette.shape and (palette == self._palette).all()
                and scale.shape == self._scale.shape and (scale == self._scale).all()
                and ((offset == self._offset) | (np.isnan(offset) & np.isnan(self._offset))).all()):
            return False
        self._palette = palette
        self._scale, self._offset = scale, offset
        self._span_scale = np.stack((scale, -scale))[:, :, None]
        self._span_offset = np.stack((offset, 1.0 - offset))[:, :, None]
        # channel i + 1 is painted where it passes; where several pass, the last listed is on top
        self._codes = np.arange(1, scale.size + 1, dtype=np.uint8 if scale.size < 255 else np.int64)[:, None, None]
        self.clear()
        return True

    def clear(self):
        """Forget every column: the next :meth:`draw` starts over."""
        self._newest = None
        if self._pixels is not None:
            self._pixels[...] = self._background_argb
        self.update()

    def first_bin_wanted(self, newest):
        """Oldest bin :meth:`draw` needs when bin ``newest`` is the newest.

        That is the bins not drawn yet, the last frame's newest (it may have
        grown since) and the bin before them, which the first span joins.
        """
        if self._pixels is None:  # (the image follows resize events; before the first, look now)
            self._ensure_image()
        width = self._width
        if self._newest is None or newest < self._newest:
            return newest - width
        return max(self._newest, newest - width + 1) - 1

    # -- drawing -----------------------------------------------------------------------

    def draw(self, indexes, spans):
        """Draw bins ``indexes`` (ascending) with ``spans``: 2 x channels x bins, each bin's min then max.

        The newest bin becomes the right edge. Bins older than the last
        frame's newest are used only to join the first new span to; columns
        of bins between the last frame's newest and this one's that have no
        samples are cleared. Returns True if a drawn span left its
        channel's row limits (see :meth:`set_mapping`).
        """
        if self._pixels is None:
            self._ensure_image()
        if self._pixels is None or indexes.size == 0:
            return False
        height, width = self._pixels.shape
        newest = int(indexes[-1])
        first_new = newest - width + 1
        if self._newest is not None and newest >= self._newest:  # else time went backwards (a reset): start over
            first_new = max(self._newest, first_new)
        # y[0]: each span's bottom row (the bin's min: rows grow downwards), y[1]: 1 - its top row.
        # One array for both ends halves the calls, and this runs per plot at every frame.
        y = spans * self._span_scale
        y += self._span_offset
        i0 = int(indexes.searchsorted(first_new))
        # (a ufunc reduction rather than .any(): that goes through a Python wrapper)
        overflow = bool(_any(y[:, :, i0:] > self._span_limits))
        if y.shape[2] > 1:
            # Join each span to the previous bin's (what a line from one to the next would cover): its
            # bottom reaches down to the previous top, its top up to the previous bottom. np.maximum gives
            # NaN when either is NaN, fmax then keeps the span as it was: a NaN bin stays undrawn and
            # nothing is joined to it.
            previous = 1.0 - y[::-1, :, :-1]
            current = y[:, :, 1:]
            np.fmax(current, np.maximum(current, previous), out=current)
        n_columns = newest - first_new + 1
        start = first_new % width
        drawn = indexes[i0:]
        if drawn.size:
            # row r is in the span from row `top` to `bottom` when floor(top) <= r <= bottom, that is
            # when -r < 1 - top and r <= bottom (r is whole): channels x rows x bins
            rows, negative_rows = self._row_numbers(height)
            hit = (negative_rows < y[1, :, None, i0:]) & (rows <= y[0, :, None, i0:])
            codes = np.maximum.reduce(hit * self._codes, axis=0)
            if drawn.size == n_columns and start + n_columns <= width:  # the common frame: no gap, no wrap
                self._palette.take(codes, out=self._pixels[:, start:start + n_columns])
                columns = None
            else:
                columns = self._palette[codes]
                if drawn.size < n_columns:  # bins without samples leave their columns empty
                    block = np.full((height, n_columns), self._background_argb, dtype=np.uint32)
                    block[:, (drawn - first_new).astype(np.intp)] = columns
                    columns = block
        else:
            columns = np.full((height, n_columns), self._background_argb, dtype=np.uint32)
        if columns is not None:
            head = min(n_columns, width - start)  # the ring wraps after the last column
            self._pixels[:, start:start + head] = columns[:, :head]
            if head < n_columns:
                self._pixels[:, :n_columns - head] = columns[:, head:]
        self._newest = newest
        self.update()
        return overflow

    def _row_numbers(self, height):
        """Row numbers and their negatives, shaped to broadcast against channels x 1 x bins."""
        if self._rows.shape[1] != height:
            self._rows = np.arange(height, dtype=np.float64)[None, :, None]
            self._negative_rows = -self._rows
        return self._rows, self._negative_rows

    def _ensure_image(self):
        width, height = self.width(), self.height()
        if width <= 0 or height <= 0:
            self._image = self._pixels = None
            self._width = 0
            return
        if self._image is not None and self._image.width() == width and self._image.height() == height:
            return
        self._image = QtGui.QImage(width, height, QtGui.QImage.Format_RGB32)
        self._pixels = pg.functions.ndarray_from_qimage(self._image).view(np.uint32)[..., 0]
        self._pixels[...] = self._background_argb
        self._width = width
        self._newest = None

    def resizeEvent(self, event):
        self._ensure_image()
        super().resizeEvent(event)

    def paintEvent(self, _event):
        painter = QtGui.QPainter(self)
        if self._image is None or self._newest is None:
            painter.fillRect(self.rect(), self._background)
        else:
            width, height = self._image.width(), self._image.height()
            split = (self._newest + 1) % width
            painter.drawImage(0, 0, self._image, split, 0, width - split, height)
            if split:
                painter.drawImage(width - split, 0, self._image, 0, 0, split, height)
        for color, lines in self._grid:
            painter.setPen(color)
            painter.drawLines(lines)
        if self._legend:
            metrics = painter.fontMetrics()
            y = metrics.ascent() + 4
            for name, color in self._legend:
                painter.setPen(color)
                painter.drawText(6, y, name)
                y += metrics.height()
        painter.end()
