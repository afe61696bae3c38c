"""Record a rig without a window and without Qt: the session driven by a plain loop.

Ctrl+C, SIGTERM and SIGHUP (a closed terminal, ``timeout``, a job
scheduler) end the recording the same way: the logs are closed, trials,
exports and metadata.json are written, and the session is marked
``"interrupted"``.
"""

import datetime
import logging
import signal
import time

from rigbook.resources import defaults
from rigbook.session import status as session_status
from rigbook.session.exports import missing_files
from rigbook.session.session import Session
from rigbook.session.settings import default_storage_root

logger = logging.getLogger(__name__)

#: How long the sources get to send their first sample before recording starts anyway.
SOURCE_START_TIMEOUT_S = 30.0
DRAIN_INTERVAL_S = 0.015
POLL_INTERVAL_S = 0.25
#: Signals that end a headless recording early (and are saved like any other).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
                     if hasattr(signal, name))


def default_task_id():
    """A task ID from the current time, e.g. ``session-20260121-101500``."""
    return datetime.datetime.now().strftime("session-%Y%m%d-%H%M%S")


class _StopRequests:
    """Turns the stop signals into a flag while recording, and restores the handlers after."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        for sig in STOP_SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (OSError, ValueError):  # not the main thread, or not settable here
                pass
        return self

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def _drive(session, until, timeout_s, stop=None):
    """Drain and poll until ``until()`` is true, ``stop.received``, or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    next_poll = time.monotonic() + POLL_INTERVAL_S
    while not until() and time.monotonic() < deadline and not (stop is not None and stop.received):
        session.drain()
        now = time.monotonic()
        if now >= next_poll:
            session.poll_recording()
            next_poll = now + POLL_INTERVAL_S
        time.sleep(DRAIN_INTERVAL_S)
    return until()


def record(rig, duration, subject_id, task_id, root=None, formats=None, instance_number=-1, on_message=None,
           protocol=None, assignments=None, restore=False, if_exists="fail"):
    """Run ``rig`` headless for ``duration`` seconds and save the session.

    Recording starts once every source has sent its first sample (so the
    session holds ``duration`` seconds of data from every source), and stops
    after ``duration`` seconds, when the protocol ends, when every source has
    died, or at Ctrl+C / SIGTERM / SIGHUP, whichever is first.

    Parameters
    ----------
    rig : rigbook.session.rig.Rig
    duration : float
        Seconds to record (> 0).
    subject_id, task_id : str
        IDs of the session (checked; a bad one is a ValueError naming it).
    root : str or Path, optional
        Storage root (default :func:`rigbook.session.settings.default_storage_root`).
    formats : sequence of str, optional
        Export formats (default: those of ``resources/defaults.json``).
    on_message : callable, optional
        Called with ``(level, text)`` for each message of the session.
    protocol : str, optional
        The protocol to run (default: the rig's first).
    assignments : dict, optional
        ``{"owner/param": value}`` set before recording, with the editors' checks.
    restore : bool
        Start from the rig's last-session settings instead of its defaults.
    if_exists : str
        ``"fail"``, ``"next"`` or ``"replace"`` (see :meth:`Session.start_recording`).

    Returns
    -------
    (SessionResult or None, list of str, Session)
        The saved session, the problems (empty when everything that should
        be on disk is there), and the session (for its parameters).
    """
    duration = float(duration)
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration!r}")
    root = default_storage_root() if root is None else root
    formats = defaults()["session"]["formats"] if formats is None else formats
    session = Session(rig, instance_number=instance_number, restore=restore)
    if on_message is not None:
        session.message.connect(on_message)
        for level, text in session.startup_messages:
            on_message(level, text)
    if assignments:
        session.apply(assignments)
    problems = []
    result = None
    try:
        session.start_sources()
        with _StopRequests() as stop:
            if not _drive(session, lambda: session.sources_ready() or session.all_sources_dead(),
                          SOURCE_START_TIMEOUT_S, stop):
                silent = ", ".join(session.live.silent())
                problems.append(f"no samples from {silent} within {SOURCE_START_TIMEOUT_S:.0f} s")
            if session.all_sources_dead():
                return None, problems + _dead_sources(session), session
            if stop.received:
                problems.append(f"interrupted by {stop.received} before recording started; nothing was recorded")
                return None, problems, session
            session.start_recording(root=root, subject_id=subject_id, task_id=task_id, protocol=protocol,
                                    formats=list(formats), if_exists=if_exists)
            started = time.monotonic()
            _drive(session, lambda: not session.is_recording or session.all_sources_dead()
                   or time.monotonic() - started >= duration, duration + 5.0, stop)
            status = session_status.COMPLETE
            if stop.received:
                status = session_status.INTERRUPTED
                problems.append(f"interrupted by {stop.received} after {time.monotonic() - started:.1f} s "
                                "(what was recorded is saved)")
            elif session.all_sources_dead():
                status = session_status.INTERRUPTED
                problems.extend(_dead_sources(session))
            session.stop_recording(status)  # (nothing to do when the protocol completed it)
            # Saving is not interrupted: a second Ctrl+C only ends it later.
            result = session.save()
    finally:
        session.shutdown()
    if result is None:
        problems.append("the session was not saved")
        return None, problems, session
    problems.extend(f"{what}: {text}" for what, text in result.errors)
    for name, spans in result.lost.items():
        rows = sum(span["rows"] for span in spans)
        problems.append(f"stream {name}: {rows} row(s) lost (spans in metadata.json)")
    for name, outages in result.outages.items():
        for outage in outages:
            problems.append(f"stream {name}: its log could not be written from t = {_seconds(outage['start'])} "
                            f"to {_seconds(outage['end'])} s ({outage['error']})")
    problems.extend(missing_files(result.folder, session.recording.recorder.paths, result.formats))
    return result, problems, session


def _seconds(value):
    return "?" if value is None else f"{value:.1f}"


def _dead_sources(session):
    dead = session.dead_sources()
    if session.all_sources_dead():
        return [f"every source stopped ({', '.join(dead)}): recording ended"]
    return [f"source {name} stopped" for name in dead]
