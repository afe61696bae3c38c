"""Source functions the tests start in spawned processes (they must be importable)."""

import time
from collections import namedtuple

Sample = namedtuple("Sample", ["value"])


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
