"""The live streams of a rig: one accumulator per source, estimator logs, protocol logs.

:class:`LiveStreams` owns the queues the sources feed and everything drained
from them. :meth:`LiveStreams.drain` is one drain step with a time budget;
:meth:`LiveStreams.estimate` runs the estimators and logs their values.
Nothing here knows about timers or windows.
"""

import logging
import math
import multiprocessing
import time
from collections import namedtuple

from rigbook.collectors import (
    DynamicLog,
    EstimatorLog,
    FramerateQueueAccumulator,
    NamedTupleQueue,
    QueueDataAccumulator,
)

logger = logging.getLogger(__name__)

#: The longest live plot window, in seconds (the window offers 0.1 to 30 s).
LONGEST_PLOT_WINDOW_S = 30.0


def _mp_context():
    # Qt may be running in the parent: forking it is unsafe, so sources are spawned.
    return multiprocessing.get_context("spawn")


def live_history(rate):
    """Samples to keep while not recording: the longest plot window at ``rate`` Hz, with margin."""
    return max(1000, int((LONGEST_PLOT_WINDOW_S + 2) * float(rate or 1000.0)))


class LiveStreams:
    """Queues and accumulators of a rig's sources, and the logs of its estimators and protocols.

    Parameters
    ----------
    rig : rigbook.session.rig.Rig
    protocols : dict
        Protocol name -> protocol object (each gets a DynamicLog ``stimulus_<name>``).
    recording : callable
        Returns whether a recording is running (the accumulators keep all rows then).
    drain_interval_s : float
        How often :meth:`drain` is called; sizes the estimator logs' live history.
    """

    def __init__(self, rig, protocols, recording, drain_interval_s=0.015):
        self.rig = rig
        self.sources = {s.name: s for s in rig.sources}
        t0 = time.monotonic()
        self.queues = {}
        self.accumulators = {}
        for source in rig.sources:
            if source.kind == "framerate":
                # Frame-rate sources send (t, fps) pairs through a plain multiprocessing queue.
                queue = _mp_context().Queue()
                acc = FramerateQueueAccumulator(queue=queue, goal_framerate=source.goal_rate,
                                                name=source.name, t0=t0)
            else:
                queue = NamedTupleQueue(context=_mp_context())
                acc = QueueDataAccumulator(queue, name=source.name, monitored_headers=source.monitored_headers,
                                           t0=t0, recording=recording,
                                           max_history_if_not_running=live_history(source.goal_rate))
            acc.units = dict(source.units)
            acc.descriptions = dict(source.descriptions)
            self.queues[source.name] = queue
            self.accumulators[source.name] = acc
        self.estimators = [factory(self.accumulators) for factory in rig.estimators]
        self._estimate_types = {
            est.name: namedtuple(f"{type(est).__name__}Output", est.fields) for est in self.estimators
        }
        self.estimator_logs = {
            est.name: EstimatorLog(name=est.name, t0=t0, recording=recording,
                                   max_history_if_not_running=live_history(1.0 / drain_interval_s))
            for est in self.estimators
        }
        self.dynamic_logs = {
            name: DynamicLog([protocol], name=f"stimulus_{name}", t0=t0, recording=recording)
            for name, protocol in protocols.items()
        }
        for est in self.estimators:
            log = self.estimator_logs[est.name]
            log.units = dict(getattr(est, "units", {}) or {})
            log.descriptions = dict(getattr(est, "descriptions", {}) or {})
        for name, protocol in protocols.items():
            log = self.dynamic_logs[name]
            log.units = dict(getattr(protocol, "units", {}) or {})
            log.descriptions = dict(getattr(protocol, "descriptions", {}) or {})
        self.latest_estimates = {}

    @property
    def t0(self):
        """The accumulators' clock origin (``time.monotonic()`` seconds)."""
        return next(iter(self.accumulators.values())).t0

    def all_logs(self):
        """Every accumulator and log, by stream name."""
        streams = dict(self.accumulators)
        streams.update(self.estimator_logs)
        streams.update({log.name: log for log in self.dynamic_logs.values()})
        return streams

    def recorded_for(self, protocol_name):
        """The streams a recording with ``protocol_name`` (or none) writes, by name."""
        streams = dict(self.accumulators)
        streams.update(self.estimator_logs)
        if protocol_name:
            log = self.dynamic_logs[protocol_name]
            streams[log.name] = log
        return streams

    def plotted(self):
        """Streams the window plots: plotted sources, estimator logs, protocol state."""
        plotted = {name: acc for name, acc in self.accumulators.items() if self.sources[name].plot}
        plotted.update(self.estimator_logs)
        plotted.update({log.name: log for log in self.dynamic_logs.values()})
        return plotted

    def restart_clock(self, t0, wall_clock, streams):
        """Make ``t0`` time zero of ``streams`` and clear what they held (a recording starts)."""
        self.drain()  # what was sent before the start is taken, then dropped with the rest
        for acc in streams.values():
            acc.set_time_origin(t0, wall_clock)
            acc.reset()

    def drain(self):
        """Move what the sources sent into the accumulators.

        Each accumulator takes what it received within its own time budget
        (``drain_budget``); what is left waits for the next step, so a
        flooded queue never blocks the caller for long.
        """
        for acc in self.accumulators.values():
            acc.update_list()

    def estimate(self, t_monotonic):
        """Run the estimators at ``t_monotonic``; log and return their values by field."""
        t = t_monotonic - self.t0
        estimates = {}
        for estimator in self.estimators:
            values = estimator.estimate(t)
            estimates.update(values)
            output = self._estimate_types[estimator.name](*(float(values[f]) for f in estimator.fields))
            if not all(math.isnan(v) for v in output):  # nothing to estimate from yet: no row
                self.estimator_logs[estimator.name].update_list(t_monotonic, output)
        self.latest_estimates = estimates
        return estimates

    def silent(self):
        """Names of the sources that have not sent a sample yet."""
        return [name for name, acc in self.accumulators.items() if acc.n_received == 0]

    def discard_queued(self):
        """Drain and forget (used while sources stop: their pipes must not fill up)."""
        for acc in self.accumulators.values():
            acc.update_list()
            if acc.n_held > 2 * acc.max_history_if_not_running:
                acc.trim_data()

    def close(self):
        """Stop the accumulators' receiving threads."""
        for acc in self.accumulators.values():
            close = getattr(acc, "close", None)
            if close is not None:
                close()
