"""The experiment controller: sources, accumulators, timers, recording, saving.

Data flow (DESIGN.md §2): each source process feeds a NamedTupleQueue; the
drain timer (15 ms) drains every accumulator with a time budget, runs the
estimators and the protocol; a separate plot timer (at most 30 Hz) emits
:attr:`ExperimentController.frame` for the views; while recording, a
recorder timer appends new rows to ``streams/<name>.arrows`` every 0.25 s and
finished repetitions are written as trials. On stop, exports and
metadata.json are written by a background thread with progress.
"""

import datetime
import logging
import math
from collections import namedtuple
import re
import time
from pathlib import Path

import numpy as np
from qtpy import QtCore

from rigbook.app.background import StepsJob
from rigbook.app.session import SessionResult, export_steps, stream_summary
from rigbook.app.sources import SourceProcess, _mp_context
from rigbook.collectors import (
    DataCollector,
    DynamicLog,
    EstimatorLog,
    FramerateQueueAccumulator,
    NamedTupleQueue,
    QueueDataAccumulator,
)
from rigbook.collectors.params import Param, Parametrized
from rigbook.collectors.recording import StreamRecorder
from rigbook import resources, storage
from rigbook.storage import FORMATS, validate_id
from rigbook.widgets.stream_plot import MAX_WINDOW_S

logger = logging.getLogger(__name__)

DRAIN_INTERVAL_MS = 15
PLOT_INTERVAL_MS = 34  # at most 30 Hz (a precise timer: coarse ones fire up to 5 % early)
RECORD_INTERVAL_MS = 250  # new rows reach the stream logs at least every 0.5 s
SOURCE_CHECK_INTERVAL_S = 1.0


class ExperimentController(QtCore.QObject):
    """Wire one rig's sources, accumulators, protocol, estimators and storage.

    Parameters
    ----------
    rig : rigbook.app.rig.Rig
    instance_number : int
        Which config.h5 holds this app's last-session settings.
    drain_interval_ms, plot_interval_ms : int
        Timer intervals; the plot timer is only started when ``live_view``.
    live_view : bool
        False for headless recording: no plot timer.
    start : bool
        Start the sources and timers at once (else call :meth:`start`).

    Signals
    -------
    message(level, text)
        ``"error"``, ``"warning"`` or ``"info"`` for the status bar.
    frame()
        Plot timer tick: views refresh.
    recording_changed(bool)
    saving_progress(done, total, text)
    session_saved(SessionResult)
        The session is complete on disk (or failed: see ``result.errors``).
    params_restored()
        Parameter values were changed by a restore.
    """

    message = QtCore.Signal(str, str)
    frame = QtCore.Signal()
    recording_changed = QtCore.Signal(bool)
    saving_progress = QtCore.Signal(int, int, str)
    session_saved = QtCore.Signal(object)
    params_restored = QtCore.Signal()

    def __init__(self, rig, instance_number=-1, drain_interval_ms=DRAIN_INTERVAL_MS,
                 plot_interval_ms=PLOT_INTERVAL_MS, live_view=True, start=True, parent=None):
        super().__init__(parent)
        self.rig = rig
        self.sources_by_name = {s.name: s for s in rig.sources}
        self.t0 = time.monotonic()
        self.t0_wall = datetime.datetime.now().astimezone()
        self.startup_messages = []
        self.recording = False
        self.saving = False
        self.task_folder = None
        self.last_result = None
        self._job = None
        self._recorder = None
        self._task_writer = None
        self._record_started = None
        self._record_start_t = None
        self._session = None
        self._processes = []
        self._dead_sources = set()
        self._last_source_check = 0.0
        self._shut_down = False
        self._last_tick_error = None

        self.collector = DataCollector(instance_number=instance_number)
        first_start = resources.defaults()["session"]  # what a first start shows; config.h5 then has the user's
        self.session_params = Parametrized(
            name="general/session",
            tree=self.collector,
            params=dict(
                storage_root=Param(str(Path(first_start["storage_root"]).absolute()), desc="storage root"),
                subject_id=Param(first_start["subject_id"], desc="subject ID"),
                task_id=Param(first_start["task_id"], desc="task ID"),
                protocol=Param(next(iter(rig.protocols), ""), desc="protocol"),
                formats=Param(",".join(first_start["formats"]), desc="export formats"),
            ),
        )
        self.metadata_owners = [factory(self.collector) for factory in rig.metadata]
        self.protocols = {name: factory(self.collector) for name, factory in rig.protocols.items()}
        self.protocol = None

        self.queues = {}
        self.accumulators = {}
        for source in rig.sources:
            if source.kind == "framerate":
                # Frame-rate sources send (t, fps) pairs through a plain multiprocessing queue.
                queue = _mp_context().Queue()
                acc = FramerateQueueAccumulator(queue=queue, goal_framerate=source.goal_rate,
                                                name=source.name, t0=self.t0)
            else:
                queue = NamedTupleQueue(context=_mp_context())
                acc = QueueDataAccumulator(queue, name=source.name, monitored_headers=source.monitored_headers,
                                           t0=self.t0, recording=self._is_recording,
                                           max_history_if_not_running=_live_history(source.goal_rate))
            self.queues[source.name] = queue
            self.accumulators[source.name] = acc

        self.estimators = [factory(self.accumulators) for factory in rig.estimators]
        self._estimate_types = {
            est.name: namedtuple(f"{type(est).__name__}Output", est.fields) for est in self.estimators
        }
        self.estimator_logs = {
            est.name: EstimatorLog(name=est.name, t0=self.t0, recording=self._is_recording,
                                   max_history_if_not_running=_live_history(1000 / drain_interval_ms))
            for est in self.estimators
        }
        self.dynamic_logs = {
            name: DynamicLog([protocol], name=f"stimulus_{name}", t0=self.t0, recording=self._is_recording)
            for name, protocol in self.protocols.items()
        }
        self._latest_estimates = {}

        self._restore()

        self.drain_timer = QtCore.QTimer(self)
        self.drain_timer.setInterval(int(drain_interval_ms))
        self.drain_timer.timeout.connect(self.drain)
        self.plot_timer = QtCore.QTimer(self)
        self.plot_timer.setTimerType(QtCore.Qt.PreciseTimer)
        self.plot_timer.setInterval(max(int(plot_interval_ms), PLOT_INTERVAL_MS))
        self.plot_timer.timeout.connect(self.frame)
        self.record_timer = QtCore.QTimer(self)
        self.record_timer.setInterval(RECORD_INTERVAL_MS)
        self.record_timer.timeout.connect(self._flush_recording)
        self.live_view = live_view
        if start:
            self.start()

    # -- lifecycle ----------------------------------------------------------------------
    def _is_recording(self):
        return self.recording

    def start(self):
        """Start the source processes and the timers."""
        for source in self.rig.sources:
            process = SourceProcess(source.name, source.target, self.queues[source.name], source.options)
            process.start()
            self._processes.append(process)
        self.drain_timer.start()
        if self.live_view:
            self.plot_timer.start()

    def shutdown(self, timeout=10.0):
        """Stop timers and sources, save the settings for the next start.

        A recording still running is stopped and saved first (this waits for
        the background save, up to ``timeout`` seconds per step).
        """
        if self._shut_down:
            return
        if self.recording:
            self.stop_recording()
        job = self._job
        if job is not None:
            job.wait(int(timeout * 1000 * 10))
            QtCore.QCoreApplication.processEvents()
            if self.saving:
                self._finish_save(job.results, job.errors)
            self._job = None
        self._shut_down = True
        self.drain_timer.stop()
        self.plot_timer.stop()
        self.record_timer.stop()
        for process in self._processes:
            process.request_stop()
        for process in self._processes:
            process.stop(drain=self._discard_queued)
        for acc in self.accumulators.values():
            close = getattr(acc, "close", None)
            if close is not None:
                close()  # the accumulator's receiving thread
        self.save_settings()

    def _discard_queued(self):
        for acc in self.accumulators.values():
            acc.update_list()
            if acc.n_held > 2 * acc.max_history_if_not_running:
                acc.trim_data()

    def save_settings(self):
        """Write the current parameter values to config.h5 for the next start."""
        try:
            self.collector.save_config_file()
        except OSError as error:
            self._post("error", f"could not save the settings for the next start: {error}")

    def _restore(self):
        try:
            report = self.collector.restore_from_saved()
        except OSError as error:
            self.startup_messages.append(("error", f"last session's settings could not be read: {error}"))
            return
        for level, text in _describe_restore(report):
            self.startup_messages.append((level, text))
            logger.log(logging.WARNING if level != "info" else logging.INFO, "%s", text)
        # The settings may come from another rig (its own protocols, or none): use this rig's first.
        restored = self.session_params.protocol
        if self.protocols and restored not in self.protocols:
            first = next(iter(self.protocols))
            self.session_params.protocol = first
            text = (f"not restored: general/session/protocol: {restored!r} is not a protocol of this rig; "
                    f"{first!r} is used")
            self.startup_messages.append(("warning", text))
            logger.warning("%s", text)

    def _post(self, level, text):
        getattr(logger, "error" if level == "error" else "warning" if level == "warning" else "info")("%s", text)
        self.message.emit(level, text)

    # -- what the views show ----------------------------------------------------------------
    def editable_params(self):
        """Parameter owners the window edits: protocols, then general and animal metadata."""
        return [p.params for p in self.protocols.values()] + list(self.metadata_owners)

    @property
    def protocol_owner_name(self):
        protocol = self.protocol or self.protocols.get(self.session_params.protocol)
        return protocol.params.name if protocol else None

    def plotted_accumulators(self):
        """Accumulators shown as live plots: plotted sources, estimator logs, protocol state."""
        plotted = {name: acc for name, acc in self.accumulators.items() if self.sources_by_name[name].plot}
        plotted.update(self.estimator_logs)
        plotted.update({log.name: log for log in self.dynamic_logs.values()})
        return plotted

    def remember_session(self, root, subject_id, task_id, protocol, formats):
        """Keep the session panel's fields for the next start (not validated: nothing is created)."""
        p = self.session_params
        p.storage_root, p.subject_id, p.task_id = str(root), str(subject_id), str(task_id)
        if protocol in self.protocols:
            p.protocol = protocol
        p.formats = ",".join(f for f in formats if f in FORMATS)

    def session_settings(self):
        p = self.session_params
        return dict(root=p.storage_root, subject_id=p.subject_id, task_id=p.task_id,
                    protocol=p.protocol if p.protocol in self.protocols else None,
                    formats=[f for f in p.formats.split(",") if f in FORMATS])

    def silent_sources(self):
        """Names of the sources that have not sent a sample yet."""
        return [name for name, acc in self.accumulators.items() if acc.n_received == 0]

    def sources_ready(self):
        """True once every source has sent at least one sample."""
        for acc in self.accumulators.values():
            acc.update_list()
        return not self.silent_sources()

    @property
    def recorded_streams(self):
        """Names of the streams of the current (or last) recording."""
        return list(getattr(self, "_recorded", {}))

    @property
    def now(self):
        """Seconds since the controller's clock origin ``t0`` (the accumulators' time)."""
        return time.monotonic() - self.t0

    @property
    def elapsed(self):
        return 0.0 if self._record_started is None else time.monotonic() - self._record_started

    def protocol_progress(self):
        """(fraction done, text) of the running protocol."""
        if self.protocol is None or not self.protocol.running:
            return 0.0, "protocol idle"
        t = self.now
        fraction = self.protocol.progress(t)
        remaining = max(self.protocol.duration - self.protocol.elapsed(t), 0.0)
        return fraction, f"{self.protocol.name} %p% · {remaining:.0f} s left"

    # -- drain ------------------------------------------------------------------------------------
    def drain(self):
        """One drain tick: accumulators, estimators, protocol, trials, source health.

        An exception (a user protocol or estimator bug, bad data) is shown to
        the user once and the tick goes on at the next interval: an exception
        escaping a Qt slot would abort the app, and with it the recording.
        """
        try:
            self._drain_tick()
        except Exception as error:  # noqa: BLE001  (reported, never swallowed silently)
            text = f"drain tick failed: {type(error).__name__}: {error}"
            if text != self._last_tick_error:
                self._last_tick_error = text
                logger.exception("drain tick failed")
                self.message.emit("error", text)

    def _drain_tick(self):
        self._drain_accumulators()
        t_mono = time.monotonic()
        t = t_mono - self.t0
        estimates = {}
        for estimator in self.estimators:
            values = estimator.estimate(t)
            estimates.update(values)
            output = self._estimate_types[estimator.name](*(float(values[f]) for f in estimator.fields))
            if not all(math.isnan(v) for v in output):  # nothing to estimate from yet: no row
                self.estimator_logs[estimator.name].update_list(t_mono, output)
        self._latest_estimates = estimates
        if self.recording and self.protocol is not None and self.protocol.running:
            state = self.protocol.update(t, estimates)
            self.dynamic_logs[self.protocol.name].update_list(t_mono, state)
            for attrs in self.protocol.completed_trials(t):
                self._write_trial(attrs)
            if self.protocol.finished(t):
                self._post("info", f"protocol {self.protocol.name} finished")
                self.stop_recording()
        if t - self._last_source_check > SOURCE_CHECK_INTERVAL_S:
            self._last_source_check = t
            self._check_sources()

    def _drain_accumulators(self):
        for acc in self.accumulators.values():
            acc.update_list()

    def _check_sources(self):
        for process in self._processes:
            if process.name not in self._dead_sources and not process.alive and not self._shut_down:
                self._dead_sources.add(process.name)
                self._post("error", f"source {process.name} stopped (exit code {process.exitcode})")

    # -- recording --------------------------------------------------------------------------------
    def start_recording(self, root=None, subject_id=None, task_id=None, protocol=None, formats=None):
        """Start recording a session into ``<root>/<subject_id>/<task_id>``.

        Raises
        ------
        ValueError
            Bad IDs, unknown protocol or format, a task that already exists.
        RuntimeError
            Already recording or still saving the previous session.
        """
        if self.recording or self.saving:
            raise RuntimeError("already recording or saving; stop and wait for the save first")
        p = self.session_params
        root = str(root if root is not None else p.storage_root).strip()
        subject_id = validate_id(subject_id if subject_id is not None else p.subject_id, "subject")
        task_id = validate_id(task_id if task_id is not None else p.task_id, "task")
        protocol = protocol if protocol is not None else p.protocol
        if not self.protocols:
            protocol = ""  # a rig without protocols records until it is stopped
        elif protocol not in self.protocols:
            raise ValueError(f"unknown protocol {protocol!r}; protocols are {', '.join(self.protocols)}")
        formats = list(formats) if formats is not None else [f for f in p.formats.split(",") if f]
        for fmt in formats:
            if fmt not in FORMATS:
                raise ValueError(f"unknown export format {fmt!r}; formats are {', '.join(FORMATS)}")
        if not root:
            raise ValueError("no storage root given")

        store = storage.Storage(root, allow_overwrite=False)
        store.subject_id = subject_id
        task_writer = store.create_task(task_id)

        p.storage_root, p.subject_id, p.task_id = root, subject_id, task_id
        p.protocol, p.formats = protocol, ",".join(formats)
        self._session = dict(root=root, subject_id=subject_id, task_id=task_id, protocol=protocol,
                             formats=formats)
        self._task_writer = task_writer
        self.task_folder = Path(task_writer.root)
        self.collector.new_session(t0=self.t0)
        self.protocol = self.protocols.get(protocol)
        self.recording = True
        streams = dict(self.accumulators)
        streams.update(self.estimator_logs)
        if self.protocol is not None:
            streams[self.dynamic_logs[protocol].name] = self.dynamic_logs[protocol]
        self._recorded = streams
        for acc in streams.values():
            # The session starts now: what the live view held before is not part of it.
            acc.reset()
        self._counts_at_start = {name: (acc.dropped, acc.flagged) for name, acc in streams.items()}
        self._recorder = StreamRecorder(streams, self.task_folder)
        self._record_started = time.monotonic()
        self._record_start_t = self.now
        self._record_start_wall = datetime.datetime.now().astimezone()
        if self.protocol is not None:
            self.protocol.start(self._record_start_t)
        self.record_timer.start()
        self._post("info", f"recording {protocol or 'without a protocol'} into {self.task_folder}")
        self.recording_changed.emit(True)
        return self.task_folder

    def _flush_recording(self):
        if self._recorder is None:
            return
        try:
            self._recorder.poll()
        except OSError as error:
            self._post("error", f"writing the stream logs failed: {error}")

    def _write_trial(self, attrs):
        trial = storage.Trial(attrs)
        tracker = self._trial_source()
        if tracker is not None:
            # The samples of the repetition, rows t then the fields (channels x samples).
            data = tracker.get_last_t(max(self.now - attrs["t_start"], 0.0))
            data = data[(data[:, 0] >= attrs["t_start"]) & (data[:, 0] < attrs["t_end"])]
            name = f"trial_{tracker.name}"
            trial.add_array(name, stack_axis=1)
            trial.arrays[name].stack(np.ascontiguousarray(data.T))
        try:
            self._task_writer.write(trial)
        except (OSError, ValueError) as error:
            self._post("error", f"writing trial {attrs.get('repetition')} failed: {error}")

    def _trial_source(self):
        for name, acc in self.accumulators.items():
            if self.sources_by_name[name].kind == "stream":
                return acc
        return None

    def stop_recording(self):
        """Stop recording; exports and metadata are written in the background.

        :attr:`session_saved` is emitted when the session is complete on disk.
        """
        if not self.recording:
            return
        t_stop = self.now
        self._drain_accumulators()  # collect what the sources sent until now
        if self.protocol is not None:
            for attrs in self.protocol.completed_trials(t_stop):
                self._write_trial(attrs)
            self.protocol.stop()
        self.recording = False
        self.record_timer.stop()
        recorder, self._recorder = self._recorder, None
        errors = []
        try:
            recorder.close()
        except OSError as error:
            errors.append(("stream logs", str(error)))
        try:
            self._task_writer.close()
        except (OSError, ValueError) as error:
            errors.append(("trials", str(error)))
        self.collector.end_session()
        duration = time.monotonic() - self._record_started
        session = dict(self._session)
        session.update(duration=duration, started=self._record_start_wall, t_start=self._record_start_t,
                       t_stop=t_stop, folder=self.task_folder)
        self._add_session_metadata(session)
        steps = export_steps(self.task_folder, list(self._recorded), session["formats"])
        steps.append(("metadata.json", lambda: self.collector.save(self.task_folder)))
        self.saving = True
        self._pre_save_errors = errors
        self._saved_session = session
        self.recording_changed.emit(False)
        self._job = StepsJob(steps)
        self._job.progress.connect(self.saving_progress)
        self._job.done.connect(self._finish_save)
        # `done` arrives while the thread is still returning from run(); the
        # QThread object must outlive that, so it is released on `finished`.
        self._job.finished.connect(self._job_finished)
        self._job.start()

    def _job_finished(self):
        job, self._job = self._job, None
        if job is not None:
            job.wait()
            job.deleteLater()

    def _add_session_metadata(self, session):
        c = self.collector
        c.add_static_data(self.rig.name, "general/rig")
        c.add_static_data(session["subject_id"], "general/subject_id")
        c.add_static_data(session["task_id"], "general/task_id")
        if session["protocol"]:
            c.add_static_data(session["protocol"], "stimulus/protocol_name")
        c.add_static_data(session["started"], "general/recording_started")
        c.add_static_data(round(session["duration"], 3), "general/recording_duration_s")
        c.add_static_data(session["t_start"], "general/recording_t_start")
        for name, acc in self._recorded.items():
            source = self.sources_by_name.get(name)
            category = source.category if source else ("stimulus" if name.startswith("stimulus") else "behavior")
            dropped, flagged = self._counts_at_start.get(name, (0, 0))
            summary = stream_summary(acc, source, dropped_before=dropped, flagged_before=flagged)
            c.add_static_data(summary, f"{category}/streams/{name}")

    def _finish_save(self, results, errors):
        if not self.saving:
            return
        self.saving = False
        errors = list(self._pre_save_errors) + list(errors)
        session = self._saved_session
        result = SessionResult(folder=Path(session["folder"]), subject_id=session["subject_id"],
                               task_id=session["task_id"], duration=session["duration"],
                               formats=list(session["formats"]),
                               files=[r for _, r in results if r], errors=errors)
        self.last_result = result
        self.save_settings()
        if errors:
            for what, text in errors:
                self._post("error", f"saving {what} failed: {text}")
        else:
            self._post("info", f"session saved in {result.folder}")
        self.session_saved.emit(result)

    @staticmethod
    def suggest_next_task_id(task_id):
        """``session-1`` -> ``session-2``; anything else gets ``-2`` appended."""
        match = re.fullmatch(r"(.*?)(\d+)", task_id)
        if match:
            return f"{match.group(1)}{int(match.group(2)) + 1}"
        return f"{task_id}-2"


def _live_history(rate):
    """Samples to keep while not recording: the longest plot window at ``rate`` Hz, with margin."""
    return max(1000, int((MAX_WINDOW_S + 2) * float(rate or 1000.0)))


def _describe_restore(report):
    """Turn a DataCollector RestoreReport into (level, text) messages for the user."""
    if report is None:
        return []
    messages = []
    if report.problem:
        messages.append(("error", report.problem))
    for item in report.clamped:
        messages.append(("warning", f"{item.path}: saved value {item.saved!r} is outside the limits "
                                    f"{item.limits!r}; restored as {item.applied!r}"))
    for item in report.skipped:
        level = "info" if item.reason == "unknown path" else "warning"
        detail = item.detail or item.reason
        messages.append((level, f"not restored: {item.path} ({item.reason}): {detail}"))
    messages.append(("info", report.summary()))
    return messages
