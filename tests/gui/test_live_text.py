"""A readout that changes often repaints itself only: the window is not laid out again."""

from qtpy import QtCore, QtWidgets

from rigbook.widgets.live_text import LiveText


class EventCounter(QtCore.QObject):
    """Counts the events of one type that the widgets it filters receive, per widget."""

    def __init__(self, event_type):
        super().__init__()
        self.event_type = event_type
        self.by_widget = {}

    def eventFilter(self, obj, event):
        if event.type() == self.event_type:
            self.by_widget[obj] = self.by_widget.get(obj, 0) + 1
        return False


def test_new_text_repaints_without_a_layout_request(qtbot):
    window = QtWidgets.QWidget()
    qtbot.addWidget(window)
    layout = QtWidgets.QHBoxLayout(window)
    text = LiveText("no data yet")
    layout.addWidget(QtWidgets.QLabel("tracker"))
    layout.addWidget(text, 1)
    window.resize(400, 40)
    with qtbot.waitExposed(window):
        window.show()
    requests = EventCounter(QtCore.QEvent.LayoutRequest)
    window.installEventFilter(requests)
    for n in range(20):
        text.setText(f"{n * 1000:,} samples in view · newest at t = {n / 4:,.2f} s")
    QtWidgets.QApplication.processEvents()
    assert requests.by_widget.get(window, 0) == 0
    assert text.text() == "19,000 samples in view · newest at t = 4.75 s"
    image = text.grab().toImage()
    background = image.pixel(image.width() - 1, image.height() - 1)
    drawn = {image.pixel(x, y) for x in range(0, 60) for y in range(image.height())}
    assert drawn - {background}  # the text is there


def test_long_text_is_elided_to_the_width_given(qtbot):
    text = LiveText("x" * 500)
    qtbot.addWidget(text)
    text.resize(80, 20)
    text.show()
    assert text.sizeHint().height() == text.fontMetrics().height()
    assert text.minimumSizeHint().width() == 0  # never widens the window


def test_new_text_repaints_the_readout_alone_not_the_widgets_behind_it(qtbot):
    window = QtWidgets.QWidget()
    qtbot.addWidget(window)
    layout = QtWidgets.QHBoxLayout(window)
    text = LiveText("no data yet")
    layout.addWidget(text)
    window.resize(400, 40)
    with qtbot.waitExposed(window):
        window.show()
    QtWidgets.QApplication.processEvents()
    paints = EventCounter(QtCore.QEvent.Paint)
    window.installEventFilter(paints)
    text.installEventFilter(paints)
    text.setText("1,000 samples in view")
    qtbot.waitUntil(lambda: paints.by_widget.get(text, 0) >= 1)
    assert paints.by_widget.get(window, 0) == 0
