"""Min/max bins of live traces hold exactly what the samples say, however the samples arrive."""

import numpy as np
import pytest

from rigbook.widgets.decimation import BinnedHistory

WIDTH = 0.01


def irregular_stream(seed, n=4000):
    """Times with jitter and a 0.2 s gap, two channels with a spike, NaN runs and a channel all NaN for a while."""
    rng = np.random.default_rng(seed)
    t = 3.0 + np.cumsum(rng.uniform(0.0002, 0.002, n))
    t[n // 2:] += 0.2  # a gap: bins without samples
    values = rng.standard_normal((2, n))
    values[0, 1234] = 50.0
    values[1, 2000:2003] = np.nan  # flagged samples inside a bin
    values[1, 3000:3100] = np.nan  # whole bins of flagged samples
    return t, values


def fed_in_pieces(t, values, seed, keep_s=100.0):
    rng = np.random.default_rng(seed)
    history = BinnedHistory(WIDTH, values.shape[0], keep_s=keep_s)
    # pieces of 1 sample, pieces inside one bin, pieces spanning many bins
    cuts = np.unique(np.concatenate([rng.choice(np.arange(1, t.size), 60, replace=False), np.arange(100, 110)]))
    for part in np.split(np.arange(t.size), cuts):
        history.add(t[part], values[:, part])
    return history


def expected_bins(t, values):
    bin_of = np.floor(t / WIDTH)
    ks = np.unique(bin_of)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):  # all-NaN bins warn in nanmin
        low = np.array([np.nanmin(values[:, bin_of == k], axis=1) for k in ks]).T
        high = np.array([np.nanmax(values[:, bin_of == k], axis=1) for k in ks]).T
    counts = np.array([(bin_of == k).sum() for k in ks])
    return ks, low, high, counts, bin_of


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bins_fed_in_any_pieces_equal_the_min_max_of_their_samples(seed):
    t, values = irregular_stream(seed)
    history = fed_in_pieces(t, values, seed)
    ks, low, high, counts, bin_of = expected_bins(t, values)
    assert high[0].max() == 50.0  # the one-sample spike
    assert np.isnan(high[1]).any()  # the data has whole bins of NaN: they stay NaN, not a value

    indexes, spans = history.bins_from(ks[0])
    np.testing.assert_array_equal(indexes, ks)  # the gap's bins are absent
    np.testing.assert_array_equal(spans[0], low)
    np.testing.assert_array_equal(spans[1], high)
    assert history.newest_bin == ks[-1] and history.newest_t == t[-1]

    k = ks[len(ks) // 3]
    assert history.count_from(k) == counts[ks >= k].sum() == (bin_of >= k).sum()
    np.testing.assert_array_equal(history.extent_from(k)[0], np.nanmin(values[:, bin_of >= k], axis=1))
    np.testing.assert_array_equal(history.extent_from(k)[1], np.nanmax(values[:, bin_of >= k], axis=1))
    assert history.count_from(ks[-1] + 1) == 0 and np.isnan(history.extent_from(ks[-1] + 1)).all()

    # as points: each bin's first then last time, min then max; only bins whose samples all lie after the start
    start = t[1500]
    x, points = history.window(start)
    shown = ks[[t[bin_of == k][0] > start for k in ks]]
    assert x.size == 2 * shown.size
    np.testing.assert_array_equal(x[0::2], [t[bin_of == k][0] for k in shown])
    np.testing.assert_array_equal(x[1::2], [t[bin_of == k][-1] for k in shown])
    np.testing.assert_array_equal(points[:, 0::2], low[:, np.isin(ks, shown)])
    np.testing.assert_array_equal(points[:, 1::2], high[:, np.isin(ks, shown)])


def test_a_spike_of_one_sample_is_kept_and_the_newest_bin_grows_until_the_next_begins():
    history = BinnedHistory(WIDTH, 1, keep_s=10.0)
    history.add([0.001, 0.002], [[1.0, 2.0]])
    history.add([0.005], [[50.0]])  # same bin, a later frame
    assert history.bins_from(0)[1][:, 0, 0].tolist() == [1.0, 50.0]
    history.add([0.0099, 0.011], [[-3.0, 4.0]])
    indexes, spans = history.bins_from(0)
    assert indexes.tolist() == [0, 1] and spans[:, 0, :].tolist() == [[-3.0, 4.0], [50.0, 4.0]]
    assert history.count_from(0) == 5 and history.count_from(1) == 1


def test_samples_out_of_time_order_are_refused_and_nothing_held_changes():
    history = BinnedHistory(WIDTH, 1, keep_s=10.0)
    history.add([0.5, 0.6], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="time order.*t = 0.1"):
        history.add([0.1], [[9.0]])
    with pytest.raises(ValueError, match="time order: t = 0.65 s follows t = 0.7 s"):
        history.add([0.61, 0.7, 0.65], [[9.0, 9.0, 9.0]])
    with pytest.raises(ValueError, match="time order: t = nan s"):
        history.add([0.61, np.nan], [[9.0, 9.0]])
    assert history.count_from(0) == 2 and history.newest_t == 0.6
    assert history.bins_from(0)[1].tolist() == [[[1.0, 2.0]], [[1.0, 2.0]]]  # min, max of bins 50 and 60


def test_old_bins_are_dropped_memory_stays_bounded_and_recent_bins_stay_exact():
    t = np.arange(200_000) / 1000.0  # 200 s at 1 kHz, bins of 10 ms, 1 s kept
    values = np.sin(t)[None, :]
    history = BinnedHistory(WIDTH, 1, keep_s=1.0)
    for part in np.array_split(np.arange(t.size), 6000):
        history.add(t[part], values[:, part])
    x, _ = history.window(-np.inf)
    assert x[-1] == t[-1] and 1.0 <= x[-1] - x[0] < 3.0  # 1 s kept at least, never all 200 s
    newest = history.newest_bin
    assert history.count_from(newest - 99) == 1000
    np.testing.assert_allclose(history.extent_from(newest - 99)[1], [np.sin(t[-1000:]).max()])


def test_a_bin_width_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="bin width"):
        BinnedHistory(0.0, 1, keep_s=1.0)
