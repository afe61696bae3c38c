"""Min/max decimation of live traces for drawing: every peak stays visible, few points are drawn."""

import logging

import numpy as np

logger = logging.getLogger(__name__)


def peak_decimate(x, values, bins):
    """Reduce ``values`` (channels x samples) to a min and a max per bin, for drawing.

    With ``bins`` about the plot's width in pixels, every peak stays visible
    while at most ``2 * bins`` points per channel are drawn. Samples are
    returned unchanged when there are no more than ``2 * bins`` of them. NaN
    is ignored inside a bin (a bin of only NaN stays NaN).

    Returns
    -------
    x, values : numpy.ndarray
        Decimated times (each bin's first and last time) and values.
    """
    n = x.size
    if n <= 2 * bins:
        return x, values
    per = -(-n // bins)  # samples per bin, rounded up: at most ``bins`` bins
    n_bins = -(-n // per)
    pad = n_bins * per - n
    if pad:  # the oldest bin is short: NaN fills it (ignored), so no sample is left out
        values = np.concatenate([np.full((values.shape[0], pad), np.nan), values], axis=1)
        x = np.concatenate([np.full(pad, x[0]), x])
    shaped = values.reshape(values.shape[0], n_bins, per)
    out = np.empty((values.shape[0], 2 * n_bins))
    low = out[:, 0::2]
    high = out[:, 1::2]
    # numpy reduces short inner axes slowly; folding the bins' samples one by one is ~15x faster.
    low[...] = shaped[..., 0]
    high[...] = shaped[..., 0]
    with np.errstate(invalid="ignore"):
        for j in range(1, per):
            np.fmin(low, shaped[..., j], out=low)
            np.fmax(high, shaped[..., j], out=high)
    xs = np.empty(2 * n_bins)
    xt = x.reshape(n_bins, per)
    xs[0::2] = xt[:, 0]
    xs[1::2] = xt[:, -1]
    return xs, out


class BinnedHistory:
    """Min/max per fixed time bin of a growing stream, updated with only the new samples.

    Bins are aligned on absolute time (bin ``k`` holds ``k * width <= t <
    (k + 1) * width``), so a finished bin never changes and each frame only
    reduces the samples that arrived since the last one. The samples of the
    newest, still open bin are kept raw until a later sample closes it.
    Finished bins live in preallocated buffers: a frame appends its few new
    bins without copying the ones held.

    Parameters
    ----------
    bin_width : float
        Seconds per bin (the window divided by the number of bins drawn).
    n_channels : int
        Number of value channels.
    keep_s : float
        Seconds of finished bins kept (older ones are dropped).
    """

    def __init__(self, bin_width, n_channels, keep_s):
        if not bin_width > 0:
            raise ValueError(f"bin width must be > 0 s, got {bin_width!r}")
        self.bin_width = float(bin_width)
        self.keep_s = float(keep_s)
        self._n_channels = int(n_channels)
        self._allocate(256)
        self._open_t = np.empty(0)
        self._open_values = np.empty((self._n_channels, 0))
        self._open_bin = None

    def _allocate(self, capacity):
        """Fresh buffers for ``capacity`` finished bins, keeping the held ones."""
        held = [] if not hasattr(self, "_start") else [
            self._k_all[self._start:self._stop], self._count_all[self._start:self._stop],
            self._t_first_all[self._start:self._stop], self._t_last_all[self._start:self._stop],
            self._low_all[:, self._start:self._stop], self._high_all[:, self._start:self._stop],
        ]
        self._k_all = np.empty(capacity, dtype=np.int64)
        self._count_all = np.empty(capacity, dtype=np.int64)
        self._t_first_all = np.empty(capacity)
        self._t_last_all = np.empty(capacity)
        self._low_all = np.empty((self._n_channels, capacity))
        self._high_all = np.empty((self._n_channels, capacity))
        self._start = self._stop = 0
        if held:
            self._append(*held)

    def _append(self, k, count, t_first, t_last, low, high):
        m = k.size
        if self._stop + m > self._k_all.size:
            held = self._stop - self._start
            # compact in place when at most half is held, else grow
            self._allocate(self._k_all.size if 2 * (held + m) <= self._k_all.size else 2 * (held + m))
        a, b = self._stop, self._stop + m
        self._k_all[a:b] = k
        self._count_all[a:b] = count
        self._t_first_all[a:b] = t_first
        self._t_last_all[a:b] = t_last
        self._low_all[:, a:b] = low
        self._high_all[:, a:b] = high
        self._stop = b

    @property
    def _k(self):
        return self._k_all[self._start:self._stop]

    @property
    def _t_first(self):
        return self._t_first_all[self._start:self._stop]

    @property
    def newest_t(self):
        """Time of the newest sample added, or None."""
        if self._open_t.size:
            return float(self._open_t[-1])
        return float(self._t_last_all[self._stop - 1]) if self._stop > self._start else None

    @property
    def newest_bin(self):
        """Index of the bin holding the newest sample, or None."""
        if self._open_t.size:
            return self._open_bin
        return int(self._k_all[self._stop - 1]) if self._stop > self._start else None

    def add(self, t, values):
        """Add samples: ``t`` 1-D times (non-decreasing), ``values`` channels x samples."""
        t = np.asarray(t, dtype=np.float64)
        if t.size == 0:
            return
        values = np.asarray(values, dtype=np.float64).reshape(self._n_channels, t.size)
        if self._open_t.size:
            t = np.concatenate([self._open_t, t])
            values = np.concatenate([self._open_values, values], axis=1)
        bin_of = np.floor(t / self.bin_width)
        # (array methods rather than numpy's functions: this runs per plot and frame, and the wrappers cost)
        closed = int(bin_of.searchsorted(bin_of[-1], side="left"))
        self._open_t, self._open_values = t[closed:], values[:, closed:]
        self._open_bin = int(bin_of[-1])
        if closed == 0:
            return
        t, values, bin_of = t[:closed], values[:, :closed], bin_of[:closed]
        starts = np.concatenate(([0], (bin_of[1:] != bin_of[:-1]).nonzero()[0] + 1))
        ends = np.concatenate((starts[1:], [closed]))
        # fmin / fmax skip NaN (flagged samples) without warnings
        low = np.fmin.reduceat(values, starts, axis=1)
        high = np.fmax.reduceat(values, starts, axis=1)
        self._append(bin_of[starts], ends - starts, t[starts], t[ends - 1], low, high)
        self._trim()

    def _trim(self):
        """Forget finished bins older than ``keep_s`` (by moving the start; buffers are compacted when full)."""
        newest = self.newest_t
        self._start += int(self._t_first.searchsorted(newest - self.keep_s - self.bin_width, side="left"))

    def window(self, start):
        """Min/max points of the bins whose samples all have ``t > start``.

        Returns
        -------
        x : numpy.ndarray
            Each bin's first and last time (the open bin included).
        values : numpy.ndarray
            channels x ``x.size``: each bin's min then max.
        """
        first = self._start + int(np.searchsorted(self._t_first, start, side="right"))
        n_closed = self._stop - first
        has_open = self._open_t.size > 0 and self._open_t[0] > start
        n = n_closed + (1 if has_open else 0)
        x = np.empty(2 * n)
        values = np.empty((self._n_channels, 2 * n))
        x[0:2 * n_closed:2] = self._t_first_all[first:self._stop]
        x[1:2 * n_closed:2] = self._t_last_all[first:self._stop]
        values[:, 0:2 * n_closed:2] = self._low_all[:, first:self._stop]
        values[:, 1:2 * n_closed:2] = self._high_all[:, first:self._stop]
        if has_open:
            x[-2], x[-1] = self._open_t[0], self._open_t[-1]
            with np.errstate(invalid="ignore"):
                values[:, -2] = np.fmin.reduce(self._open_values, axis=1)
                values[:, -1] = np.fmax.reduce(self._open_values, axis=1)
        return x, values

    def bins_from(self, k):
        """Bins of index ``>= k`` that hold samples: ``(indexes, low, high)``.

        ``low`` and ``high`` are channels x bins; the open bin, if any, is
        last, with the min/max of its samples so far. Bins without samples
        are absent (a gap in the data).
        """
        first = self._start + int(self._k.searchsorted(k, side="left"))
        indexes = self._k_all[first:self._stop]
        low, high = self._low_all[:, first:self._stop], self._high_all[:, first:self._stop]
        if self._open_t.size and self._open_bin >= k:
            open_low = np.fmin.reduce(self._open_values, axis=1)[:, None]
            open_high = np.fmax.reduce(self._open_values, axis=1)[:, None]
            indexes = np.concatenate((indexes, [self._open_bin]))
            low = np.concatenate([low, open_low], axis=1)
            high = np.concatenate([high, open_high], axis=1)
        return indexes, low, high

    def count_from(self, k):
        """Number of samples in the bins of index ``>= k`` (the open bin included)."""
        first = self._start + int(self._k.searchsorted(k, side="left"))
        return int(self._count_all[first:self._stop].sum()) + self._open_t.size

    def extent_from(self, k):
        """Per channel ``(min, max)`` over the bins of index ``>= k``, the open bin included (NaN where none)."""
        first = self._start + int(self._k.searchsorted(k, side="left"))
        low = np.full(self._n_channels, np.nan)
        high = np.full(self._n_channels, np.nan)
        if first < self._stop:
            low = np.fmin.reduce(self._low_all[:, first:self._stop], axis=1)
            high = np.fmax.reduce(self._high_all[:, first:self._stop], axis=1)
        if self._open_t.size and self.newest_bin >= k:
            low = np.fmin(low, np.fmin.reduce(self._open_values, axis=1))
            high = np.fmax(high, np.fmax.reduce(self._open_values, axis=1))
        return low, high
