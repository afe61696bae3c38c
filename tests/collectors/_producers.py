"""Producer functions run in child processes by the collector tests (importable under spawn)."""

import time
from collections import namedtuple

import numpy as np

Tail = namedtuple("Tail", ["angle", "x", "y"])
Position = namedtuple("Position", ["x", "y"])


def put_samples(queue, n, start=0):
    """One sample per message: Tail(i, 2i, -i)."""
    for i in range(start, start + n):
        queue.put(time.monotonic(), Tail(float(i), 2.0 * i, -float(i)))
    queue.close()


def put_blocks(queue, n_blocks, block_size):
    """Blocks of samples with an int and a float field."""
    for b in range(n_blocks):
        index = np.arange(b * block_size, (b + 1) * block_size)
        times = time.monotonic() + index * 1e-6
        queue.put_block(times, {"frame": index.astype(np.int64), "value": index * 0.5})
    queue.close()


def put_then_change_schema(queue, n_first, n_second):
    for i in range(n_first):
        queue.put(time.monotonic(), Tail(float(i), 0.0, 0.0))
    for i in range(n_second):
        queue.put(time.monotonic(), Position(float(i), 1.0))
    queue.close()


def put_typed_blocks(queue, n_blocks, block_size):
    """Blocks of int16, float32, int64 above 2**53 and bool fields (an ephys-like source)."""
    for b in range(n_blocks):
        index = np.arange(b * block_size, (b + 1) * block_size)
        queue.put_block(time.monotonic() + index * 1e-6, {
            "lfp": (index % 2000 - 1000).astype(np.int16),
            "gain": (index * 0.5).astype(np.float32),
            "count": index.astype(np.int64) + 2**53,
            "lick": index % 2 == 0,
        })
    queue.close()
