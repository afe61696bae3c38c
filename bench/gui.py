"""GUI cost: share of one core the GUI thread uses for 10 streams x 1 kHz x 10 fields.

Rigbook: the real ExperimentController and MainWindow with a rig of 10
synthetic sources (each its own process, blocks of samples through a
NamedTupleQueue), drain timer 15 ms, plot timer at most 30 Hz (34 ms), every
plot showing all 10 fields as stacked lanes over a 5 s window, offscreen.

Naive baseline, same run, same producers, window size and plot widgets:
stytra's way on the consumer side: samples taken one namedtuple at a time
(``NamedTupleQueue.get``) into a Python list, and a pandas DataFrame rebuilt
from that list at every plot frame. It cannot keep up: its plots run at
about half the frame rate, with its GUI thread saturated (share ~1.0).

Figure: GUI-thread CPU seconds (time.thread_time) per wall second over a
fixed interval, median of the repeats. Prints one JSON line.

    .venv/bin/python bench/gui.py [--seconds 5] [--repeats 3]
"""

import argparse
import json
import os
import queue as queue_module
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

N_STREAMS = 10
N_FIELDS = 10
RATE = 1000.0
WINDOW_S = 5.0
BUDGET = 0.15
FIELDS = [f"ch{i}" for i in range(N_FIELDS)]


class NaiveAccumulator:
    """The baseline: a list of namedtuples and a DataFrame rebuilt per frame (stytra's accumulator)."""

    def __init__(self, queue, name, max_history):
        self.queue = queue
        self.name = name
        self.stored = []
        self.max_history = max_history
        self.columns = ["t", *FIELDS]
        self.monitored_headers = FIELDS

    def update_list(self):
        while True:
            try:
                t, sample = self.queue.get(block=False)
            except queue_module.Empty:
                break
            self.stored.append((t, *sample))
        if len(self.stored) > 1.5 * self.max_history:
            self.stored = self.stored[-self.max_history:]

    def get_last_t(self, seconds):
        import pandas as pd

        frame = pd.DataFrame(self.stored, columns=self.columns)
        if frame.empty:
            return np.empty((0, len(self.columns)))
        last = frame["t"].iloc[-1]
        return frame[frame["t"] > last - seconds].to_numpy()


def _rate(stamps, seconds):
    """Events per second over the last ``seconds`` of ``stamps``."""
    if not stamps:
        return 0.0
    end = stamps[-1]
    return round(sum(1 for x in stamps if x > end - seconds) / seconds, 1)


def _wall_share(app, seconds, warmup):
    """(GUI-thread CPU, whole-process CPU) per wall second over ``seconds`` after ``warmup``."""
    from qtpy import QtCore

    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(warmup * 1000), loop.quit)
    loop.exec_()
    cpu0, proc0, wall0 = time.thread_time(), time.process_time(), time.perf_counter()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()
    wall = time.perf_counter() - wall0
    return (time.thread_time() - cpu0) / wall, (time.process_time() - proc0) / wall


def measure_rigbook(app, seconds, warmup):
    """Shares for: plots of all 10 fields, plots of 3 fields, drain only (window hidden)."""
    from rigbook.app.controller import SessionController
    from rigbook.app.main_window import MainWindow
    from rigbook.session.rig import Rig, Source
    from rigbook.session.sources import synthetic_stream

    rig = Rig(
        name="bench rig",
        sources=[
            Source(name=f"stream{i}", target=synthetic_stream,
                   options=dict(rate=RATE, n_fields=N_FIELDS, seed=i), goal_rate=RATE,
                   monitored_headers=FIELDS)
            for i in range(N_STREAMS)
        ],
    )
    controller = SessionController(rig)
    window = MainWindow(controller)
    window.resize(1600, 1200)
    window.show()
    figures = {}
    try:
        deadline = time.monotonic() + 60
        while not controller.session.sources_ready() and time.monotonic() < deadline:
            _wall_share(app, 0.1, 0)
        for plot in window.plots:
            plot.set_window(WINDOW_S)
            plot.set_channels(FIELDS)
        frames = []
        controller.frame.connect(lambda: frames.append(time.perf_counter()))
        figures["all_fields"] = _wall_share(app, seconds, warmup)
        figures["frames_per_s"] = _rate(frames, seconds)
        figures["curves"] = sum(len(p.selected_channels) for p in window.plots)
        # The window's minimum size (a gauge per stream) can exceed the size asked for.
        figures["window_px"] = [window.width(), window.height()]
        figures["plot_area_px"] = [round(window.plots[0].view_box.width()), round(window.plots[0].view_box.height())]
        for plot in window.plots:
            plot.set_channels(FIELDS[:3])
        figures["three_fields"] = _wall_share(app, seconds, warmup)
        window.hide()
        figures["drain_only"] = _wall_share(app, seconds, warmup)
        figures["received"] = sum(acc.n_received for acc in controller.accumulators.values())
        figures["dropped"] = sum(acc.dropped for acc in controller.accumulators.values())
    finally:
        controller.shutdown()
        window.close()
        window.deleteLater()
    return figures


def measure_naive(app, seconds, warmup):
    from qtpy import QtCore, QtWidgets

    from rigbook.widgets.stream_plot import StreamPlot

    from rigbook.session.sources import SourceProcess, _mp_context, synthetic_stream
    from rigbook.collectors import NamedTupleQueue

    # The same producers as Rigbook's run; only the consumer side differs.
    queues = [NamedTupleQueue(context=_mp_context()) for _ in range(N_STREAMS)]
    processes = [SourceProcess(f"naive{i}", synthetic_stream, q, dict(rate=RATE, n_fields=N_FIELDS, seed=i))
                 for i, q in enumerate(queues)]
    for p in processes:
        p.start()
    accumulators = [NaiveAccumulator(q, f"stream{i}", int(WINDOW_S * RATE * 1.2)) for i, q in enumerate(queues)]
    window = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(window)
    plots = []
    for acc in accumulators:
        plot = StreamPlot(acc, window_s=WINDOW_S)
        plots.append(plot)
        layout.addWidget(plot)
    window.resize(1600, 1200)
    window.show()
    drain = QtCore.QTimer()
    drain.setInterval(15)
    drain.timeout.connect(lambda: [a.update_list() for a in accumulators])
    draw = QtCore.QTimer()
    draw.setInterval(33)
    frames = []
    draw.timeout.connect(lambda: [p.refresh() for p in plots] and frames.append(time.perf_counter()))
    drain.start()
    draw.start()
    try:
        share = _wall_share(app, seconds, warmup)[0]
        frame_rate = _rate(frames, seconds)
        window.hide()  # plots skip hidden refreshes: what is left is the data path
        drain_share = _wall_share(app, seconds, warmup)[0]
    finally:
        drain.stop()
        draw.stop()
        for p in processes:
            p.request_stop()
        for p in processes:
            p.stop(drain=lambda: [a.update_list() for a in accumulators])
        window.close()
        window.deleteLater()
    return share, frame_rate, drain_share


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    # The app saves its settings on close: keep them out of the repository and the user's config.
    config_dir = tempfile.TemporaryDirectory(prefix="rigbook-bench-config-")
    os.environ["RIGBOOK_CONFIG_DIR"] = config_dir.name
    try:
        result = _run(args)
    finally:
        config_dir.cleanup()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def _run(args):
    from rigbook.app.application import make_application

    app = make_application()
    runs = {"all_fields": [], "three_fields": [], "drain_only": [], "naive": [], "naive_drain_only": []}
    process = {"all_fields": [], "three_fields": [], "drain_only": []}
    frame_rates = {"rigbook": [], "naive": []}
    last = {}
    for _ in range(args.repeats):
        last = measure_rigbook(app, args.seconds, args.warmup)
        for key in process:
            runs[key].append(last[key][0])
            process[key].append(last[key][1])
        naive_share, naive_fps, naive_drain = measure_naive(app, args.seconds, args.warmup)
        runs["naive"].append(naive_share)
        runs["naive_drain_only"].append(naive_drain)
        frame_rates["rigbook"].append(last["frames_per_s"])
        frame_rates["naive"].append(naive_fps)
    median = {key: statistics.median(values) for key, values in runs.items()}
    result = {
        "bench": "gui",
        "what": f"GUI-thread CPU share (of one core), {N_STREAMS} streams x {RATE:g} Hz x {N_FIELDS} fields, "
                f"drain 15 ms + plots at most 30 Hz, {WINDOW_S:g} s windows, window asked 1600x1200 (real size: window_px), offscreen",
        "rigbook_gui_cpu_share": round(median["all_fields"], 4),
        "naive_gui_cpu_share": round(median["naive"], 4),
        "ratio_naive_over_rigbook": round(median["naive"] / median["all_fields"], 2),
        "budget": BUDGET,
        "within_budget": median["all_fields"] <= BUDGET,
        "rigbook_curves": last.get("curves"),
        "window_px": last.get("window_px"),
        "plot_area_px": last.get("plot_area_px"),
        "plot_frames_per_s": {k: statistics.median(v) for k, v in frame_rates.items()},
        "rigbook_three_fields_per_stream_share": round(median["three_fields"], 4),
        "rigbook_drain_only_share": round(median["drain_only"], 4),
        "naive_drain_only_share": round(median["naive_drain_only"], 4),
        "rigbook_process_cpu_share_all_fields": round(statistics.median(process["all_fields"]), 4),
        "samples_received_last_run": last.get("received"),
        "dropped_last_run": last.get("dropped"),
        "runs": {key: [round(x, 4) for x in values] for key, values in runs.items()},
        "seconds_per_run": args.seconds,
        "cores": os.cpu_count(),
    }
    return result


if __name__ == "__main__":
    raise SystemExit(main())
