"""A plot of a probe's hundreds of channels shows a page of them, and a scroll bar moves the page."""

import numpy as np

from rigbook.collectors import Accumulator
from rigbook.widgets.channel_pager import PAGE
from rigbook.widgets.stream_plot import StreamPlot
from rigbook.session.synthetic_ephys import channel_names

CHANNELS = 384


def probe_accumulator(n=3000):
    acc = Accumulator(name="probe", t0=0.0, max_history_if_not_running=None)
    names = channel_names(CHANNELS)
    index = np.arange(n)
    acc.append_block(index / 30000.0, {name: ((index + c) % 100).astype(np.int16) for c, name in enumerate(names)})
    return acc, names


def shown(qtbot, acc):
    plot = StreamPlot(acc, window_s=0.1)
    qtbot.addWidget(plot)
    plot.resize(900, 600)
    with qtbot.waitExposed(plot):
        plot.show()
    return plot


def test_a_probe_plot_shows_one_page_of_channels_and_the_pager(qtbot):
    acc, names = probe_accumulator()
    plot = shown(qtbot, acc)
    assert plot.selected_channels == names[:PAGE]
    assert plot.pager.isVisible()
    assert plot.pager.label.text() == f"{names[0]}–{names[PAGE - 1]} of {CHANNELS}"


def test_scrolling_the_pager_plots_the_next_channels(qtbot):
    acc, names = probe_accumulator()
    plot = shown(qtbot, acc)
    plot.refresh()
    plot.pager.set_first(100)
    assert plot.selected_channels == names[100 : 100 + PAGE]
    x, y = plot.curve_data(names[100])
    assert len(x) > 0
    plot.pager.set_first(10_000)  # past the end: the last page
    assert plot.selected_channels == names[-PAGE:]


def test_a_stream_of_few_channels_has_no_pager(qtbot):
    acc = Accumulator(name="few", t0=0.0)
    acc.append_block(np.arange(10.0), {"a": np.zeros(10), "b": np.ones(10)})
    plot = shown(qtbot, acc)
    assert not plot.pager.isVisible()
    assert plot.selected_channels == ["a", "b"]
