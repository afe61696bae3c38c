"""Producers' timestamps on the ``time.monotonic()`` clock, from floats or datetimes.

Producers written for stytra stamp samples with ``datetime.now()``. Turning a
datetime into monotonic seconds through the wall clock costs a time-zone
lookup or two per call (``astimezone``): several microseconds, more than the
rest of a ``put``. :class:`_Clock` keeps one pairing of the wall clock with the
monotonic clock and converts with a subtraction; the pairing is renewed when
stamps run :data:`RENEW_S` seconds past it (so a DST switch or a step of the
wall clock shows up about that late).
"""

import time
from datetime import datetime

#: seconds a pairing of the wall and monotonic clocks is used (a DST switch or
#: a wall-clock step shows up at most this late)
RENEW_S = 1.0
#: ... and a pairing older than stamps by this much is renewed too
RENEW_AFTER_S = 60.0


class _Clock:
    __slots__ = ("monotonic", "epoch", "naive", "expires")

    def __init__(self):
        self.renew()

    def renew(self):
        self.monotonic = time.monotonic()
        self.epoch = time.time()
        self.naive = datetime.fromtimestamp(self.epoch)  # local wall time, no zone
        self.expires = self.monotonic + RENEW_S

    def seconds(self, t):
        """``time.monotonic()`` seconds of the datetime ``t`` (naive: local time)."""
        if t.tzinfo is None:
            seconds = (t - self.naive).total_seconds()
            # Renewed when stamps run ahead of the pairing (no clock read while it is fresh).
            if seconds > RENEW_S or seconds < -RENEW_AFTER_S:
                self.renew()
                seconds = (t - self.naive).total_seconds()
            return self.monotonic + seconds
        if time.monotonic() > self.expires:
            self.renew()
        return self.monotonic + (t.timestamp() - self.epoch)


_clock = _Clock()
#: ``time.monotonic()`` seconds of a datetime (naive: local time)
datetime_seconds = _clock.seconds


def to_monotonic(t):
    """Seconds on the ``time.monotonic()`` clock for a float or a datetime (other values pass through)."""
    if isinstance(t, datetime):
        return _clock.seconds(t)
    return t
