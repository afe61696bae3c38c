"""Source functions the tests start in threads or spawned processes (they must be importable)."""

import time
from collections import namedtuple

import numpy as np

Sample = namedtuple("Sample", ["value"])
Wider = namedtuple("Wider", ["value", "extra"])


def unplugged_camera(queue, stop_event):
    """Sends a few samples, then fails as a device unplugged mid-session would."""
    for i in range(5):
        queue.put(time.monotonic(), Sample(float(i)))
    queue.flush()
    raise RuntimeError("camera unplugged")


def steady_counter(queue, stop_event, rate=200.0):
    """A well-behaved source: one sample per 1/rate seconds."""
    i = 0
    while not stop_event.wait(1 / rate):
        queue.put(time.monotonic(), Sample(float(i)))
        i += 1


def counter_then_wider(queue, stop_event, rate=200.0, switch_after=50):
    """Like steady_counter, but after ``switch_after`` samples each sample gains a field (a schema change)."""
    i = 0
    while not stop_event.wait(1 / rate):
        if i < switch_after:
            queue.put(time.monotonic(), Sample(float(i)))
        else:
            queue.put(time.monotonic(), Wider(float(i), float(-i)))
        i += 1


def block_counter(queue, stop_event, rate=1000.0):
    """Blocks of consecutive integers as floats, every 10 ms."""
    i = 0
    start = time.monotonic()
    while not stop_event.wait(0.01):
        due = int((time.monotonic() - start) * rate)
        if due > i:
            values = np.arange(i, due, dtype=float)
            queue.put_block(start + values / rate, {"value": values})
            i = due
