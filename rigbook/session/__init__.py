"""A recording session without Qt: rig, sources, protocols, estimators, live streams, recordings.

The window (:mod:`rigbook.app`) drives a :class:`Session` with Qt timers;
``rigbook record`` drives it with a plain loop (:func:`record`), and
``rigbook finish`` completes a session whose process was killed
(:func:`finish_session`). Nothing here imports Qt.
"""

from rigbook.session.demo import demo_rig
from rigbook.session.estimator import Estimator, SwimVigorEstimator
from rigbook.session.exports import SessionResult
from rigbook.session.finish import finish_session
from rigbook.session.headless import record
from rigbook.session.protocol import GratingsProtocol, Protocol
from rigbook.session.rig import Rig, Source, load_rig
from rigbook.session.session import Session

__all__ = [
    "Estimator",
    "GratingsProtocol",
    "Protocol",
    "Rig",
    "Session",
    "SessionResult",
    "Source",
    "SwimVigorEstimator",
    "demo_rig",
    "finish_session",
    "load_rig",
    "record",
]
