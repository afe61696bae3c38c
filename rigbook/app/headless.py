"""Record a rig without a window: the same controller, driven by a Qt event loop without GUI."""

import datetime
import logging
import signal
import time
from pathlib import Path

from qtpy import QtCore

from rigbook.app.controller import ExperimentController
from rigbook.app.session import stream_log_path
from rigbook.resources import defaults

logger = logging.getLogger(__name__)

#: How long the sources get to send their first sample before recording starts anyway.
SOURCE_START_TIMEOUT_S = 30.0


def default_task_id():
    """A task ID from the current time, e.g. ``session-20260121-101500``."""
    return datetime.datetime.now().strftime("session-%Y%m%d-%H%M%S")


def _run_until(condition, timeout_s):
    """Process Qt events until ``condition()`` is true or ``timeout_s`` passed; return it."""
    loop = QtCore.QEventLoop()
    deadline = time.monotonic() + timeout_s
    poll = QtCore.QTimer()
    poll.setInterval(20)

    def check():
        if condition() or time.monotonic() > deadline:
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    if not condition():
        loop.exec_()
    poll.stop()
    return condition()


def record(rig, duration, subject_id, task_id, root=None, formats=None,
           instance_number=-1, on_message=None):
    """Run ``rig`` headless for ``duration`` seconds and save the session.

    Recording starts once every source has sent its first sample (so the
    session holds ``duration`` seconds of data from every source), and stops
    after ``duration`` seconds or when the protocol ends, whichever is first.

    Parameters
    ----------
    rig : rigbook.app.rig.Rig
    duration : float
        Seconds to record (> 0).
    subject_id, task_id : str
        IDs of the session (checked; a bad one is a ValueError naming it).
    root : str or Path, optional
        Storage root (default: the first-start one of ``resources/defaults.json``, ``data``).
    formats : sequence of str, optional
        Export formats (default: those of ``resources/defaults.json``, csv and feather).
    on_message : callable, optional
        Called with ``(level, text)`` for each message of the controller.

    Returns
    -------
    (SessionResult, list of str)
        The saved session and a list of problems (empty when everything
        that should be on disk is there).
    """
    duration = float(duration)
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration!r}")
    first_start = defaults()["session"]
    root = first_start["storage_root"] if root is None else root
    formats = first_start["formats"] if formats is None else formats
    app = QtCore.QCoreApplication.instance() or QtCore.QCoreApplication(["rigbook"])
    assert app is not None
    controller = ExperimentController(rig, instance_number=instance_number, live_view=False)
    if on_message is not None:
        controller.message.connect(on_message)
        for level, text in controller.startup_messages:
            on_message(level, text)
    problems = []
    result = None
    try:
        if not _run_until(controller.sources_ready, SOURCE_START_TIMEOUT_S):
            silent = ", ".join(controller.silent_sources())
            problems.append(f"no samples from {silent} within {SOURCE_START_TIMEOUT_S:.0f} s")
        controller.start_recording(root=str(root), subject_id=subject_id, task_id=task_id,
                                   formats=list(formats))
        started = time.monotonic()
        interrupted = []
        # Ctrl+C ends the recording early, and it is saved like any other.
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
        try:
            _run_until(lambda: interrupted or not controller.recording or time.monotonic() - started >= duration,
                       duration + 5.0)
        finally:
            signal.signal(signal.SIGINT, previous)
        if interrupted:
            problems.append(f"interrupted after {time.monotonic() - started:.1f} s (what was recorded is saved)")
        controller.stop_recording()
        _run_until(lambda: controller.last_result is not None and not controller.saving, 600.0)
        result = controller.last_result
    finally:
        controller.shutdown()
    if result is None:
        problems.append("the session was not saved")
        return None, problems
    problems.extend(f"{what}: {text}" for what, text in result.errors)
    problems.extend(check_session(result.folder, controller.recorded_streams, result.formats))
    return result, problems


def check_session(folder, streams, formats):
    """Problems with a saved session folder: missing metadata, stream logs or exports."""
    folder = Path(folder)
    problems = []
    if not (folder / "metadata.json").is_file():
        problems.append(f"{folder / 'metadata.json'} is missing")
    for name in streams:
        log_path = stream_log_path(folder, name)
        if not log_path.is_file():
            problems.append(f"stream log {log_path} is missing")
        for fmt in formats:
            from rigbook.storage.tables import format_path

            export = format_path(folder / name, fmt)
            if not export.is_file():
                problems.append(f"export {export} is missing")
    return problems
