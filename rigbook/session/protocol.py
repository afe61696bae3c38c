"""Protocols: a timeline of stimulus states driven by the drain timer.

A protocol owns a :class:`rigbook.collectors.Parametrized` under
``stimulus/protocol/<name>`` (so its settings go to metadata.json and are
restored on the next start), says which time-varying values it has
(:attr:`Protocol.dynamic_fields`, logged in a DynamicLog), and reports each
finished repetition as a trial. The controller calls :meth:`Protocol.update`
on every drain tick while recording.
"""

import logging
import math

from rigbook.collectors.params import Param, Parametrized

logger = logging.getLogger(__name__)


class Protocol:
    """Base class: subclass it, define ``name``, ``dynamic_fields`` and the four methods.

    Parameters
    ----------
    tree : rigbook.collectors.DataCollector, optional
        Where the protocol's parameters are registered.
    """

    #: Short protocol name (an ID: no slashes).
    name = "protocol"
    #: Names of the values :meth:`update` returns, in the DynamicLog's column order.
    dynamic_fields = ()

    def __init__(self, tree=None):
        self.params = self.make_params(tree)
        self.t_start = None

    @property
    def dynamic_parameters(self):
        """The names a DynamicLog logs for this protocol (its :attr:`dynamic_fields`)."""
        return list(self.dynamic_fields)

    def make_params(self, tree):
        """Return the protocol's Parametrized (named ``stimulus/protocol/<name>``)."""
        return Parametrized(name=f"stimulus/protocol/{self.name}", tree=tree)

    @property
    def duration(self):
        """Total duration in seconds."""
        raise NotImplementedError

    def start(self, t):
        """Start at accumulator time ``t`` (seconds)."""
        self.t_start = float(t)

    def update(self, t, estimates):
        """Return the dynamic values at time ``t`` given the estimators' latest values."""
        raise NotImplementedError

    def completed_trials(self, t):
        """Trials (dicts of attributes) completed by time ``t`` and not reported yet."""
        return []

    @property
    def running(self):
        return self.t_start is not None

    def elapsed(self, t):
        return 0.0 if self.t_start is None else max(0.0, float(t) - self.t_start)

    def progress(self, t):
        """Fraction of the protocol done at time ``t``, 0 to 1."""
        duration = self.duration
        if duration <= 0:
            return 1.0
        return min(self.elapsed(t) / duration, 1.0)

    def finished(self, t):
        return self.running and self.elapsed(t) >= self.duration

    def stop(self):
        self.t_start = None


class GratingsProtocol(Protocol):
    """Moving gratings, repeated, optionally closed-loop on swim vigor.

    Each repetition is a pause of still gratings followed by ``duration``
    seconds of motion. In closed loop the grating velocity relative to the
    animal is ``speed - gain * vigor``, so swimming slows the gratings down,
    as it would in a real closed-loop optomotor assay.
    """

    name = "gratings"
    dynamic_fields = ("velocity", "contrast", "moving", "repetition")

    def make_params(self, tree):
        return Parametrized(
            name=f"stimulus/protocol/{self.name}",
            tree=tree,
            params=dict(
                speed=Param(10.0, limits=[0.0, 50.0], unit="mm/s", desc="grating speed in open loop"),
                contrast=Param(1.0, limits=[0.0, 1.0], desc="Michelson contrast"),
                period=Param(10.0, limits=[1.0, 100.0], unit="mm", desc="spatial period of the grating"),
                duration=Param(4.0, limits=[0.1, 600.0], unit="s", desc="motion per repetition"),
                pause=Param(2.0, limits=[0.0, 600.0], unit="s", desc="still gratings before each motion"),
                repetitions=Param(10, limits=[1, 1000], desc="number of repetitions"),
                direction=Param("forward", limits=["forward", "backward"], desc="motion direction"),
                closed_loop=Param(True, desc="swimming slows the gratings down"),
                gain=Param(10.0, limits=[0.0, 100.0], unit="mm/s per vigor", desc="closed-loop gain"),
            ),
        )

    def __init__(self, tree=None):
        super().__init__(tree)
        self._reported = 0
        self._settings = None

    @property
    def repetition_s(self):
        p = self._settings or self._current_settings()
        return p["pause"] + p["duration"]

    @property
    def duration(self):
        p = self._settings or self._current_settings()
        return p["repetitions"] * (p["pause"] + p["duration"])

    def _current_settings(self):
        return dict(self.params.params.values)

    def start(self, t):
        # Parameters are frozen for the run: an edit mid-run applies to the next one.
        self._settings = self._current_settings()
        self._reported = 0
        super().start(t)

    def stop(self):
        super().stop()
        self._settings = None

    def _position(self, t):
        """(repetition index, seconds into it) at time ``t``."""
        elapsed = self.elapsed(t)
        rep_s = self.repetition_s
        index = int(elapsed // rep_s) if rep_s > 0 else 0
        return index, elapsed - index * rep_s

    def update(self, t, estimates):
        p = self._settings or self._current_settings()
        if not self.running or self.finished(t):
            return {"velocity": 0.0, "contrast": p["contrast"], "moving": 0.0,
                    "repetition": float(self._position(t)[0] if self.running else -1)}
        index, into = self._position(t)
        moving = into >= p["pause"]
        velocity = 0.0
        if moving:
            sign = 1.0 if p["direction"] == "forward" else -1.0
            velocity = sign * p["speed"]
            vigor = estimates.get("vigor", math.nan)
            if p["closed_loop"] and math.isfinite(vigor):
                velocity -= sign * p["gain"] * vigor
        return {"velocity": float(velocity), "contrast": float(p["contrast"]),
                "moving": float(moving), "repetition": float(index)}

    def completed_trials(self, t):
        if not self.running:
            return []
        p = self._settings
        done = min(int(self.elapsed(t) // self.repetition_s), p["repetitions"])
        trials = []
        while self._reported < done:
            index = self._reported
            start = self.t_start + index * self.repetition_s
            trials.append({
                "repetition": index,
                "t_start": start,
                "t_motion": start + p["pause"],
                "t_end": start + self.repetition_s,
                "speed": p["speed"],
                "contrast": p["contrast"],
                "direction": p["direction"],
                "closed_loop": p["closed_loop"],
            })
            self._reported += 1
        return trials
