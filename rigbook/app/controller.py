"""The Qt shell of a session: timers that drive it, its signals as Qt signals, saving off the GUI thread.

The session itself (:class:`rigbook.session.Session`) knows nothing of Qt:
the drain timer (15 ms) calls :meth:`Session.drain`, the record timer
(250 ms) :meth:`Session.poll_recording`, and the plot timer (at most 30 Hz)
emits :attr:`SessionController.frame` for the views. When a recording
stops, its save steps run in a :class:`~rigbook.app.background.StepsJob`.
"""

import logging

from qtpy import QtCore

from rigbook.app.background import StepsJob
from rigbook.collectors.warmup import warm_up
from rigbook.session import Session

logger = logging.getLogger(__name__)

DRAIN_INTERVAL_MS = 15
PLOT_INTERVAL_MS = 34  # at most 30 Hz (a precise timer: coarse ones fire up to 5 % early)
RECORD_INTERVAL_MS = 250  # new rows reach the stream logs at least every 0.5 s


class SessionController(QtCore.QObject):
    """Drive a :class:`~rigbook.session.Session` with Qt timers and bridge its signals to Qt.

    Parameters
    ----------
    rig : rigbook.session.Rig
    instance_number : int
        Which of the rig's config files holds its last-session settings.
    live_view : bool
        False: no plot timer (nothing is shown).
    start : bool
        Start the sources and timers at once (else call :meth:`start`).

    Signals
    -------
    message(level, text), recording_changed(bool), saving_progress(done, total, text),
    session_saved(SessionResult), params_restored(), trial_written(dict)
        The session's, delivered in the GUI thread.
    frame()
        Plot timer tick: views refresh.
    """

    message = QtCore.Signal(str, str)
    frame = QtCore.Signal()
    recording_changed = QtCore.Signal(bool)
    saving_progress = QtCore.Signal(int, int, str)
    session_saved = QtCore.Signal(object)
    params_restored = QtCore.Signal()
    trial_written = QtCore.Signal(object)

    def __init__(self, rig, instance_number=-1, drain_interval_ms=DRAIN_INTERVAL_MS,
                 plot_interval_ms=PLOT_INTERVAL_MS, live_view=True, start=True, parent=None):
        super().__init__(parent)
        # What the first recording needs (imports, first-time setup) is done now, not on its first timer tick.
        warm_up()
        self.session = Session(rig, instance_number=instance_number, drain_interval_s=drain_interval_ms / 1000)
        self.rig = rig
        self._job = None
        self._shut_down = False
        session = self.session
        session.message.connect(self.message.emit)
        session.recording_changed.connect(self.recording_changed.emit)
        session.saving_progress.connect(self.saving_progress.emit)
        session.saved.connect(self.session_saved.emit)
        session.params_restored.connect(self.params_restored.emit)
        session.trial_written.connect(self.trial_written.emit)

        self.drain_timer = self._timer(drain_interval_ms, session.drain)
        self.plot_timer = self._timer(max(int(plot_interval_ms), PLOT_INTERVAL_MS), self.frame.emit)
        self.plot_timer.setTimerType(QtCore.Qt.PreciseTimer)
        self.record_timer = self._timer(RECORD_INTERVAL_MS, session.poll_recording)
        self.live_view = live_view
        self.recording_changed.connect(self._recording_changed)
        if start:
            self.start()

    def _timer(self, interval_ms, slot):
        timer = QtCore.QTimer(self)
        timer.setInterval(int(interval_ms))
        timer.timeout.connect(slot)
        return timer

    # -- what the views read (the session's) ----------------------------------------------------
    @property
    def recording(self):
        return self.session.is_recording

    @property
    def saving(self):
        return self.session.saving

    @property
    def last_result(self):
        return self.session.last_result

    @property
    def task_folder(self):
        return self.session.task_folder

    @property
    def accumulators(self):
        return self.session.accumulators

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self):
        """Start the sources and the timers."""
        self.session.start_sources()
        self.drain_timer.start()
        if self.live_view:
            self.plot_timer.start()

    def start_recording(self, **options):
        """:meth:`Session.start_recording` (same arguments and errors)."""
        return self.session.start_recording(**options)

    def _recording_changed(self, recording):
        if recording:
            self.record_timer.start()
            return
        self.record_timer.stop()
        steps = self.session.take_save_steps()  # (stopped by the user, the window, or its protocol's end)
        if steps is None:
            return
        self._job = StepsJob(steps)
        self._job.progress.connect(self.saving_progress)
        self._job.done.connect(self.session.finish_save)
        # `done` arrives while the thread is still returning from run(); the
        # QThread object must outlive that, so it is released on `finished`.
        self._job.finished.connect(self._job_finished)
        self._job.start()

    def stop_recording(self, status="complete"):
        """Stop recording; exports and metadata.json are written in the background.

        :attr:`session_saved` is emitted when the session is complete on disk.
        """
        self.session.stop_recording(status)

    def _job_finished(self):
        job, self._job = self._job, None
        if job is not None:
            job.wait()
            job.deleteLater()

    def shutdown(self, timeout=10.0):
        """Stop timers and sources and save the settings; a recording still running is saved first."""
        if self._shut_down:
            return
        if self.recording:
            self.stop_recording("interrupted")
        job = self._job
        if job is not None:
            job.wait(int(timeout * 1000 * 10))
            QtCore.QCoreApplication.processEvents()
            if self.session.saving:
                self.session.finish_save(job.results, job.errors)
            self._job = None
        self._shut_down = True
        for timer in (self.drain_timer, self.plot_timer, self.record_timer):
            timer.stop()
        self.session.shutdown()
