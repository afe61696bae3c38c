"""Frame-rate streams: one ``fps`` column, always trimmed, with a goal for display."""

import logging
import math
import numbers
import queue as queue_module
import time
from collections import namedtuple

from rigbook.collectors.accumulators import Accumulator
from rigbook.collectors.namedtuplequeue import NamedTupleQueue
from rigbook.collectors.queue_accumulator import QueueReader

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

    def get_fps(self):
        """The latest frame rate reported (0.0 if none): what a frame-rate gauge shows.

        The rate of the reports themselves is :meth:`get_report_rate`.
        """
        rate = self.last_framerate
        return 0.0 if rate != rate else rate

    def get_report_rate(self):
        """How often frame rates arrive, from their timestamps (reports per second)."""
        return super().get_fps()

    @property
    def last_framerate(self):
        """The latest frame rate, NaN if none."""
        if self.is_empty():
            return math.nan
        column = self.header_dict.get("fps", 1)
        return float(self.get_last_n(1)[0, column])


class FramerateQueueAccumulator(FramerateAccumulator):
    """Frame rates drained from a queue.

    Parameters
    ----------
    queue : NamedTupleQueue or multiprocessing.Queue
        A :class:`~rigbook.collectors.NamedTupleQueue` of namedtuples with an
        ``fps`` field (other fields, e.g. a frame counter, are kept as
        columns too), or a plain queue whose items are frame rates (numbers,
        stamped on arrival) or ``(t, fps)`` pairs in ``time.monotonic()`` seconds.
    drain_budget : float
        Seconds one :meth:`update_list` call may spend (default 5 ms).
    **kwargs
        As :class:`FramerateAccumulator`.
    """

    def __init__(self, queue, drain_budget=0.005, **kwargs):
        super().__init__(**kwargs)
        self.queue = queue
        self.drain_budget = float(drain_budget)
        self._reader = QueueReader(queue, self) if isinstance(queue, NamedTupleQueue) else None

    def update_list(self):
        """Take every waiting frame rate (without blocking, within the time budget).

        Returns
        -------
        int
            Number of frame rates taken.

        Raises
        ------
        TypeError
            From a plain queue, an item that is neither a number nor a
            ``(t, fps)`` pair; the items before it are kept, the bad one is
            discarded.
        """
        if self._reader is not None:
            return self._reader.drain(self.drain_budget)
        deadline = time.perf_counter() + self.drain_budget
        taken = 0
        while time.perf_counter() < deadline or not taken:
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

    def close(self):
        """Stop receiving from a NamedTupleQueue (what was received can still be drained)."""
        if self._reader is not None:
            self._reader.close()
