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


# Rows of the per-bin bookkeeping array
_K, _COUNT, _T_FIRST, _T_LAST = range(4)
_FIRST_START = np.zeros(1, dtype=np.intp)


class BinnedHistory:
    """Min/max per fixed time bin of a growing stream, updated with only the new samples.

    Bins are aligned on absolute time (bin ``k`` holds ``k * width <= t <
    (k + 1) * width``), so a bin never changes once a later one has begun,
    and each frame only reduces the samples that arrived since the last
    one. The newest bin may still grow: samples of the same bin that come
    later are merged into it. Bins live in preallocated buffers, each
    frame writes its few bins in place; bins older than ``keep_s`` are
    dropped when the buffers are compacted.

    Parameters
    ----------
    bin_width : float
        Seconds per bin (the window divided by the number of bins drawn).
    n_channels : int
        Number of value channels.
    keep_s : float
        Seconds of bins kept at least (older ones are dropped).
    """

    def __init__(self, bin_width, n_channels, keep_s):
        if not bin_width > 0:
            raise ValueError(f"bin width must be > 0 s, got {bin_width!r}")
        self.bin_width = float(bin_width)
        self.keep_s = float(keep_s)
        self._n_channels = int(n_channels)
        # per bin: index, sample count, first and last time; and per channel its min then max.
        # (Two arrays rather than six: a frame writes its bins with fewer calls, which is what it costs.)
        self._meta = np.empty((4, 256))
        self._spans = np.empty((2, self._n_channels, 256))
        self._start = self._stop = 0

    def _make_room(self, m):
        """Drop bins older than ``keep_s``, then compact or grow so that ``m`` more bins fit."""
        meta, start, stop = self._meta, self._start, self._stop
        if stop > start:
            oldest_kept = meta[_T_LAST, stop - 1] - self.keep_s - self.bin_width
            start += int(meta[_T_FIRST, start:stop].searchsorted(oldest_kept, side="left"))
        held = stop - start
        capacity = meta.shape[1]
        if 2 * (held + m) > capacity:  # more than half full after compacting: grow instead
            capacity = 2 * (held + m)
        new_meta = np.empty((4, capacity))
        new_spans = np.empty((2, self._n_channels, capacity))
        new_meta[:, :held] = meta[:, start:stop]
        new_spans[:, :, :held] = self._spans[:, :, start:stop]
        self._meta, self._spans = new_meta, new_spans
        self._start, self._stop = 0, held

    @property
    def newest_t(self):
        """Time of the newest sample added, or None."""
        return float(self._meta[_T_LAST, self._stop - 1]) if self._stop > self._start else None

    @property
    def newest_bin(self):
        """Index of the bin holding the newest sample, or None."""
        return int(self._meta[_K, self._stop - 1]) if self._stop > self._start else None

    def add(self, t, values):
        """Add samples: ``t`` 1-D times (non-decreasing), ``values`` channels x samples."""
        t = np.asarray(t, dtype=np.float64)
        n = t.size
        if n == 0:
            return
        values = np.asarray(values, dtype=np.float64).reshape(self._n_channels, n)
        bin_of = np.floor(t / self.bin_width)
        # (array methods and ufuncs writing in place: this runs per plot and frame, and each call costs)
        if n > 1:
            steps = bin_of[1:] - bin_of[:-1]
            if not np.logical_and.reduce(steps >= 0):  # (NaN fails too)
                back = int((~(steps >= 0)).nonzero()[0][0]) + 1
                raise ValueError(f"samples must come in time order: t = {float(t[back]):g} s follows "
                                 f"t = {float(t[back - 1]):g} s")
            starts = steps.nonzero()[0]
            starts += 1
            starts = np.concatenate((_FIRST_START, starts))
        else:
            starts = _FIRST_START
        m = starts.size
        stop = self._stop
        continues = False
        if stop > self._start:
            newest = self._meta[_K, stop - 1]
            if not bin_of[0] >= newest:
                raise ValueError(
                    f"samples must come in time order: t = {float(t[0]):g} s is before the newest bin "
                    f"(from {newest * self.bin_width:g} s)"
                )
            continues = bin_of[0] == newest
        if stop + m - continues > self._meta.shape[1]:
            self._make_room(m)
            stop = self._stop
        a = stop - 1 if continues else stop
        b = a + m
        meta, spans = self._meta, self._spans
        if continues:  # the newest bin held grows: keep what it had, merge below
            earlier = spans[:, :, a].copy()
            earlier_count, earlier_first = meta[_COUNT, a], meta[_T_FIRST, a]
        # fmin / fmax skip NaN (flagged samples) without warnings
        np.fmin.reduceat(values, starts, axis=1, out=spans[0, :, a:b])
        np.fmax.reduceat(values, starts, axis=1, out=spans[1, :, a:b])
        bin_of.take(starts, out=meta[_K, a:b])
        t.take(starts, out=meta[_T_FIRST, a:b])
        counts, last = meta[_COUNT, a:b], meta[_T_LAST, a:b]
        np.subtract(starts[1:], starts[:-1], out=counts[:-1])
        counts[-1] = n - starts[-1]
        t.take(starts[1:] - 1, out=last[:-1])
        last[-1] = t[-1]
        if continues:
            np.fmin(spans[0, :, a], earlier[0], out=spans[0, :, a])
            np.fmax(spans[1, :, a], earlier[1], out=spans[1, :, a])
            meta[_COUNT, a] += earlier_count
            meta[_T_FIRST, a] = earlier_first
        self._stop = b

    def _first_from(self, k):
        """Position of the first bin of index ``>= k``."""
        return self._start + int(self._meta[_K, self._start:self._stop].searchsorted(k, side="left"))

    def window(self, start):
        """Min/max points of the bins whose samples all have ``t > start``.

        Returns
        -------
        x : numpy.ndarray
            Each bin's first and last time.
        values : numpy.ndarray
            channels x ``x.size``: each bin's min then max.
        """
        first = self._start + int(self._meta[_T_FIRST, self._start:self._stop].searchsorted(start, side="right"))
        n = self._stop - first
        x = np.empty(2 * n)
        values = np.empty((self._n_channels, 2 * n))
        x[0::2] = self._meta[_T_FIRST, first:self._stop]
        x[1::2] = self._meta[_T_LAST, first:self._stop]
        values[:, 0::2] = self._spans[0, :, first:self._stop]
        values[:, 1::2] = self._spans[1, :, first:self._stop]
        return x, values

    def bins_from(self, k):
        """Bins of index ``>= k`` that hold samples: ``(indexes, spans)``.

        ``spans`` is 2 x channels x bins: each bin's min, then its max (NaN
        for a channel with only NaN samples in the bin). The newest bin may
        still grow. Bins without samples are absent (a gap in the data).
        The arrays are views: they change with the next :meth:`add`.
        """
        first = self._first_from(k)
        return self._meta[_K, first:self._stop], self._spans[:, :, first:self._stop]

    def count_from(self, k):
        """Number of samples in the bins of index ``>= k``."""
        return int(np.add.reduce(self._meta[_COUNT, self._first_from(k):self._stop]))

    def extent_from(self, k):
        """Per channel ``(min, max)`` over the bins of index ``>= k`` (NaN where none)."""
        first = self._first_from(k)
        if first == self._stop:
            return np.full(self._n_channels, np.nan), np.full(self._n_channels, np.nan)
        return (np.fmin.reduce(self._spans[0, :, first:self._stop], axis=1),
                np.fmax.reduce(self._spans[1, :, first:self._stop], axis=1))
