"""Where an accumulator's rows went on disk: the part of a stream log that holds them.

While recording, an accumulator keeps only a live window of its newest rows
in memory; the :class:`~rigbook.collectors.recording.StreamRecorder` tells it,
with a :class:`LoggedRows`, which log file holds its rows and from which row
of that file on. Asked for rows older than its window, the accumulator reads
them back from there.

One :class:`LoggedRows` covers the rows received since the accumulator's last
reset (a schema change or :meth:`~rigbook.collectors.Accumulator.reset`
starts a new one: the rows may go on in the same file, or in a new part
``<name>_2.arrows`` after a schema change).
"""

from pathlib import Path

import numpy as np

from rigbook.storage.streams import read_stream_rows


class LoggedRows:
    """Accumulator rows ``[first_row, until)`` are rows ``[file_row, ...)`` of the log at ``path``.

    Parameters
    ----------
    path : str or Path
        The ``.arrows`` log.
    first_row : int
        The first accumulator row (as counted by ``n_received``) written to it.
    file_row : int
        The row of the file that holds it (rows before may be from before a reset).
    flush : callable
        Called before reading: blocks until every row handed to the log's
        writer is in the file.
    previous : LoggedRows, optional
        Where the rows before ``first_row`` went, when the log went on in a
        new file without a reset (after a failed write).

    Attributes
    ----------
    until : int
        Accumulator rows before this one were handed to the log's writer;
        only those may leave memory.
    """

    __slots__ = ("path", "first_row", "until", "_own_first", "_offset", "_flush", "_previous")

    def __init__(self, path, first_row, file_row, flush, previous=None):
        self.path = Path(path)
        self._own_first = int(first_row)
        self.until = self._own_first
        self._offset = int(file_row) - self._own_first
        self._flush = flush
        # The rows before, in an earlier part of the same stream state (a log resumed in a new
        # file after a failed write); rows between the two were lost and are not given back.
        self._previous = previous
        self.first_row = previous.first_row if previous is not None else self._own_first

    def __repr__(self):
        return f"LoggedRows({str(self.path)!r}, rows {self._own_first}..{self.until - 1})"

    def table(self, start, stop, columns=None):
        """Accumulator rows ``[start, stop)`` (clipped to what the logs hold) as a pyarrow Table."""
        older = None
        if start < self._own_first and self._previous is not None:
            older = self._previous.table(start, min(stop, self._own_first), columns)
        start = max(start, self._own_first)
        stop = max(start, min(stop, self.until))
        self._flush()
        table = read_stream_rows(self.path, start + self._offset, stop + self._offset, columns)
        if older is None or older.num_rows == 0:
            return table
        import pyarrow as pa

        return pa.concat_tables([older, table.cast(older.schema)])

    def times(self, start, stop):
        """Column ``t`` of accumulator rows ``[start, stop)`` (clipped as :meth:`table`), as float64."""
        table = self.table(start, stop, ["t"])
        if table.num_rows == 0:
            return np.empty(0, np.float64)
        return table.column(0).to_numpy()

    def columns(self, start, stop, names, dtypes):
        """Columns ``names`` of accumulator rows ``[start, stop)`` (clipped) as numpy arrays of ``dtypes``."""
        table = self.table(start, stop, names)
        return {name: table.column(name).to_numpy().astype(dtype, copy=False) for name, dtype in zip(names, dtypes)}

    def first_after(self, threshold, stop):
        """The first accumulator row before ``stop`` with ``t > threshold`` (``stop`` clipped if none is)."""
        times = self.times(self.first_row, stop)
        return self.first_row + int(np.searchsorted(times, threshold, side="right"))

    def row(self, index):
        """Accumulator row ``index`` as a tuple of Python scalars."""
        return tuple(column[0].as_py() for column in self.table(index, index + 1).columns)
