"""Frame-rate streams: one ``fps`` column, always trimmed, with a goal for display."""

import logging
import math
import numbers
import queue as queue_module
import time
from collections import namedtuple

from rigbook.collectors.accumulators import Accumulator

log = logging.getLogger(__name__)

Framerate = namedtuple("Framerate", ["fps"])


class FramerateAccumulator(Accumulator):
    """Accumulator of frame rates (samples of one field, ``fps``).

    Frame-rate streams are for display: they are trimmed to the last
    ``max_history_if_not_running`` values even while recording.

    Parameters
    ----------
    goal_framerate : float, optional
        The rate the source should reach, shown beside the measured one.
    **kwargs
        As :class:`~rigbook.collectors.Accumulator`.
    """

    def __init__(self, *args, goal_framerate=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.goal_framerate = goal_framerate

    def is_recording(self):
        return False

    def update_list(self, fps, t=None):
        """Append one frame rate, stamped ``t`` (``time.monotonic()`` seconds; default now)."""
        if isinstance(fps, bool) or not isinstance(fps, numbers.Real):
            raise TypeError(f"frame rate for {self.name or 'accumulator'!r} must be a number, got {type(fps).__name__} {fps!r:.80}")
        self.append(time.monotonic() if t is None else t, Framerate(float(fps)))

    def reset(self, monitored_headers=None):
        """Clear the frame rates held."""
        super().reset(monitored_headers)

    @property
    def last_framerate(self):
        """The latest frame rate, NaN if none."""
        if self.is_empty():
            return math.nan
        return float(self.get_last_n(1)[0, 1])


class FramerateQueueAccumulator(FramerateAccumulator):
    """Frame rates drained from a multiprocessing queue.

    Parameters
    ----------
    queue : multiprocessing.Queue
        Items are frame rates (numbers, stamped on arrival) or ``(t, fps)``
        pairs with ``t`` in ``time.monotonic()`` seconds.
    drain_budget : float
        Seconds one :meth:`update_list` call may spend (default 5 ms).
    """

    def __init__(self, *args, queue, drain_budget=0.005, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue = queue
        self.drain_budget = float(drain_budget)

    def update_list(self):
        """Take every waiting frame rate (without blocking, within the time budget).

        Raises
        ------
        TypeError
            An item that is neither a number nor a ``(t, fps)`` pair; the
            items before it are kept, the bad one is discarded.
        """
        deadline = time.perf_counter() + self.drain_budget
        taken = 0
        while time.perf_counter() < deadline:
            try:
                item = self.queue.get_nowait()
            except queue_module.Empty:
                break
            if isinstance(item, tuple) and len(item) == 2:
                super().update_list(item[1], t=item[0])
            else:
                super().update_list(item)
            taken += 1
        return taken
