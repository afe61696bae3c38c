"""Producers' timestamps on the ``time.monotonic()`` clock, from floats or datetimes.

Producers written for stytra stamp samples with ``datetime.now()``. Turning a
datetime into monotonic seconds through the wall clock costs a time-zone
lookup or two per call (``astimezone``): several microseconds, more than the
rest of a ``put``. :class:`_Clock` keeps one pairing of the wall clock with the
monotonic clock and converts with a subtraction; the pairing is renewed when
stamps run :data:`RENEW_S` seconds past it (so a DST switch or a step of the
wall clock shows up about that late).

A queue's ``put`` leaves naive datetimes as they are and its sender thread
converts a whole batch at once (:func:`seconds_column`), as
``multiprocessing.Queue`` leaves pickling to its feeder thread: the
producer's loop only appends.
"""

import time
from datetime import datetime

import numpy as np

#: seconds a pairing of the wall and monotonic clocks is used (a DST switch or
#: a wall-clock step shows up at most this late)
RENEW_S = 1.0
#: ... and a pairing older than stamps by this much is renewed too
RENEW_AFTER_S = 60.0


class _Clock:
    """The pairing ``(monotonic, epoch, naive local datetime, expires)``, replaced whole (threads read it)."""

    __slots__ = ("pair",)

    def __init__(self):
        self.renew()

    def renew(self):
        monotonic = time.monotonic()
        epoch = time.time()
        self.pair = (monotonic, epoch, datetime.fromtimestamp(epoch), monotonic + RENEW_S)
        return self.pair

    def seconds(self, t):
        """``time.monotonic()`` seconds of the datetime ``t`` (naive: local time)."""
        pair = self.pair
        if t.tzinfo is None:
            seconds = (t - pair[2]).total_seconds()
            # Renewed when stamps run ahead of the pairing (no clock read while it is fresh).
            if seconds > RENEW_S or seconds < -RENEW_AFTER_S:
                pair = self.renew()
                seconds = (t - pair[2]).total_seconds()
            return pair[0] + seconds
        if time.monotonic() > pair[3]:
            pair = self.renew()
        return pair[0] + (t.timestamp() - pair[1])


_clock = _Clock()
#: ``time.monotonic()`` seconds of a datetime (naive: local time)
datetime_seconds = _clock.seconds


def to_monotonic(t):
    """Seconds on the ``time.monotonic()`` clock for a float or a datetime (other values pass through)."""
    if isinstance(t, datetime):
        return _clock.seconds(t)
    return t


def seconds_column(stamps):
    """``time.monotonic()`` seconds (float64 array) of a sequence of floats and datetimes.

    Floats pass as they are; naive datetimes are converted with one pairing
    of the clocks; anything else one by one.
    """
    try:
        return np.array(stamps, dtype=np.float64)
    except TypeError:
        pass
    pair = _clock.pair
    if time.monotonic() > pair[3]:
        pair = _clock.renew()
    naive = pair[2]
    try:
        # (a loop of subtractions: numpy's own datetime parsing costs ten times more per stamp)
        return pair[0] + np.array([(t - naive).total_seconds() for t in stamps], dtype=np.float64)
    except TypeError:  # floats, aware datetimes: each its own way
        return np.array([to_monotonic(t) for t in stamps], dtype=np.float64)
