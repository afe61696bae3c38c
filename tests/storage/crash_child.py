"""A recording process for the crash test: writes trials and a stream until killed.

Usage: python crash_child.py <storage root>

After each trial is written it prints ``T <index>``; after each stream
flush ``S <rows flushed>``. What it prints has completed, so the killed
run must read all of it back.
"""

import sys

import numpy as np
import pyarrow as pa

from rigbook.storage import Storage, Trial

STREAM_ROWS = 10


def trial_attrs(i):
    return {
        "block": i // 10,
        "trial": i,
        "label": "0" * (i % 3) + f"{i}, \"q\"\n",
        "rt": 0.5 + i / 7,
        "ok": i % 3 == 0,
        "big": 2**40 + i,
    }


def emg(i):
    return np.arange(8 * (50 + i % 7), dtype=np.float64).reshape(8, -1) + i


def cursor(i):
    return np.full((2, 10), i, dtype=np.float64) / 3


def stream_batch(j):
    start = j * STREAM_ROWS
    t = np.arange(start, start + STREAM_ROWS, dtype=np.float64) / 1000
    return pa.record_batch({"t": t, "x": np.arange(start, start + STREAM_ROWS, dtype=np.int64)})


def main(root):
    out = sys.stdout
    storage = Storage(root)
    storage.subject_id = "subject"
    out.write("ready\n")
    out.flush()
    task = storage.create_task("task")
    stream = task.stream("tracking")
    batches = 0
    for i in range(10**6):
        trial = Trial(trial_attrs(i))
        data = emg(i)
        array = trial.add_array("emg", stack_axis=1)
        for chunk in np.array_split(data, 3, axis=1):
            array.stack(chunk)
        trial.add_array("cursor").stack(cursor(i))
        task.write(trial)
        out.write(f"T {i}\n")
        out.flush()
        stream.append(stream_batch(batches))
        batches += 1
        if batches % 3 == 0:
            stream.flush()
            out.write(f"S {batches * STREAM_ROWS}\n")
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
