"""pypet's ``progressbar``: a text progress bar for any loop, printed or logged.

>>> for index in range(4):                               # doctest: +SKIP
...     progressbar(index, 4, percentage_step=50, reprint=False, time=False)
[=====               ] 25.0%
[==========          ] 50.0%
[====================]100.0%

Call it at the end of every pass of a loop; it writes a line each time the
loop gets ``percentage_step`` percent further, and on the last pass. A call
with a lower index than the last one (a new loop), another ``total`` or
``reset=True`` starts a new bar.
"""

import datetime
import logging
import time as time_module


class _Bar:
    """The state of the bar being drawn: pypet keeps one for the whole program."""

    def __init__(self):
        self.total = None
        self.last_index = None
        self.step_size = 1.0
        self.last_interval = 0
        self.started = 0.0
        self.start_index = 0

    def restart(self, index, total, percentage_step):
        self.total = total
        self.step_size = max(total * percentage_step / 100.0, 1e-12)
        self.last_interval = 0
        self.started = time_module.monotonic()
        self.start_index = index

    def remaining(self, index):
        """``', remaining: H:MM:SS'`` from the pace so far ('' before there is a pace)."""
        done = index - self.start_index
        if done <= 0:
            return ""
        elapsed = time_module.monotonic() - self.started
        seconds = int((self.total - self.start_index - 1) * elapsed / done - elapsed)
        return f", remaining: {datetime.timedelta(seconds=max(seconds, 0))}"


_bar = _Bar()


def progressbar(index, total, percentage_step=10, logger="print", log_level=logging.INFO, reprint=True,
                time=True, length=20, fmt_string=None, reset=False):
    """Show how far a loop got.

    Parameters
    ----------
    index : int
        Index of the pass just finished (0 to ``total - 1``).
    total : int
        Number of passes.
    percentage_step : float
        Write a new line every this many percent.
    logger : 'print', str, logging.Logger or None
        ``'print'`` prints; a logger (or a logger's name) logs at
        ``log_level``; ``None`` only returns the line.
    log_level : int
        Level of logged lines.
    reprint : bool
        When printing, draw over the previous line (carriage return).
    time : bool
        Add an estimate of the time remaining.
    length : int
        Width of the bar in ``=`` signs.
    fmt_string : str, optional
        A string with one ``%s`` that the bar is put into.
    reset : bool
        Start a new bar.

    Returns
    -------
    str or None
        The line written, or None if this pass wrote nothing.
    """
    if total < 1:
        raise ValueError(f"progressbar needs a total of at least 1, not {total!r}")
    reset = reset or _bar.last_index is None or index <= _bar.last_index or total != _bar.total
    if reset:
        _bar.restart(index, total, percentage_step)
    interval = int((index + 1) / _bar.step_size)
    ending = index >= total - 1
    statement = None
    if reset or ending or interval > _bar.last_interval:
        if ending:
            statement = "[" + "=" * length + "]100.0%"
        else:
            fraction = (index + 1) / total
            bars = int(fraction * length)
            statement = "[" + "=" * bars + " " * (length - bars) + "]" + " %4.1f%%" % (fraction * 100)
            if time and not reset:
                statement += _bar.remaining(index)
        if fmt_string:
            statement = fmt_string % statement
        if logger == "print":
            if reprint:
                print("\r" + statement, end="", flush=True)
            else:
                print(statement)
        elif logger is not None:
            if isinstance(logger, str):
                logger = logging.getLogger(logger)
            logger.log(log_level, statement)
    _bar.last_interval = interval
    _bar.last_index = index
    return statement
