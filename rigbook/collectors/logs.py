"""Logs fed directly by the app: stimulus dynamic parameters and estimator outputs."""

import logging
import math
import numbers

import numpy as np

from rigbook.collectors.accumulators import DataFrameAccumulator
from rigbook.collectors.namedtuplequeue import Schema

log = logging.getLogger(__name__)


def dynamic_parameter_names(stimulus):
    """Names of the dynamic parameters of a stimulus (``dynamic_parameters`` or ``dynamic_parameter_names``).

    A stimulus with neither attribute has none: it is skipped, as stytra does.
    """
    if isinstance(stimulus, str):
        return [stimulus]
    for attribute in ("dynamic_parameters", "dynamic_parameter_names"):
        names = getattr(stimulus, attribute, None)
        if names is not None:
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise TypeError(f"{type(stimulus).__name__}.{attribute} must be a list of names, got {names!r:.80}")
            return list(names)
    log.debug("%s has no dynamic parameters: not logged", type(stimulus).__name__)
    return []


class DynamicLog(DataFrameAccumulator):
    """Log of the dynamic parameters of stimuli (e.g. grating speed in closed loop).

    Parameters
    ----------
    stimuli : list
        Objects with a ``dynamic_parameters`` list of names (or names
        themselves); the log's columns are the union of those names, in
        order of appearance. Stimuli without dynamic parameters are skipped.
    **kwargs
        As :class:`~rigbook.collectors.Accumulator`.
    """

    def __init__(self, stimuli=(), **kwargs):
        super().__init__(**kwargs)
        self.stimuli = []
        self._names = []
        self.update_stimuli(stimuli)

    def update_stimuli(self, stimuli):
        """Log the parameters of ``stimuli``; if the union of names changes, the log resets."""
        names = []
        for stimulus in stimuli:
            for name in dynamic_parameter_names(stimulus):
                if name not in names:
                    names.append(name)
        self.stimuli = list(stimuli)
        if names and names != self._names:
            self._use_schema(Schema("DynamicState", names, ["f8"] * len(names)))
        self._names = names

    def update_list(self, time, data):
        """Append the state of the dynamic parameters at ``time``.

        Parameters
        ----------
        time : float or datetime
            ``time.monotonic()`` seconds.
        data : dict or sequence
            Parameter name to number (parameters not given are NaN), or
            one value per parameter in column order.

        Raises
        ------
        ValueError
            A name that is not a dynamic parameter of the stimuli.
        TypeError
            A value that is not a number; nothing is appended.
        """
        if not self._names:
            raise ValueError(f"dynamic log {self.name!r} has no stimuli with dynamic parameters to log")
        if hasattr(data, "_asdict"):
            data = data._asdict()
        elif not hasattr(data, "items"):
            if isinstance(data, (str, bytes)) or not hasattr(data, "__len__"):
                raise TypeError(
                    f"dynamic log data must be a dict of parameter values, got {type(data).__name__}"
                )
            if len(data) != len(self._names):
                raise ValueError(
                    f"dynamic log {self.name!r}: {len(data)} values for {len(self._names)} "
                    f"parameters ({', '.join(self._names)})"
                )
            data = dict(zip(self._names, data))
        unknown = [k for k in data if k not in self._names]
        if unknown:
            raise ValueError(
                f"dynamic log {self.name!r}: {unknown} not among the logged parameters {self._names}"
            )
        row = np.empty((1, 1 + len(self._names)), dtype=np.float64)
        row[0, 0] = self._time_number(time)
        for i, name in enumerate(self._names, start=1):
            value = data.get(name, math.nan)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"dynamic log {self.name!r}: parameter {name!r} must be a number, "
                    f"got {type(value).__name__} {value!r:.80}"
                )
            row[0, i] = value
        self._append_rows(row)


class EstimatorLog(DataFrameAccumulator):
    """Log of an estimator's outputs (e.g. swimming vigor, position estimates).

    Parameters
    ----------
    headers : list of str, optional
        Names of the estimated values; needed to log plain tuples or lists.
        Without it, the first sample must be a namedtuple (its fields name
        the columns).
    **kwargs
        As :class:`~rigbook.collectors.Accumulator`.
    """

    def __init__(self, headers=None, **kwargs):
        super().__init__(**kwargs)
        if headers is not None:
            headers = [str(h) for h in headers]
            if not headers or len(set(headers)) != len(headers):
                raise ValueError(f"estimator log headers must be distinct names, got {headers!r}")
            self._use_schema(Schema("Estimate", headers, ["f8"] * len(headers)))

    def update_list(self, t, data):
        """Append the estimate ``data`` at ``t``.

        ``data`` is a namedtuple (a new type resets the log) or a tuple/list
        with one number per column.
        """
        self.append(t, data)
