"""Accumulators: live streams of timestamped samples held as numpy columns.

An accumulator holds one stream: a timestamp column ``t`` (seconds since
the accumulator's ``t0``) and one column per field of the samples. Plots read
numpy views of the last seconds (:meth:`Accumulator.get_last_t_columns`), the
stream recorder takes new rows as Arrow batches (:meth:`Accumulator.rows_since`),
users get a DataFrame (:meth:`Accumulator.get_dataframe`) or a file
(:meth:`Accumulator.save`).

While recording, memory stays flat: once the recorder has handed rows to
the stream log (and told the accumulator where, see
:mod:`rigbook.collectors.logged`), only the last :attr:`Accumulator.live_window`
seconds stay in RAM. Whatever asks for older rows (``get_dataframe``,
``save``, ``get_last_n``, ``get_last_t``, ``values_at_abs_time``) gets them
read back from the log, so the whole recording is still there.

Not thread-safe: feed and read an accumulator from one thread (the GUI's).
"""

import logging
import math
import time
from collections import namedtuple
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
from psygnal import Signal

from rigbook.collectors.columns import ColumnStore
from rigbook.collectors.namedtuplequeue import Schema, block_columns, check_sample, sample_schema, to_monotonic
from rigbook.storage.tables import write_table
from rigbook.storage.arrow_columns import record_batch

log = logging.getLogger(__name__)

#: seconds of the newest rows held in RAM while recording (the longest plot
#: window is 30 s; estimators look back a few seconds)
LIVE_WINDOW = 40.0
#: a timestamp this far past the latest one and past the clock is absurd (flagged alone)
ABSURD_JUMP_S = 86400.0


class RowsTrimmedError(LookupError):
    """Rows asked for were already dropped by trimming."""


class Accumulator:
    """A stream of timestamped samples in columnar numpy storage.

    Parameters
    ----------
    name : str
        Stream name (used for file names by the recorder).
    fps_calc_points : int
        Number of most recent samples :meth:`get_fps` uses.
    monitored_headers : list of str, optional
        Fields shown by default in plots; all fields if None.
    max_history_if_not_running : int or None
        N: when not recording and more than 1.5 N samples are held, only the
        last N are kept. None keeps everything.
    t0 : float, optional
        ``time.monotonic()`` origin of the stored timestamps; default now.
    recording : bool or callable
        While true (or while the callable returns true) nothing is lost:
        rows are dropped from memory only once they are in the stream log.
    live_window : float or None
        Seconds of the newest rows kept in RAM while recording, once older
        rows are in the stream log (default :data:`LIVE_WINDOW`, at least the
        longest plot window); None keeps every row in RAM, as stytra does.

    Attributes
    ----------
    sig_acc_init : psygnal.Signal
        Emitted when the column headers are (re)defined: first data, or a
        schema change.
    sig_acc_resetting : psygnal.Signal
        Emitted just before the held data is cleared (last chance to read it).
    sig_acc_reset : psygnal.Signal
        Emitted after the data was cleared (by :meth:`reset` or a schema change).
    dropped : int
        Samples lost on the way (sequence gaps), since creation.
    flagged : int
        Samples with NaN or with a timestamp earlier than one before them,
        since creation; they are kept, and listed in :attr:`flagged_rows`.
    """

    sig_acc_init = Signal()
    sig_acc_resetting = Signal()
    sig_acc_reset = Signal()

    def __init__(
        self,
        name="",
        fps_calc_points=10,
        monitored_headers=None,
        max_history_if_not_running=1000,
        t0=None,
        recording=False,
        live_window=LIVE_WINDOW,
    ):
        if not isinstance(name, str):
            raise TypeError(f"accumulator name must be a string, got {type(name).__name__}")
        self.name = name
        self.fps_calc_points = int(fps_calc_points)
        if max_history_if_not_running is not None and int(max_history_if_not_running) < 1:
            raise ValueError(f"max_history_if_not_running must be >= 1, got {max_history_if_not_running!r}")
        self.max_history_if_not_running = (
            None if max_history_if_not_running is None else int(max_history_if_not_running)
        )
        now = time.monotonic()
        self.t0 = now if t0 is None else float(t0)
        #: wall-clock time of ``t0`` (aware datetime, local time zone)
        self.t0_datetime = datetime.now().astimezone() - timedelta(seconds=now - self.t0)
        self.recording = recording
        if live_window is not None and not float(live_window) > 0:
            raise ValueError(f"live_window must be a positive number of seconds or None, got {live_window!r}")
        self.live_window = None if live_window is None else float(live_window)
        self._logged = None
        self.dropped = 0
        self.flagged = 0
        self._monitored = None if monitored_headers is None else list(monitored_headers)
        self._schema = None
        self._picks = {}  # columns asked of values_since -> their rows in the storage blocks
        self._store = ColumnStore([np.float64])
        self._row_type = None
        self._init_stream_state()

    def _init_stream_state(self):
        self._logged = None  # the rows of a new stream state are not in any log yet
        self._t_max = -math.inf
        self._last_disorder = -1
        self._flagged_parts = []

    # -- schema and headers ---------------------------------------------------

    @property
    def schema(self):
        """:class:`Schema` of the samples, or None before any data."""
        return self._schema

    @property
    def fields(self):
        """Field names of the samples (without ``t``)."""
        return () if self._schema is None else self._schema.fields

    @property
    def header_list(self):
        """Column names: ``t`` then the fields, in order."""
        return ["t", *self.fields]

    @property
    def columns(self):
        """Column names, as :attr:`header_list`."""
        return self.header_list

    @property
    def header_dict(self):
        """Column index of each header in the arrays of :meth:`get_last_n` / :meth:`get_last_t`."""
        return {name: i for i, name in enumerate(self.header_list)}

    @property
    def monitored_headers(self):
        """Fields plotted by default (those given that exist, else all fields)."""
        if self._monitored is None:
            return list(self.fields)
        return [h for h in self._monitored if h in self.fields] or list(self.fields)

    def _use_schema(self, schema):
        """Adopt ``schema``; a different one than held resets the accumulator first."""
        if schema.same_columns(self._schema):
            return
        had_schema = self._schema is not None
        if had_schema:
            log.info("accumulator %r: sample schema changed from %s to %s; resetting",
                     self.name, self._schema.fields, schema.fields)
            self.sig_acc_resetting.emit()
        self._schema = schema
        self._picks = {}
        self._store = ColumnStore([np.float64, *schema.dtypes])
        self._row_type = namedtuple("Row", self.header_list, rename=True)
        self._init_stream_state()
        if had_schema:
            self.sig_acc_reset.emit()
        self.sig_acc_init.emit()

    def set_time_origin(self, t0, wall_clock=None):
        """Count time from ``t0`` (``time.monotonic()`` seconds) for the samples appended from now on.

        ``t0_datetime`` becomes ``wall_clock`` (an aware datetime), or the
        wall-clock time of ``t0`` when it is not given. Call :meth:`reset`
        too: rows held already keep their times from the old origin.
        """
        now = time.monotonic()
        self.t0 = float(t0)
        self.t0_datetime = (wall_clock if wall_clock is not None
                            else datetime.now().astimezone() - timedelta(seconds=now - self.t0))

    def reset(self, monitored_headers=None):
        """Clear the held data, keeping the schema; optionally set monitored headers.

        Emits ``sig_acc_resetting`` before and ``sig_acc_reset`` after.
        """
        self.sig_acc_resetting.emit()
        if monitored_headers is not None:
            self._monitored = list(monitored_headers)
        self._store = ColumnStore(self._store.dtypes)
        self._init_stream_state()
        self.sig_acc_reset.emit()

    # -- recording and trimming -------------------------------------------------

    def is_recording(self):
        """Current value of :attr:`recording` (calling it if it is a callable)."""
        recording = self.recording
        return bool(recording()) if callable(recording) else bool(recording)

    @property
    def logged(self):
        """:class:`~rigbook.collectors.logged.LoggedRows`: where the rows went on disk (None if not recorded)."""
        return self._logged

    def log_rows_to(self, logged):
        """Tell where the rows from ``logged.first_row`` on are written (called by the recorder).

        ``logged.until`` then says how far they were handed to the log; rows
        before it may leave memory while recording.
        """
        self._logged = logged

    def trim_data(self):
        """Bound the rows held in RAM.

        When not recording and more than 1.5 N samples are held, keep the
        last N. While recording, drop rows older than :attr:`live_window`
        seconds that are already in the stream log.
        """
        logged = self._logged
        if logged is not None and self.live_window is not None:
            if self.is_recording():
                self._store.drop_before(logged.until, self._t_max - self.live_window)
                return
        n = self.max_history_if_not_running
        if n is not None and self._store.n_rows > 1.5 * n and not self.is_recording():
            self._store.keep_last(n)

    # -- appending ------------------------------------------------------------

    def append(self, t, sample):
        """Append one sample.

        Parameters
        ----------
        t : float or datetime
            ``time.monotonic()`` seconds of the sample.
        sample : namedtuple of numbers, or a plain tuple/list matching the current fields
            A namedtuple with other field names than the current ones is a
            schema change: the accumulator resets. Column dtypes follow the
            values (ints stay int64), as for ``NamedTupleQueue.put``.

        Raises
        ------
        TypeError
            A value is not a number, or a plain tuple arrives before any schema.
        ValueError
            A plain tuple with the wrong number of fields.
        """
        if hasattr(sample, "_fields"):
            check_sample(sample, f"sample for {self.name or 'accumulator'!r}")
            schema = sample_schema(sample, self._schema)
        else:
            if not isinstance(sample, (tuple, list, np.ndarray)):
                raise TypeError(
                    f"sample for {self.name or 'accumulator'!r} must be a namedtuple, tuple or list "
                    f"of numbers, got {type(sample).__name__}"
                )
            if self._schema is None:
                raise TypeError(
                    f"first sample of {self.name or 'accumulator'!r} must be a namedtuple "
                    f"(it names the fields), got {type(sample).__name__}"
                )
            if len(sample) != len(self.fields):
                raise ValueError(
                    f"sample for {self.name or 'accumulator'!r} has {len(sample)} values, "
                    f"expected {len(self.fields)} ({', '.join(self.fields)})"
                )
            schema = self._schema
        who = f"sample for {self.name or 'accumulator'!r}"
        t = self._time_number(t)
        values = [_number(who, name, v) for name, v in zip(schema.fields, sample)]
        dtypes = schema.dtypes
        if all(d == np.float64 for d in dtypes):
            row = np.empty((1, 1 + len(values)), dtype=np.float64)
            try:
                row[0, 0] = t
                row[0, 1:] = values
            except OverflowError as error:
                raise ValueError(f"{who}: a value is too large for float64 ({error})") from None
            self._use_schema(schema)
            self._append_rows(row)
            return
        columns = [np.array([t], dtype=np.float64)]
        for name, value, dtype in zip(schema.fields, values, dtypes):
            fits = dtype.kind == "f" or value == value  # NaN fits float columns only
            if fits:
                try:
                    column = np.array([value]).astype(dtype)
                    fits = column[0] == value or dtype.kind == "f"
                except (OverflowError, ValueError):
                    fits = False
            if not fits:
                raise ValueError(f"{who}: field {name!r} value {value!r} does not fit its dtype {dtype}")
            columns.append(column)
        self._use_schema(schema)
        self._append_columns(columns)

    def append_block(self, times, values, name="block"):
        """Append many samples: ``times`` 1-D seconds, ``values`` structured array or dict of columns.

        Field dtypes are kept. Raises ValueError / TypeError (nothing appended)
        on unequal lengths or non-numeric fields.
        """
        fields, dtypes, payload = block_columns(times, values)
        self._use_schema(Schema(name, fields, dtypes))
        if len(payload[0]):
            self._append_columns(payload)

    @staticmethod
    def _time_number(t):
        t = to_monotonic(t)
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
            raise TypeError(f"timestamp must be a number or datetime, got {type(t).__name__}")
        return t

    def _append_rows(self, rows):
        """Append a float64 (k, 1 + n_fields) array of monotonic times and values (owned)."""
        rows[:, 0] -= self.t0
        bad_values = None
        if np.isnan(rows).any():
            bad_values = np.isnan(rows).any(axis=1)
        self._check_times(rows[:, 0], bad_values)
        self._store.append_rows(rows)
        self.trim_data()

    def _append_columns(self, columns):
        """Append [times, field, ...] (a 2-D float64 array or 1-D arrays; times monotonic, owned)."""
        times = columns[0]
        times -= self.t0
        bad_values = None
        if isinstance(columns, np.ndarray):
            if np.logical_or.reduce(np.isnan(columns), axis=None):  # (the ufunc: .any() costs a Python wrapper per block)
                bad_values = np.isnan(columns).any(axis=0)
        else:
            for col in columns:
                if col.dtype.kind == "f" and np.isnan(col).any():
                    nan = np.isnan(col)
                    bad_values = nan if bad_values is None else bad_values | nan
        self._check_times(times, bad_values)
        self._store.append_columns(columns)
        self.trim_data()

    def _check_times(self, t, bad_values):
        """Count and remember samples with NaN, a timestamp below an earlier one, or an absurd one.

        Absurd: infinite, or more than :data:`ABSURD_JUMP_S` past both the
        latest timestamp and the clock. Such a sample is flagged alone: it
        does not become the time later samples are compared with.
        """
        first = self._store.end_row
        ordered = t[0] >= self._t_max and (len(t) == 1 or bool(np.logical_and.reduce(t[1:] >= t[:-1])))
        if ordered and (t[-1] <= self._t_max + ABSURD_JUMP_S or self._plausible(t[-1])):
            self._t_max = float(t[-1])
            disorder = None
        else:
            finite = np.isfinite(t)
            absurd = ~finite
            # compared with the latest time, or else the block's earliest one
            reference = self._t_max if self._t_max > -math.inf else (t[finite].min() if finite.any() else 0.0)
            absurd |= (t > reference + ABSURD_JUMP_S) & ~self._plausible(t)
            usable = np.where(absurd, -math.inf, t)
            running = np.fmax.accumulate(np.concatenate(([self._t_max], usable)))
            disorder = absurd | ~(t >= running[:-1])  # NaN compares False: flagged too
            self._t_max = float(running[-1])
            if disorder.any():
                self._last_disorder = first + int(np.flatnonzero(disorder)[-1])
            else:
                disorder = None
        bad = disorder if bad_values is None else (bad_values if disorder is None else disorder | bad_values)
        if bad is not None:
            rows = np.flatnonzero(bad)
            if len(rows):
                self.flagged += len(rows)
                self._flagged_parts.append(rows + first)
                log.debug("accumulator %r: %d sample(s) flagged (NaN or time going back)", self.name, len(rows))

    def _plausible(self, t):
        """True where stored times ``t`` are not beyond the clock's now by more than :data:`ABSURD_JUMP_S`."""
        return t <= time.monotonic() - self.t0 + ABSURD_JUMP_S

    # -- reading --------------------------------------------------------------

    @property
    def n_received(self):
        """Rows appended since the last reset (never decreased by trimming)."""
        return self._store.end_row

    @property
    def n_held(self):
        """Rows held now."""
        return self._store.n_rows

    @property
    def nbytes(self):
        """Bytes of memory held for the data (including chunk slack)."""
        return self._store.nbytes

    @property
    def flagged_rows(self):
        """Row numbers (as counted by :attr:`n_received`) of held samples that were flagged."""
        parts = [p[p >= self._store.first_row] for p in self._flagged_parts]
        self._flagged_parts = [p for p in parts if len(p)]
        return np.concatenate(self._flagged_parts) if self._flagged_parts else np.empty(0, np.int64)

    def is_empty(self):
        """True if no sample is held."""
        return self._store.n_rows == 0

    @property
    def t(self):
        """Timestamps of the held samples, seconds since ``t0``."""
        return self._store.column(0)

    def column(self, name):
        """All held values of one column (``'t'`` or a field), as a 1-D array."""
        return self._store.column(self._column_index(name))

    def _column_index(self, name):
        try:
            return self.header_list.index(name)
        except ValueError:
            raise KeyError(f"{self.name or 'accumulator'!r} has no column {name!r}; columns: {self.header_list}") from None

    def _times_sorted(self):
        return self._last_disorder < self._store.first_row

    def last_t_range(self, t):
        """Row range ``(start, stop)`` of held samples with timestamp > latest - ``t`` seconds.

        Only rows held in RAM: ``start`` is at least the first held row.
        """
        store = self._store
        stop = store.end_row
        if store.n_rows == 0:
            return stop, stop
        if self._times_sorted():
            latest = store.column(0, stop - 1, stop)[0]
            return store.search_time(latest - t), stop
        raise _Unsorted

    # -- rows older than the live window, read back from the stream log ------------------

    def _lowest_row(self):
        """First row held in RAM or readable from the stream log."""
        logged = self._logged
        first = self._store.first_row
        return logged.first_row if logged is not None and logged.first_row < first else first

    def _older_columns(self, start, columns=None):
        """Rows [start, first held) read back from the log: ``{name: 1-D array}`` with the held dtypes."""
        header = self.header_list
        names = header if columns is None else columns
        dtypes = [self._store.dtypes[header.index(name)] for name in names]
        return self._logged.columns(start, self._store.first_row, names, dtypes)

    def _matrix_from(self, start):
        """Rows [start, end) as one (N, 1 + n_fields) matrix, older rows read back from the log."""
        store = self._store
        if start >= store.first_row:
            return store.matrix(start, store.end_row)
        older = self._older_columns(start)
        held = store.matrix()
        rows = len(older["t"])
        out = np.empty((rows + len(held), store.n_columns), dtype=held.dtype)
        for j, values in enumerate(older.values()):
            out[:rows, j] = values
        out[rows:] = held
        return out

    def _older_start(self, threshold):
        """First row in the log with ``t > threshold`` when the held rows all are (else the first held row)."""
        store = self._store
        if self._lowest_row() >= store.first_row:
            return store.first_row
        held = store.column(0, store.first_row, store.first_row + 1)
        if len(held) and not held[0] > threshold:
            return store.first_row
        return self._logged.first_after(threshold, store.first_row)

    def _row(self, index):
        """Row ``index`` as a tuple of Python scalars, held or read back from the log."""
        return self._store.row(index) if index >= self._store.first_row else self._logged.row(index)

    def get_last_n(self, n=None):
        """Last ``n`` samples (all if None) as an (N, 1 + n_fields) array, ``t`` first.

        Rows older than the live window are read back from the stream log.
        A view into the storage when possible: do not modify it, and copy it
        to keep it (while recording, the memory of rows that left the live
        window holds newer rows).
        """
        store = self._store
        lowest = self._lowest_row()
        start = lowest if n is None else max(lowest, store.end_row - int(n))
        return self._matrix_from(start)

    def get_last_t(self, t):
        """Samples of the last ``t`` seconds as an (N, 1 + n_fields) array, ``t`` first.

        Exactly the samples whose timestamp is greater than the latest
        timestamp minus ``t`` (found by binary search on the timestamps).
        A view into the storage when possible: do not modify it, and copy it
        to keep it (as :meth:`get_last_n`).
        """
        try:
            start, stop = self.last_t_range(t)
        except _Unsorted:
            mask = self._window_mask(t)
            return self._store.matrix()[mask]
        if start == self._store.first_row and stop > start:
            latest = self._store.column(0, stop - 1, stop)[0]
            start = self._older_start(latest - t)
        return self._matrix_from(start)

    def get_last_t_columns(self, t, columns=None):
        """Columns of the last ``t`` seconds, for plotting.

        Parameters
        ----------
        t : float
            Window length in seconds (same window as :meth:`get_last_t`).
        columns : list of str, optional
            Fields wanted; default :attr:`monitored_headers`.

        Returns
        -------
        dict of str to 1-D numpy array
            ``'t'`` first, then each column asked for. Views into the storage
            when the window lies in one chunk (copies of just the window
            otherwise): do not modify them.
        """
        names = ["t", *[c for c in (self.monitored_headers if columns is None else columns) if c != "t"]]
        indexes = [self._column_index(name) for name in names]
        try:
            start, stop = self.last_t_range(t)
        except _Unsorted:
            mask = self._window_mask(t)
            return {name: self._store.column(j)[mask] for name, j in zip(names, indexes)}
        first = self._store.first_row
        if start == first and stop > start:
            latest = self._store.column(0, stop - 1, stop)[0]
            start = self._older_start(latest - t)
        if start < first:
            older = self._older_columns(start, names)
            return {name: np.concatenate([older[name], self._store.column(j)]) for name, j in zip(names, indexes)}
        return {name: self._store.column(j, start, stop) for name, j in zip(names, indexes)}

    def _window_mask(self, t):
        times = self._store.column(0)
        return times > np.nanmax(times) - t

    def get_fps(self):
        """Sampling rate from the last ``fps_calc_points`` timestamps: intervals / time spanned.

        0.0 when fewer than two samples or no time elapsed.
        """
        store = self._store
        n = min(max(self.fps_calc_points, 2), store.n_rows)
        if n < 2:
            return 0.0
        t = store.column(0, store.end_row - n, store.end_row)
        span = float(t[-1] - t[0])
        if not span > 0:
            return 0.0
        return (n - 1) / span

    def values_at_abs_time(self, time):
        """The sample closest to the wall-clock ``time`` (read back from the log if older than the held ones).

        Parameters
        ----------
        time : datetime
            Naive datetimes are taken as local time.

        Returns
        -------
        namedtuple
            Fields ``t`` then the sample's fields.
        """
        if not isinstance(time, datetime):
            raise TypeError(f"values_at_abs_time needs a datetime, got {type(time).__name__}")
        if self.is_empty():
            raise LookupError(f"{self.name or 'accumulator'!r} holds no samples")
        if time.tzinfo is None:
            time = time.astimezone()
        target = (time - self.t0_datetime).total_seconds()
        store = self._store
        if self._times_sorted():
            i = store.search_time(target)  # first held row with t > target
            if i == store.first_row:
                i = self._older_start(target)  # ... or in the log
            candidates = [r for r in (i - 1, i) if self._lowest_row() <= r < store.end_row]
            rows = [self._row(r) for r in candidates]
            return self._row_type._make(rows[int(np.argmin([abs(row[0] - target) for row in rows]))])
        times = store.column(0)
        best = store.first_row + int(np.nanargmin(np.abs(times - target)))
        return self._row_type._make(store.row(best))

    def to_arrow(self, start=None, stop=None):
        """Rows [start, stop) (row numbers as :attr:`n_received`) as a pyarrow Table.

        Default: every row since the last reset, those older than the live
        window read back from the stream log. Held rows are not copied.
        """
        store = self._store
        start = self._lowest_row() if start is None else start
        stop = store.end_row if stop is None else stop
        older = None
        if start < store.first_row and self._logged is not None:
            older = self._logged.table(start, min(stop, store.first_row))
        arrays = []
        for j, dtype in enumerate(store.dtypes):
            kind = pa.from_numpy_dtype(dtype)
            pieces = [pa.array(p) for p in store.column_pieces(j, start, stop)]
            if older is not None:
                pieces = [*older.column(j).chunks, *pieces]
            arrays.append(pa.chunked_array(pieces, type=kind))
        return pa.Table.from_arrays(arrays, names=self.header_list)

    def rows_since(self, n):
        """Rows appended after the first ``n`` (since the last reset), copied.

        Returns
        -------
        (pyarrow.RecordBatch, int)
            Columns ``t`` then the fields; the new count to pass next time.

        Raises
        ------
        RowsTrimmedError
            Some of those rows were already dropped by trimming.
        ValueError
            ``n`` is negative or beyond :attr:`n_received` (e.g. after a reset).
        """
        columns, end = self.columns_since(n)
        return record_batch(columns), end

    def columns_since(self, n, columns=None):
        """Like :meth:`rows_since`, as numpy: ``({name: 1-D array}, new count)``.

        ``columns`` (default all, ``t`` first) picks the columns; the arrays
        are copies.
        """
        segments, end = self._segments_since(n)
        header = self.header_list
        result = {}
        for name in header if columns is None else columns:
            j = header.index(name) if name in header else self._column_index(name)  # the latter raises
            if len(segments) == 1:
                chunk, lo, hi = segments[0]
                result[name] = chunk.cols[j][lo:hi].copy()
            elif segments:
                result[name] = np.concatenate([chunk.cols[j][lo:hi] for chunk, lo, hi in segments])
            else:
                result[name] = np.empty(0, self._store.dtypes[j])
        return result, end

    def values_since(self, n, columns):
        """The rows after the first ``n`` for plotting: ``(t, values, new count)``.

        ``values`` is a float64 array, one row per name in ``columns``;
        both arrays are copies. Plots take their new samples this way at
        every frame: when all columns are float64 it is one copy per chunk.
        Raises like :meth:`rows_since`.
        """
        segments, end = self._segments_since(n)
        rows = self._block_rows(columns)
        store = self._store
        if store.uniform and store.dtypes[0] == np.float64 and segments:
            t = [chunk.block[0, lo:hi] for chunk, lo, hi in segments]
            values = [chunk.block[rows, lo:hi] for chunk, lo, hi in segments]
            if len(segments) == 1:
                return t[0].copy(), values[0].copy() if isinstance(rows, slice) else values[0], end
            return np.concatenate(t), np.concatenate(values, axis=1), end
        named, end = self.columns_since(n, ["t", *columns])
        values = np.array([named[name] for name in columns], dtype=np.float64).reshape(len(columns), -1)
        return named["t"].astype(np.float64), values, end

    def _block_rows(self, columns):
        """Rows of ``columns`` in the storage blocks; a slice when they are neighbours (quicker than a pick).

        Looked up once per schema and set of columns: plots ask at every frame.
        """
        key = tuple(columns)
        rows = self._picks.get(key)
        if rows is None:
            header = self.header_list
            rows = [header.index(name) if name in header else self._column_index(name) for name in key]
            first = rows[0] if rows else 0
            if rows == list(range(first, first + len(rows))):
                rows = slice(first, first + len(rows))
            self._picks[key] = rows
        return rows

    def _segments_since(self, n):
        """Storage pieces of the rows after the first ``n``, and the row count; raises like :meth:`rows_since`."""
        store = self._store
        end = store.end_row
        if not 0 <= n <= end:
            raise ValueError(
                f"{self.name or 'accumulator'!r}: asked for rows after {n}, but only {end} "
                "were received since the last reset"
            )
        if n < store.first_row:
            raise RowsTrimmedError(
                f"{self.name or 'accumulator'!r}: rows {n}..{store.first_row - 1} were already "
                "trimmed (set recording=True to keep every row)"
            )
        return store.segments(n, end), end

    def get_dataframe(self):
        """Every sample since the last reset as a pandas DataFrame, ``t`` first, dtypes kept.

        Rows older than the live window are read back from the stream log.
        """
        import pandas as pd

        store = self._store
        lowest = self._lowest_row()
        older = self._older_columns(lowest) if lowest < store.first_row else None
        columns = {}
        for j, name in enumerate(self.header_list):
            held = store.column(j)
            columns[name] = held.copy() if older is None else np.concatenate([older[name], held])
        return pd.DataFrame(columns, columns=self.header_list)

    def save(self, path, format="csv", overwrite=False):
        """Write every sample since the last reset to ``path`` plus the format's suffix.

        Rows older than the live window are read back from the stream log.

        Parameters
        ----------
        path : str or Path
            Output path; the suffix of ``format`` is appended unless present.
        format : str
            ``csv``, ``feather``, ``parquet``, ``hdf5`` or ``json``.
        overwrite : bool
            Replace an existing file; by default FileExistsError names it.

        Returns
        -------
        Path
            The file written (``t`` first column, dtypes kept).
        """
        # One contiguous chunk per column: the writers handle one big chunk
        # much faster than the storage's many (hdf5 4x, parquet 1.5x).
        return write_table(self.to_arrow().combine_chunks(), path, format, overwrite=overwrite)


class DataFrameAccumulator(Accumulator):
    """An :class:`Accumulator` of named fields that users read as a DataFrame.

    Same parameters and behaviour as :class:`Accumulator`; kept as the name
    the reference API gives to the accumulators of tracking and stimulus data.
    """


class _Unsorted(Exception):
    """Timestamps held are not sorted: binary search does not apply."""


def _number(who, name, value):
    if type(value) in (float, int) or isinstance(value, (np.floating, np.integer, np.bool_, bool)):
        return value
    raise TypeError(f"{who}: field {name!r} must be a number, got {type(value).__name__} {value!r:.80}")
