"""Benchmark: live collectors against the stytra-style naive baseline, one JSON line.

Figures (DESIGN.md §5), each beside the naive baseline measured in the same
run (one namedtuple per sample through a plain multiprocessing queue,
drained with ``get(timeout=0.001)`` into a list, a pandas DataFrame rebuilt
from that list for exports):

* ``drain_sample``: samples/s, one sample per ``put``, 10 float fields,
  from a producer process through a real multiprocessing queue.
* ``drain_block``: samples/s, blocks of 1000 samples x 10 float64 fields,
  recording (every sample kept: 1.76 GB for 20M samples). The producer
  process puts pre-built blocks on a bounded queue (8 messages), so it
  runs at the consumer's pace instead of piling gigabytes up in its own
  memory (which would steal the consumer's CPU on a 2-core machine).
  Beside it: ``logged_samples_per_s``, recording as the app does: a
  StreamRecorder writes the stream log (polled every 0.5 s), and the
  accumulator keeps a live window of 0.1 s of this 10 MHz stream (1M
  samples), reusing its memory; ``portable_transport_samples_per_s``, the
  drain over the portable transport (once, a quarter of the samples);
  ``producer_samples_per_s``, the same producer into the same
  queue drained by a thread that only receives (no accumulator);
  ``not_recording_samples_per_s``, the drain into an accumulator keeping
  its default window; ``store_samples_per_s``, appending the same blocks
  in-process to a fresh recording accumulator (no queue): the drain
  cannot beat that, and on a virtual machine it is bounded by how fast
  fresh memory can be made resident.
* ``flooded_tick``: longest ``update_list()`` call (wall clock and CPU time)
  of a 10 ms drain timer while a producer floods the queue; on a busy
  machine the wall figure includes time the OS gave to other processes.
* ``put``: producer puts/s of one sample stamped with ``datetime.now()``
  (as stytra's producers stamp), beside a put stamped with
  ``time.monotonic()`` and the naive baseline: stytra's put, a
  ``multiprocessing.Queue`` subclass that checks the sample's type and puts
  ``(t, sample)``. Measured in a child process (nothing drains: puts only
  buffer), best of 5 rounds.
* ``memory``: bytes held per byte of raw numpy data.
* ``last_t``: ``get_last_t(5 s)`` on 1 h of 1 kHz x 10 fields (median of many).
* ``export``: seconds to write 1M rows x 11 columns, per format.

    .venv/bin/python bench/collectors.py [--quick]
"""

import argparse
import gc
import json
import multiprocessing
import os
import queue
import statistics
import sys
import tempfile
import time
import timeit
import tracemalloc
from collections import namedtuple
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rigbook.collectors import Accumulator, NamedTupleQueue, QueueDataAccumulator  # noqa: E402

FIELDS = [f"f{i}" for i in range(10)]
Sample = namedtuple("Sample", FIELDS)
FORMATS = ["feather", "hdf5", "parquet", "csv", "json"]


# -- producers (run in child processes) -----------------------------------------


def produce_samples(q, n, ready, go):
    values = Sample(*[float(i) for i in range(10)])
    ready.set()
    go.wait()
    put = q.put
    for _ in range(n):
        put(time.monotonic(), values)
    if isinstance(q, NamedTupleQueue):
        q.close()


def produce_blocks(q, n_blocks, size, ready, go, report=None):
    block = {name: np.random.default_rng(i).normal(size=size) for i, name in enumerate(FIELDS)}
    offsets = np.arange(size) * 1e-7  # a 10 MHz clock: always ahead of the producer
    t = np.empty(size)
    ready.set()
    go.wait()
    start = time.monotonic()
    started, cpu = time.perf_counter(), time.process_time()
    for b in range(n_blocks):
        np.add(offsets, start + b * size * 1e-7, out=t)  # put_block has sent or copied t when it returns
        q.put_block(t, block)
    q.close()
    if report is not None:
        n = n_blocks * size
        report.put({"samples_per_s": n / (time.perf_counter() - started), "cpu_s": time.process_time() - cpu})


def produce_naive(q, n, ready, go):
    values = Sample(*[float(i) for i in range(10)])
    ready.set()
    go.wait()
    for _ in range(n):
        q.put((time.monotonic(), values))


class StytraLikeQueue:
    """The naive baseline of a put: a multiprocessing queue that checks the sample's type, then puts."""

    def __init__(self):
        self._queue = multiprocessing.get_context().Queue()
        self._type = None

    def put(self, t, obj, block=True, timeout=None):
        if self._type is None:
            self._type = type(obj)
        elif type(obj) is not self._type:
            raise TypeError("a different namedtuple")
        self._queue.put((t, obj), block, timeout)


def put_rates(n, report):
    """Child process: puts/s of each way of stamping; reports and leaves without draining."""
    from datetime import datetime

    values = Sample(*[float(i) for i in range(10)])
    rates = {}
    for _ in range(5):
        for label, make, stamp in [("datetime", NamedTupleQueue, datetime.now),
                                   ("monotonic", NamedTupleQueue, time.monotonic),
                                   ("naive_datetime", StytraLikeQueue, datetime.now)]:
            put = make().put
            started = time.perf_counter()
            for _ in range(n):
                put(stamp(), values)
            rates.setdefault(label, []).append(n / (time.perf_counter() - started))
    report.put({label: max(r) for label, r in rates.items()})
    report.close()
    report.join_thread()
    os._exit(0)  # the queues were never drained: their sender threads would wait for ever


def measure_put(n):
    ctx = multiprocessing.get_context()
    report = ctx.Queue()
    process = ctx.Process(target=put_rates, args=(n, report))
    process.start()
    rates = report.get(timeout=600)
    process.join(60)
    return rates


# -- consumers --------------------------------------------------------------------


def naive_update_list(q, stored):
    """The reference's drain: get with a 1 ms timeout until the queue is empty."""
    while True:
        try:
            t, values = q.get(timeout=0.001)
        except queue.Empty:
            return
        stored.append((t, *values))


def run_producer(target, q, *args):
    ctx = multiprocessing.get_context()
    ready, go = ctx.Event(), ctx.Event()
    process = ctx.Process(target=target, args=(q, *args, ready, go))
    process.start()
    ready.wait(60)
    return process, go


def drain_rate(n, blocks=None, recording=True, log_window=None):
    """Samples/s from a producer process into a QueueDataAccumulator.

    ``log_window`` (seconds of stream time): record to a stream log as the app
    does (a StreamRecorder polled every 0.5 s) with that live window in RAM.
    """
    q = NamedTupleQueue(maxsize=8 if blocks else 0)
    acc = QueueDataAccumulator(q, name="stream", recording=recording,
                               **({} if log_window is None else {"live_window": log_window}))
    folder = recorder = None
    if log_window is not None:
        from rigbook.collectors.recording import StreamRecorder

        folder = tempfile.TemporaryDirectory(prefix="rigbook-bench-drain-")
        recorder = StreamRecorder([acc], folder.name)
    if blocks:
        process, go = run_producer(produce_blocks, q, n // blocks, blocks)
    else:
        process, go = run_producer(produce_samples, q, n)
    started = time.perf_counter()
    next_poll = started + 0.5
    go.set()
    while acc.n_received < n:
        if not acc.update_list():
            time.sleep(0.0005)  # as a timer would: do not steal the producer's core
        if recorder is not None and time.perf_counter() >= next_poll:
            recorder.poll()
            next_poll += 0.5
    elapsed = time.perf_counter() - started
    process.join()
    if recorder is not None:
        recorder.close()
        folder.cleanup()
    return n / elapsed


def portable_drain_rate(n, blocks):
    """As drain_rate(n, blocks), over the portable transport (RIGBOOK_PORTABLE_TRANSPORT=1)."""
    from rigbook.collectors.transport import PORTABLE_ENV

    previous = os.environ.get(PORTABLE_ENV)
    os.environ[PORTABLE_ENV] = "1"
    try:
        return drain_rate(n, blocks)
    finally:
        if previous is None:
            del os.environ[PORTABLE_ENV]
        else:
            os.environ[PORTABLE_ENV] = previous


def producer_rate(n, blocks):
    """Samples/s of the block producer when the consumer only receives messages (no accumulator)."""
    q = NamedTupleQueue(maxsize=8)
    report = multiprocessing.get_context().Queue()
    ctx = multiprocessing.get_context()
    ready, go = ctx.Event(), ctx.Event()
    process = ctx.Process(target=produce_blocks, args=(q, n // blocks, blocks, ready, go, report))
    process.start()
    ready.wait(60)
    buffer = np.empty(1 << 20, np.uint8)
    received = 0
    go.set()
    while received < n:
        kind, _, _, payload = q.get_message(True, 10, lambda nbytes: buffer)
        if kind != "schema":
            received += len(payload[0])
    result = report.get(timeout=60)
    process.join()
    return result["samples_per_s"]


def store_rate(n, blocks):
    """Samples/s appending the bench's blocks in-process to a fresh recording accumulator."""
    acc = Accumulator(t0=0.0, recording=True)
    values = np.random.default_rng(0).normal(size=(10, blocks))
    dict_values = {name: values[i] for i, name in enumerate(FIELDS)}
    offsets = np.arange(blocks) * 1e-7
    started = time.perf_counter()
    for b in range(n // blocks):
        acc.append_block(offsets + b * blocks * 1e-7, dict_values)
    return n / (time.perf_counter() - started)


def naive_drain_rate(n):
    q = multiprocessing.get_context().Queue()
    stored = []
    process, go = run_producer(produce_naive, q, n)
    started = time.perf_counter()
    go.set()
    while len(stored) < n:
        naive_update_list(q, stored)
    elapsed = time.perf_counter() - started
    process.join()
    return n / elapsed, stored


def flooded_ticks(n, period=0.010):
    """update_list() every ``period`` s (a drain timer) while a producer floods the queue.

    Returns the longest tick in wall-clock and in CPU time, the median wall
    tick, and the number of ticks.
    """
    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, recording=True)
    process, go = run_producer(produce_samples, q, n)
    go.set()
    walls, cpus = [], []
    while acc.n_received < n:
        time.sleep(period)
        started, cpu = time.perf_counter(), time.thread_time()
        acc.update_list()
        walls.append(time.perf_counter() - started)
        cpus.append(time.thread_time() - cpu)
    process.join()
    return max(walls), max(cpus), statistics.median(walls), float(np.percentile(walls, 99)), len(walls)


def naive_flooded_tick(n, period=0.010):
    q = multiprocessing.get_context().Queue()
    stored = []
    process, go = run_producer(produce_naive, q, n)
    go.set()
    longest = 0.0
    while len(stored) < n:
        time.sleep(period)
        started = time.perf_counter()
        naive_update_list(q, stored)
        longest = max(longest, time.perf_counter() - started)
    process.join()
    return longest


def hour_of_data(rows):
    acc = Accumulator(t0=0.0, recording=True)
    block = 10_000
    base = np.random.default_rng(0).normal(size=(10, block))
    for start in range(0, rows, block):
        k = min(block, rows - start)
        t = (start + np.arange(k)) / 1000.0
        acc.append_block(t, {name: base[i, :k] for i, name in enumerate(FIELDS)})
    return acc


def naive_bytes_per_sample(n):
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    stored = [(i / 1000.0, *Sample(*[float(i + j) for j in range(10)])) for i in range(n)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del stored
    return (after - before) / n


def median_seconds(fn, number, repeat=7):
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number


def best_seconds(fn, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def naive_save(stored, path, format):
    """What the reference does: rebuild a DataFrame from the list, write it with pandas."""
    import pandas as pd

    df = pd.DataFrame(stored, columns=["t", *FIELDS])
    if format == "csv":
        df.to_csv(path + ".csv")
    elif format == "feather":
        df.to_feather(path + ".feather")
    elif format == "parquet":
        df.to_parquet(path + ".parquet")
    elif format == "json":
        df.to_json(path + ".json", orient="records")
    else:  # pandas' to_hdf needs PyTables, not installed: one compound dataset through h5py
        import h5py

        with h5py.File(path + ".hdf5", "w") as f:
            f.create_dataset("data", data=df.to_records(index=False))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for iterating")
    args = parser.parse_args(argv)
    quick = args.quick
    n_samples = 100_000 if quick else 600_000
    n_block_samples = 2_000_000 if quick else 20_000_000
    n_naive = 50_000 if quick else 200_000
    hour_rows = 360_000 if quick else 3_600_000
    export_rows = 100_000 if quick else 1_000_000
    repeats = 1 if quick else 3

    result = {"bench": "collectors", "quick": quick, "cpus": os.cpu_count()}

    sample_rates = [drain_rate(n_samples) for _ in range(repeats)]
    naive_rates = []
    for _ in range(repeats):
        rate, stored = naive_drain_rate(n_naive)
        naive_rates.append(rate)
    result["drain_sample"] = {
        "samples_per_s": round(max(sample_rates)),
        "naive_samples_per_s": round(max(naive_rates)),
        "ratio": round(max(sample_rates) / max(naive_rates), 2),
        "budget_samples_per_s": 270_000,
    }
    block_rates = [drain_rate(n_block_samples, blocks=1000) for _ in range(repeats)]
    window_rates = [drain_rate(n_block_samples, blocks=1000, recording=False) for _ in range(repeats)]
    # 0.1 s of this 10 MHz stream: 1M samples (88 MB) in RAM, what a 40 s window holds of a 25 kHz stream
    logged_rates = [drain_rate(n_block_samples, blocks=1000, log_window=0.1) for _ in range(repeats)]
    producer_rates = [producer_rate(n_block_samples, 1000) for _ in range(repeats)]
    portable_rate = portable_drain_rate(n_block_samples // 4, 1000)
    store_rates = []
    for _ in range(repeats):
        gc.collect()
        store_rates.append(store_rate(n_block_samples, 1000))
    result["drain_block"] = {
        "samples_per_s": round(max(block_rates)),
        "all_samples_per_s": [round(r) for r in block_rates],
        "naive_samples_per_s": round(max(naive_rates)),
        "ratio": round(max(block_rates) / max(naive_rates), 1),
        "budget_samples_per_s": 10_000_000,
        "not_recording_samples_per_s": round(max(window_rates)),
        "logged_samples_per_s": round(max(logged_rates)),
        "all_logged_samples_per_s": [round(r) for r in logged_rates],
        "producer_samples_per_s": round(max(producer_rates)),
        "portable_transport_samples_per_s": round(portable_rate),
        "store_samples_per_s": round(max(store_rates)),
    }

    longest, longest_cpu, median_tick, p99_tick, n_ticks = flooded_ticks(n_samples)
    naive_longest = naive_flooded_tick(n_naive)
    result["flooded_tick"] = {
        "longest_ms": round(longest * 1e3, 2),
        "longest_cpu_ms": round(longest_cpu * 1e3, 2),
        "median_ms": round(median_tick * 1e3, 3),
        "p99_ms": round(p99_tick * 1e3, 2),
        "ticks": n_ticks,
        "naive_longest_ms": round(naive_longest * 1e3, 1),
        "naive_samples": n_naive,
        "budget_ms": 20,
    }

    puts = measure_put(50_000 if quick else 200_000)
    result["put"] = {
        "datetime_puts_per_s": round(puts["datetime"]),
        "monotonic_puts_per_s": round(puts["monotonic"]),
        "naive_datetime_puts_per_s": round(puts["naive_datetime"]),
        "ratio": round(puts["datetime"] / puts["naive_datetime"], 2),
        "budget": "datetime put no slower than the naive (stytra) put",
    }

    acc = hour_of_data(hour_rows)
    naive_per_sample = naive_bytes_per_sample(50_000)
    raw_per_sample = 11 * 8
    result["memory"] = {
        "rows": acc.n_held,
        "held_over_raw": round(acc.nbytes / (acc.n_held * raw_per_sample), 4),
        "naive_bytes_per_sample": round(naive_per_sample, 1),
        "naive_over_raw": round(naive_per_sample / raw_per_sample, 2),
        "budget_over_raw": 1.2,
    }

    naive_list = [(i / 1000.0, *[float(j) for j in range(10)]) for i in range(20_000)]

    def naive_last_t():
        n = int(1000.0 * 5.0)
        return np.array(naive_list[-n:])

    last_t = median_seconds(lambda: acc.get_last_t(5.0), number=2000)
    last_t_cols = median_seconds(lambda: acc.get_last_t_columns(5.0, FIELDS[:3]), number=2000)
    naive = median_seconds(naive_last_t, number=20)
    assert len(acc.get_last_t(5.0)) == 5000
    result["last_t"] = {
        "rows_held": acc.n_held,
        "get_last_t_us": round(last_t * 1e6, 2),
        "get_last_t_columns_us": round(last_t_cols * 1e6, 2),
        "naive_us": round(naive * 1e6, 1),
        "ratio": round(naive / last_t, 1),
        "budget_us": 50,
    }
    del acc, naive_list
    gc.collect()

    export = {"rows": export_rows, "columns": 11}
    acc = hour_of_data(export_rows)
    stored = [tuple(row) for row in acc.get_last_n().tolist()]
    with tempfile.TemporaryDirectory() as folder:
        small = hour_of_data(1000)
        for format in FORMATS:  # load each writer's code and codecs before timing
            small.save(os.path.join(folder, "warm"), format, overwrite=True)
            naive_save(stored[:1000], os.path.join(folder, "warm_naive"), format)
        for format in FORMATS:
            ours = best_seconds(lambda: acc.save(os.path.join(folder, "ours"), format, overwrite=True), repeats)
            naive = best_seconds(lambda: naive_save(stored, os.path.join(folder, "naive"), format), 1)
            export[format] = {"s": round(ours, 3), "naive_s": round(naive, 3), "ratio": round(naive / ours, 1)}
    export["budget_s"] = {"feather": 0.15, "hdf5": 0.3, "parquet": 1.0, "csv": 2.5, "json": 4.0}
    result["export"] = export
    print(json.dumps(result))


if __name__ == "__main__":
    main()
