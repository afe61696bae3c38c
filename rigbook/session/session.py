"""The session of one rig, without Qt: sources, live streams, protocol, recordings, settings.

A :class:`Session` is driven from outside: the window's timers (``rigbook``)
or a plain loop (``rigbook record``) call :meth:`Session.drain` every 10-20 ms
and :meth:`Session.poll_recording` at least every 0.5 s. What happens is
announced with psygnal signals, which Qt slots and plain functions alike can
connect to.
"""

import logging
import time

from psygnal import Signal

from rigbook import storage
from rigbook.session import settings as session_settings
from rigbook.session import status as session_status
from rigbook.session.metadata import general_metadata
from rigbook.session.recording import Recording
from rigbook.session.sources import start_source
from rigbook.session.streams import LiveStreams
from rigbook.session.taskids import next_free_task_id
from rigbook.storage import validate_id

logger = logging.getLogger(__name__)

#: How often the source processes are checked, in seconds.
SOURCE_CHECK_INTERVAL_S = 1.0

#: What to do when the task folder exists: refuse, take the next free ID, or move the old task aside.
IF_EXISTS = ("fail", "next", "replace")


class Session:
    """One rig's session (see the module's notes).

    Parameters
    ----------
    rig : rigbook.session.rig.Rig
    instance_number : int
        Which of the rig's config files holds its last-session settings.
    restore : bool
        Restore the rig's last-session settings (the window does; ``rigbook
        record`` only with ``--restore``).
    drain_interval_s : float
        How often :meth:`drain` will be called.
    config_folder : str or Path, optional
        Base folder of the config files (default: the user config folder).
    keep_settings : bool
        Save the settings to the rig's config.h5 after each recording and at
        shutdown, for the next start (default: the same as ``restore``, so a
        session that starts from the rig's defaults leaves the saved ones alone).

    Signals
    -------
    message(level, text)
        ``"error"``, ``"warning"`` or ``"info"``.
    recording_changed(bool)
    trial_written(dict)
        The attributes of a trial now on disk.
    saving_progress(done, total, text)
    saved(SessionResult)
        The session is on disk (see ``result.errors``, ``result.lost``).
    params_restored()
    """

    message = Signal(str, str)
    recording_changed = Signal(bool)
    trial_written = Signal(dict)
    saving_progress = Signal(int, int, str)
    saved = Signal(object)
    params_restored = Signal()

    def __init__(self, rig, instance_number=-1, restore=True, drain_interval_s=0.015, config_folder=None,
                 keep_settings=None):
        self.rig = rig
        self.keep_settings = restore if keep_settings is None else bool(keep_settings)
        self.startup_messages = []
        self.collector = session_settings.make_collector(rig, instance_number, config_folder)
        if rig.script:
            self.collector.set_experiment_code(rig.script)
        self.session_params = session_settings.session_params(self.collector, rig)
        factories = list(rig.metadata)
        self.metadata_owners = [factory(self.collector) for factory in factories]
        if not any(owner.name.startswith("general/") for owner in self.metadata_owners):
            self.metadata_owners.insert(0, general_metadata(self.collector))
        self.protocols = {name: factory(self.collector) for name, factory in rig.protocols.items()}
        self.live = LiveStreams(rig, self.protocols, recording=self._is_recording,
                                drain_interval_s=drain_interval_s)
        self.recording = None
        self._save_steps = None
        self.protocol_finished = False  # the last recording ended because its protocol completed
        self.last_result = None
        self.saving = False
        self._runners = []
        self._dead = set()
        self._last_source_check = 0.0
        self._last_tick_error = None
        self._shut_down = False
        if restore:
            self._restore()
        self._propose_free_task_id()

    # -- settings -----------------------------------------------------------------------
    def _restore(self):
        try:
            report = self.collector.restore_from_saved()
        except OSError as error:
            self.startup_messages.append(("error", f"last session's settings could not be read: {error}"))
            return
        for level, text in session_settings.describe_restore(report):
            self.startup_messages.append((level, text))
            logger.log(logging.WARNING if level != "info" else logging.INFO, "%s", text)
        restored = self.session_params.protocol
        if self.protocols and restored not in self.protocols:
            first = next(iter(self.protocols))
            self.session_params.protocol = first
            text = (f"not restored: general/session/protocol: {restored!r} is not a protocol of this rig; "
                    f"{first!r} is used")
            self.startup_messages.append(("warning", text))
            logger.warning("%s", text)

    def _propose_free_task_id(self):
        """The restored task ID was recorded already (last time's): propose the next free one."""
        p = self.session_params
        try:
            free = self.next_free_task_id()
        except (ValueError, OSError):
            return  # a bad restored value: the user sees it in the panel and the error at Record
        if free != p.task_id:
            self.startup_messages.append(("info", f"task {p.task_id} exists already; the next free task ID, "
                                                  f"{free}, is proposed"))
            p.task_id = free

    def save_settings(self):
        """Write the current parameter values to the rig's config.h5 for the next start (if ``keep_settings``)."""
        if not self.keep_settings:
            return
        try:
            self.collector.save_config_file()
        except OSError as error:
            self.post("error", f"could not save the settings for the next start: {error}")

    def settings(self):
        """The session panel's values: root (absolute), subject, task, protocol, formats."""
        p = self.session_params
        try:
            root = str(session_settings.absolute_root(p.storage_root))
        except ValueError:
            root = str(session_settings.default_storage_root())
        return dict(root=root, subject_id=p.subject_id, task_id=p.task_id,
                    protocol=p.protocol if p.protocol in self.protocols else None,
                    formats=[f for f in p.formats.split(",") if f in storage.FORMATS])

    def remember(self, root, subject_id, task_id, protocol, formats):
        """Keep the session panel's fields for the next start (not validated: nothing is created)."""
        p = self.session_params
        p.storage_root, p.subject_id, p.task_id = str(root), str(subject_id), str(task_id)
        if protocol in self.protocols:
            p.protocol = protocol
        p.formats = ",".join(f for f in formats if f in storage.FORMATS)

    def editable_params(self):
        """Parameter owners the window edits: protocols, then general and animal metadata."""
        return [p.params for p in self.protocols.values()] + list(self.metadata_owners)

    def parameter_values(self):
        """``{"owner/param": value}`` of the protocols and metadata editors."""
        values = {}
        for owner in self.editable_params():
            for name, value in owner.params.values.items():
                values[f"{owner.name}/{name}"] = value
        return values

    def apply(self, assignments, source="--set"):
        """Set parameters by path with the editors' checks (see :func:`settings.apply_settings`)."""
        return session_settings.apply_settings(self.collector, assignments, source)

    # -- messages -------------------------------------------------------------------------
    def post(self, level, text):
        log = logger.error if level == "error" else logger.warning if level == "warning" else logger.info
        log("%s", text)
        self.message.emit(level, text)

    # -- sources ----------------------------------------------------------------------------
    def start_sources(self):
        """Start every source in its own process (or thread)."""
        for source in self.rig.sources:
            self._runners.append(start_source(source, self.live.queues[source.name]))

    @property
    def accumulators(self):
        return self.live.accumulators

    def sources_ready(self):
        """True once every source has sent at least one sample (as drained so far: :meth:`drain` takes them)."""
        return not self.live.silent()

    def dead_sources(self):
        """Names of the sources whose process (or thread) has ended."""
        return sorted(self._dead)

    def all_sources_dead(self):
        return bool(self._runners) and len(self._dead) == len(self._runners)

    def _check_sources(self):
        for runner in self._runners:
            if runner.name in self._dead or runner.alive or self._shut_down:
                continue
            self._dead.add(runner.name)
            error = runner.last_error()
            detail = f": {error}" if error else ""
            self.post("error", f"source {runner.name} stopped (exit code {runner.exitcode}){detail}")

    # -- the drain step -----------------------------------------------------------------------
    def drain(self):
        """One drain step: accumulators, estimators, protocol, trials, source health.

        An exception (a user protocol or estimator bug, bad data) is told to
        the user once and the next step goes on: an exception escaping a
        timer's slot would abort the app, and with it the recording.
        """
        try:
            self._drain()
        except Exception as error:  # noqa: BLE001  (reported, never swallowed silently)
            text = f"drain tick failed: {type(error).__name__}: {error}"
            if text != self._last_tick_error:
                self._last_tick_error = text
                logger.exception("drain tick failed")
                self.message.emit("error", text)

    def _drain(self):
        self.live.drain()
        now = time.monotonic()
        estimates = self.live.estimate(now)
        recording = self.recording
        if recording is not None and not recording.stopped and recording.tick(now, estimates):
            self.post("info", f"protocol {recording.protocol_name} finished")
            self.protocol_finished = True
            self.stop_recording()
        if now - self._last_source_check > SOURCE_CHECK_INTERVAL_S:
            self._last_source_check = now
            self._check_sources()

    def poll_recording(self):
        """Append new rows to the stream logs (call at least every 0.5 s while recording)."""
        if self.recording is not None and not self.recording.stopped:
            self.recording.poll()

    # -- recording ------------------------------------------------------------------------------
    @property
    def is_recording(self):
        return self.recording is not None and not self.recording.stopped

    def _is_recording(self):
        return self.is_recording

    @property
    def task_folder(self):
        return None if self.recording is None else self.recording.folder

    def protocol_progress(self):
        """(fraction done, text) of the running protocol; 1.0 once it completed."""
        recording = self.recording
        if recording is None or recording.protocol is None:
            return 0.0, "protocol idle"
        if recording.stopped:
            if self.protocol_finished:
                return 1.0, f"{recording.protocol_name} complete"
            return 0.0, "protocol idle"
        protocol = recording.protocol
        t = recording.elapsed
        remaining = max(protocol.duration - protocol.elapsed(t), 0.0)
        return protocol.progress(t), f"{protocol.name} %p% · {remaining:.0f} s left"

    def next_free_task_id(self, root=None, subject_id=None, task_id=None):
        """The task ID a recording would get with ``if_exists="next"``."""
        p = self.session_params
        root = session_settings.absolute_root(root if root is not None else p.storage_root)
        subject_id = validate_id(subject_id if subject_id is not None else p.subject_id, "subject ID")
        return next_free_task_id(root, subject_id, task_id if task_id is not None else p.task_id)

    def start_recording(self, root=None, subject_id=None, task_id=None, protocol=None, formats=None,
                        if_exists="fail"):
        """Start recording into ``<root>/<subject_id>/<task_id>``; return the task folder.

        Parameters
        ----------
        if_exists : str
            When the task folder exists: ``"fail"`` (FileExistsError),
            ``"next"`` (record under the next free task ID) or ``"replace"``
            (the old task is moved into ``<root>/.replaced/``, never deleted).

        Raises
        ------
        ValueError
            A bad ID, an unknown protocol or format, no storage root.
        FileExistsError
            The task exists and ``if_exists`` is ``"fail"``.
        RuntimeError
            Already recording, or still saving the previous session.
        """
        if self.is_recording or self.saving:
            raise RuntimeError("already recording or saving; stop and wait for the save first")
        if if_exists not in IF_EXISTS:
            raise ValueError(f"if_exists must be one of {', '.join(IF_EXISTS)}, not {if_exists!r}")
        p = self.session_params
        root = session_settings.absolute_root(root if root is not None else p.storage_root)
        subject_id = validate_id(subject_id if subject_id is not None else p.subject_id, "subject ID")
        task_id = validate_id(task_id if task_id is not None else p.task_id, "task ID")
        protocol = protocol if protocol is not None else p.protocol
        if not self.protocols:
            protocol = ""  # a rig without protocols records until it is stopped
        elif protocol not in self.protocols:
            raise ValueError(f"unknown protocol {protocol!r}; protocols are {', '.join(self.protocols)}")
        formats = session_settings.check_formats(formats if formats is not None else p.formats.split(","))

        if (root / subject_id / task_id).exists():
            if if_exists == "fail":
                raise FileExistsError(f"task {task_id!r} of subject {subject_id!r} already exists in {root}; "
                                      f"the next free task ID is {next_free_task_id(root, subject_id, task_id)!r}")
            if if_exists == "next":
                task_id = next_free_task_id(root, subject_id, task_id)
        store = storage.Storage(root, allow_overwrite=(if_exists == "replace"))
        store.subject_id = subject_id
        task_writer = store.create_task(task_id)

        p.storage_root, p.subject_id, p.task_id = str(root), subject_id, task_id
        p.protocol, p.formats = protocol, ",".join(formats)
        self.protocol_finished = False
        self.recording = Recording(self, task_writer, subject_id, task_id, protocol, formats)
        self.post("info", f"recording {protocol or 'without a protocol'} into {self.recording.folder}")
        self.recording_changed.emit(True)
        return self.recording.folder

    def stop_recording(self, status=session_status.COMPLETE):
        """Stop recording (does nothing when not recording); its save steps wait in :meth:`take_save_steps`.

        The steps ``[(description, function)]`` write the exports and the
        final metadata.json. The driver runs them (the window in a
        background thread, on ``recording_changed(False)``; ``record`` at
        once) and hands their outcome to :meth:`finish_save`, or calls
        :meth:`save`, which does both in the calling thread. A recording
        also stops by itself when its protocol completes.
        """
        if not self.is_recording:
            return
        self._save_steps = self.recording.stop(status)
        self.saving = True
        self.recording_changed.emit(False)

    def take_save_steps(self):
        """The save steps of the recording that stopped last (once; None when there are none)."""
        steps, self._save_steps = self._save_steps, None
        return steps

    def save(self, steps=None):
        """Run the save steps (default: :meth:`take_save_steps`) here, telling the progress.

        Returns the :class:`SessionResult` (None when there was nothing to save).
        """
        steps = self.take_save_steps() if steps is None else steps
        if steps is None:
            return None
        results, errors = [], []
        total = len(steps)
        for index, (description, function) in enumerate(steps):
            self.saving_progress.emit(index, total, description)
            try:
                results.append((description, function()))
            except Exception as error:  # noqa: BLE001  (reported to the user, never swallowed)
                logger.exception("%s failed", description)
                errors.append((description, f"{type(error).__name__}: {error}"))
        self.saving_progress.emit(total, total, "done")
        return self.finish_save(results, errors)

    def finish_save(self, results, errors):
        """Turn the save steps' outcome into the :class:`SessionResult`; tell it; save the settings."""
        if not self.saving:
            return self.last_result
        self.saving = False
        result = self.recording.result(results, errors)
        self.last_result = result
        self.save_settings()
        for what, text in result.errors:
            self.post("error", f"saving {what} failed: {text}")
        if result.rows_lost:
            self.post("error", f"{result.rows_lost} row(s) could not be written; their spans are in metadata.json")
        if not result.errors:
            self.post("info", f"session saved in {result.folder}")
        self.saved.emit(result)
        return result

    # -- end ------------------------------------------------------------------------------------
    def shutdown(self, status=session_status.INTERRUPTED):
        """Stop the sources and save the settings; a recording still running is saved first."""
        if self._shut_down:
            return
        self.stop_recording(status)
        self.save()
        self._shut_down = True
        for runner in self._runners:
            runner.request_stop()
        for runner in self._runners:
            runner.stop(drain=self.live.discard_queued)
        self.live.close()
        self.save_settings()
