"""The live canvas shows each time bin as a pixel column, newest at the right, and scrolls."""

import numpy as np
import pytest
from qtpy import QtGui

from rigbook.widgets.trace_canvas import TraceCanvas

WIDTH, HEIGHT = 20, 10
RED, BLUE, BLACK = QtGui.QColor(255, 0, 0), QtGui.QColor(0, 0, 255), QtGui.QColor(0, 0, 0)


def shown(canvas):
    """What the canvas shows: (rows x columns) array of 0xAARRGGBB."""
    image = canvas.grab().toImage().convertToFormat(QtGui.QImage.Format_ARGB32)
    return np.array([[image.pixel(x, y) for x in range(image.width())] for y in range(image.height())], dtype=np.uint32)


def spans(low, high):
    """What the canvas draws from: 2 x channels x bins, each bin's min then max."""
    return np.array([low, high], dtype=float)


def lit_rows(pixels, column, color):
    return [int(r) for r in np.flatnonzero(pixels[:, column] == color.rgba())]


@pytest.fixture
def canvas(qtbot):
    canvas = TraceCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(WIDTH, HEIGHT)
    canvas.set_background(BLACK)
    # value v is drawn at row 9 - v: 0 at the bottom, 9 at the top; limits are the whole height
    canvas.set_mapping([RED], [-1.0], [9.0], ([0.0], [9.0]))
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def test_each_bin_is_its_min_max_span_joined_to_the_previous_newest_at_the_right(canvas):
    low = np.array([[1.0, 2.0, 6.0, 3.0]])
    high = np.array([[2.0, 4.0, 7.0, 3.0]])
    assert canvas.draw(np.array([10, 11, 12, 13]), spans(low, high)) is False
    pixels = shown(canvas)
    right = WIDTH - 1
    assert lit_rows(pixels, right, RED) == [3, 4, 5, 6]  # bin 13: value 3 (row 6), joined up to bin 12's low (6, row 3)
    assert lit_rows(pixels, right - 1, RED) == [2, 3, 4, 5]  # bin 12: 6..7, joined down to bin 11's high (4)
    assert lit_rows(pixels, right - 2, RED) == [5, 6, 7]  # bin 11: 2..4
    assert lit_rows(pixels, right - 3, RED) == [7, 8]  # bin 10: 1..2, nothing before it
    assert (pixels[:, : right - 3] == BLACK.rgba()).all()  # no data yet on the left


def test_a_frame_adds_its_new_bins_and_scrolls_gaps_stay_empty(canvas):
    canvas.draw(np.array([10, 11]), spans([[1.0, 1.0]], [[1.0, 1.0]]))
    # next frame: bin 11 again (it was still filling), then 12 and 15; 13 and 14 had no samples
    canvas.draw(np.array([11, 12, 15]), spans([[1.0, 5.0, 5.0]], [[1.0, 5.0, 5.0]]))
    pixels = shown(canvas)
    right = WIDTH - 1
    assert lit_rows(pixels, right, RED) == [4]  # bin 15
    assert lit_rows(pixels, right - 1, RED) == [] and lit_rows(pixels, right - 2, RED) == []  # 14, 13: a gap
    assert lit_rows(pixels, right - 3, RED) == [4, 5, 6, 7, 8]  # bin 12, joined to 11
    assert lit_rows(pixels, right - 5, RED) == [8]  # bin 10 scrolled 4 columns left


def test_the_ring_wraps_without_losing_columns(canvas):
    for newest in range(6, 3 * WIDTH, 7):  # frames of 7 new bins, the ring wraps several times
        k = np.arange(max(canvas.first_bin_wanted(newest), 0), newest + 1)
        canvas.draw(k, spans([k % 10], [k % 10]))
    pixels = shown(canvas)
    for column in range(WIDTH):
        k = newest - (WIDTH - 1 - column)
        assert 9 - (k % 10) in lit_rows(pixels, column, RED), column


def test_later_channels_are_on_top_and_nan_is_not_drawn(canvas):
    canvas.set_mapping([RED, BLUE], [-1.0, -1.0], [9.0, 9.0], ([0.0, 0.0], [9.0, 9.0]))
    low = np.array([[2.0, np.nan], [4.0, np.nan]])
    high = np.array([[6.0, np.nan], [4.0, np.nan]])
    canvas.draw(np.array([3, 4]), spans(low, high))
    pixels = shown(canvas)
    assert lit_rows(pixels, WIDTH - 2, BLUE) == [5]
    assert lit_rows(pixels, WIDTH - 2, RED) == [3, 4, 6, 7]
    assert (pixels[:, WIDTH - 1] == BLACK.rgba()).all()  # a bin of flagged samples only: nothing


def test_a_span_outside_its_limits_is_reported(canvas):
    canvas.set_mapping([RED], [-1.0], [9.0], ([4.0], [9.0]))  # values up to 5 expected
    assert canvas.draw(np.array([1]), spans([[0.0]], [[5.0]])) is False
    assert canvas.draw(np.array([2]), spans([[0.0]], [[7.0]])) is True


def test_a_new_mapping_or_time_going_back_starts_over(canvas):
    canvas.draw(np.array([50, 51]), spans([[1.0, 1.0]], [[1.0, 1.0]]))
    assert canvas.set_mapping([RED], [-1.0], [9.0], ([0.0], [9.0])) is False  # unchanged: kept
    assert canvas.first_bin_wanted(53) == 50  # bin 51 may have grown; 50 to join to
    canvas.draw(np.array([3]), spans([[2.0]], [[2.0]]))  # a reset: bin 3 after 51
    pixels = shown(canvas)
    assert lit_rows(pixels, WIDTH - 1, RED) == [7]
    assert (pixels[:, : WIDTH - 1] == BLACK.rgba()).all()
    assert canvas.set_mapping([RED], [-2.0], [9.0], ([0.0], [9.0])) is True
    assert (shown(canvas) == BLACK.rgba()).all()
    with pytest.raises(ValueError, match="<= 0"):
        canvas.set_mapping([RED], [1.0], [0.0], ([0.0], [9.0]))
