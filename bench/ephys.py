"""Benchmark: one Neuropixels probe live (DESIGN.md §5), one JSON line.

A synthetic probe (:mod:`rigbook.session.synthetic_ephys`) sends 384 channels x
30 kHz of int16 in blocks of 600 samples (20 ms), paced in real time, from its
own process through a :class:`NamedTupleQueue` into a
:class:`QueueDataAccumulator` recorded by a :class:`StreamRecorder`, driven by
Qt timers as in the app: drain every 10 ms, record poll every 0.5 s. For the
first half of the run nothing is plotted; for the second half a
:class:`StreamPlot` of the stream (16 channels, 5 s window, 1200 x 600 px,
offscreen) refreshes at 30 Hz.

Figures, per stream (384 ch int16, then 64 ch float32):

* ``dropped`` (must be 0) and ``log_exact``: the log read back holds every
  sample, every channel, bit for bit, in order, with its dtype;
* ``drain_log_core``: CPU of the consuming process (drain, storage, Arrow
  conversion, log writing and fsync, all threads) / wall time, first half
  (budget 0.25);
* ``plot_extra_core``: the same in the second half minus the first (budget
  0.25).

Naive baseline, measured in the same run (``--naive-seconds``): the same
blocks as 2-D arrays through a plain ``multiprocessing.Queue`` (pickled),
the consumer writing each block's bytes to a file; its CPU / wall time.

    .venv/bin/python bench/ephys.py [--seconds 600] [--naive-seconds 30]
"""

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RATE = 30000.0
BLOCK = 600
STREAMS = [(384, "int16"), (64, "float32")]


def run_stream(channels, dtype, seconds, folder):
    from qtpy import QtCore, QtWidgets

    from rigbook.collectors import NamedTupleQueue, QueueDataAccumulator
    from rigbook.collectors.recording import StreamRecorder
    from rigbook.session.synthetic_ephys import channel_names, ephys_source
    from rigbook.widgets.stream_plot import StreamPlot

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    context = multiprocessing.get_context("spawn")
    n = int(seconds * RATE) // BLOCK * BLOCK
    q = NamedTupleQueue(context=context)
    # As the rig makes it (rigbook.session.synthetic_ephys.ephys_rig): the first 16 channels plotted.
    acc = QueueDataAccumulator(q, name="probe", recording=True, monitored_headers=channel_names(channels)[:16])
    recorder = StreamRecorder([acc], folder)
    stop = context.Event()
    source = context.Process(target=ephys_source, args=(q, stop), kwargs=dict(
        channels=channels, rate=RATE, dtype=dtype, block_samples=BLOCK, max_samples=n))
    plot = StreamPlot(acc, window_s=5.0)
    plot.resize(1200, 600)
    phases = {}
    state = {"phase": None, "cpu": 0.0, "wall": 0.0}

    def mark(name):
        now_cpu, now_wall = time.process_time(), time.perf_counter()
        if state["phase"] is not None:
            phases[state["phase"]] = (now_cpu - state["cpu"], now_wall - state["wall"])
        state.update(phase=name, cpu=now_cpu, wall=now_wall)

    drain = QtCore.QTimer(interval=10, timeout=acc.update_list)
    record = QtCore.QTimer(interval=500, timeout=recorder.poll)
    frames = QtCore.QTimer(interval=33, timeout=plot.refresh)
    frames.setTimerType(QtCore.Qt.PreciseTimer)
    half = n // 2

    def check():
        if state["phase"] is None and acc.n_received > 0:
            mark("drain_log")  # from the first block on: the source process is up
        elif state["phase"] == "drain_log" and acc.n_received >= half:
            plot.show()
            frames.start()
            mark("plotted")
        elif acc.n_received >= n:
            mark(None)
            app.quit()

    watch = QtCore.QTimer(interval=20, timeout=check)
    source.start()
    for timer in (drain, record, watch):
        timer.start()
    app.exec_()
    for timer in (drain, record, watch, frames):
        timer.stop()
    plot.close()
    source.join(30)
    recorder.close()
    acc.close()
    path = recorder.paths["probe"][0]
    exact, rows, largest = log_matches(path, channels, dtype, n)
    cpu0, wall0 = phases["drain_log"]
    cpu1, wall1 = phases["plotted"]
    return {
        "channels": channels, "dtype": dtype, "rate_hz": RATE, "seconds": round(n / RATE, 1),
        "samples": n, "log_rows": rows, "dropped": acc.dropped, "flagged": acc.flagged, "log_exact": exact,
        "log_gb": round(path.stat().st_size / 1e9, 2),
        "drain_log_core": round(cpu0 / wall0, 3),
        "plotted_core": round(cpu1 / wall1, 3),
        "plot_extra_core": round(cpu1 / wall1 - cpu0 / wall0, 3),
        "rows_in_ram_at_end": acc.n_held,
        "largest_log_batch_rows": largest,
    }


def log_matches(path, channels, dtype, n):
    """(every sample of every channel in the log as sent, rows checked, largest batch); reads batch by batch."""
    import pyarrow as pa

    from rigbook.session.synthetic_ephys import POOL_SAMPLES, channel_names, signal_pool

    pool = signal_pool(channels, dtype)
    names = channel_names(channels)
    row = 0
    largest = 0
    previous_t = -np.inf
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_stream(source)
        if reader.schema.names != ["t", *names]:
            return False, 0, 0
        for batch in reader:
            k = batch.num_rows
            t = batch.column(0).to_numpy()
            if not (t[0] > previous_t and np.all(np.diff(t) > 0)):
                return False, row
            previous_t = t[-1]
            largest = max(largest, k)
            expected = pool[:, (row + np.arange(k)) % POOL_SAMPLES]
            for c in range(channels):
                values = batch.column(c + 1)
                if values.type != pa.from_numpy_dtype(np.dtype(dtype)):
                    return False, row, largest
                if not np.array_equal(values.to_numpy(), expected[c]):
                    return False, row, largest
            row += k
    return row == n, row, largest


def naive_producer(q, channels, dtype, n):
    from rigbook.session.synthetic_ephys import signal_pool

    pool = signal_pool(channels, dtype)
    start = time.monotonic()
    for sent in range(0, n, BLOCK):
        times = start + (sent + np.arange(BLOCK)) / RATE
        wait = times[-1] - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        lo = sent % pool.shape[1]
        q.put((times, np.ascontiguousarray(pool[:, lo : lo + BLOCK].T)))
    q.put(None)


def run_naive(channels, dtype, seconds, folder):
    context = multiprocessing.get_context("spawn")
    q = context.Queue(maxsize=64)
    n = int(seconds * RATE) // BLOCK * BLOCK
    source = context.Process(target=naive_producer, args=(q, channels, dtype, n))
    source.start()
    first = q.get(timeout=120)
    cpu, wall = time.process_time(), time.perf_counter()
    received = len(first[0])
    with open(Path(folder) / "naive.bin", "wb") as out:
        out.write(first[1].tobytes())
        while True:
            item = q.get(timeout=60)
            if item is None:
                break
            out.write(item[0].tobytes())
            out.write(item[1].tobytes())
            received += len(item[0])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    source.join(30)
    return {"channels": channels, "dtype": dtype, "samples": received,
            "core": round(cpu / wall, 3), "seconds": round(n / RATE, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of each stream (default 600)")
    parser.add_argument("--naive-seconds", type=float, default=30.0, help="length of the baseline's stream")
    args = parser.parse_args(argv)
    result = {"bench": "ephys", "cpus": os.cpu_count()}
    runs = []
    for channels, dtype in STREAMS:
        with tempfile.TemporaryDirectory(prefix="rigbook-bench-ephys-") as folder:
            runs.append(run_stream(channels, dtype, args.seconds, folder))
    result["streams"] = runs
    with tempfile.TemporaryDirectory(prefix="rigbook-bench-ephys-naive-") as folder:
        result["naive"] = run_naive(*STREAMS[0], args.naive_seconds, folder)
    result["naive"]["what"] = "plain multiprocessing.Queue of pickled 2-D blocks, bytes written to a file"
    result["budget"] = {"dropped": 0, "drain_log_core": 0.25, "plot_extra_core": 0.25}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
