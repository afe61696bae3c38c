"""Closed-loop estimators: values computed live from the streams, logged in an EstimatorLog."""

import logging
import math

import numpy as np

logger = logging.getLogger(__name__)


class Estimator:
    """Base class: compute named values from the accumulators at each drain tick.

    Parameters
    ----------
    accumulators : dict
        Accumulators of the rig's sources, by source name.

    Subclasses set :attr:`name` (the log's stream name), :attr:`fields` and
    implement :meth:`estimate`.
    """

    name = "estimator"
    fields = ()

    def __init__(self, accumulators):
        self.accumulators = accumulators

    def estimate(self, t):
        """Return a dict field -> float for time ``t`` (NaN when there is no data yet)."""
        raise NotImplementedError


class SwimVigorEstimator(Estimator):
    """Swim vigor: the standard deviation of the tail angle over a short window.

    Parameters
    ----------
    accumulators : dict
        Must hold ``source``.
    source : str
        Name of the tracking source.
    channel : str
        Its tail-angle field.
    window_s : float
        Window in seconds (50 ms spans about one tail-beat cycle).
    """

    name = "vigor"
    fields = ("vigor",)

    def __init__(self, accumulators, source="tracker", channel="tail_angle", window_s=0.05):
        super().__init__(accumulators)
        if source not in accumulators:
            raise ValueError(f"vigor estimator: no source {source!r}; sources are {', '.join(accumulators)}")
        self.accumulator = accumulators[source]
        self.channel = channel
        self.window_s = float(window_s)

    def estimate(self, t):
        columns = [c for c in self.accumulator.columns if c != "t"]
        if self.channel not in columns:
            return {"vigor": math.nan}
        data = np.asarray(self.accumulator.get_last_t(self.window_s))
        if data.ndim != 2 or data.shape[0] < 2:
            return {"vigor": math.nan}
        tail = data[:, 1 + columns.index(self.channel)]
        tail = tail[np.isfinite(tail)]
        return {"vigor": float(np.std(tail)) if tail.size > 1 else math.nan}
