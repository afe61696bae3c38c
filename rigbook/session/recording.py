"""One recording, from start to the save plan: task folder, stream logs, trials, metadata.

:class:`Recording` is created by :meth:`rigbook.session.Session.start_recording`.
When it starts, time zero of every recorded stream becomes the recording's
start, and metadata.json is written with status ``"recording"`` and
everything known then (rig, rig script and its hash, subject, task,
protocol, parameters, time origin, wall-clock start, export formats), so a
killed recording can be finished later. :meth:`Recording.stop` closes the
logs and trials and returns the steps that write the exports and the final
metadata.json; :meth:`Recording.result` turns their outcome into a
:class:`~rigbook.session.exports.SessionResult`.
"""

import datetime
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from rigbook import storage
from rigbook.collectors.recording import StreamRecorder
from rigbook.session import status as session_status
from rigbook.session.exports import SessionResult, save_steps, stream_summary

logger = logging.getLogger(__name__)

#: How often a trial that could not be written is tried again, in seconds.
TRIAL_RETRY_S = 1.0


def file_digest(path):
    """``{"path", "sha256"}`` of a file (the rig script), or None when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except (OSError, TypeError):
        return None
    return {"path": str(Path(path).resolve()), "sha256": hashlib.sha256(data).hexdigest()}


class Recording:
    """One recording of a session (see the module's notes).

    Parameters
    ----------
    session : rigbook.session.Session
        Owner: rig, collector, live streams, protocols, messages.
    task_writer : rigbook.storage.TaskWriter
        The new task's writer (its folder is the recording's).
    subject_id, task_id : str
    protocol_name : str
        ``""`` for a rig without protocols (records until stopped).
    formats : list of str
        Export formats written at the end.
    """

    def __init__(self, session, task_writer, subject_id, task_id, protocol_name, formats):
        self.session = session
        self.task_writer = task_writer
        self.folder = Path(task_writer.root)
        self.subject_id = subject_id
        self.task_id = task_id
        self.protocol_name = protocol_name
        self.protocol = session.protocols.get(protocol_name) if protocol_name else None
        self.formats = list(formats)
        self.streams = session.live.recorded_for(protocol_name)
        self.pending_trials = []
        self._last_trial_try = 0.0
        self._outages_told = {name: 0 for name in self.streams}
        self.stopped = False

        self.t0 = time.monotonic()
        self.started = datetime.datetime.now().astimezone()
        session.live.restart_clock(self.t0, self.started, self.streams)
        self.counts_at_start = {name: (acc.dropped, acc.flagged) for name, acc in self.streams.items()}
        self._write_start_context()
        self.recorder = StreamRecorder(self.streams, self.folder,
                                       stream_info={name: self._stream_info(name, acc)
                                                    for name, acc in self.streams.items()})
        if self.protocol is not None:
            self.protocol.start(0.0)

    # -- time ---------------------------------------------------------------------------
    @property
    def elapsed(self):
        """Seconds since the recording started (its ``t``)."""
        return time.monotonic() - self.t0

    def time_origin(self):
        """What every file says about its ``t`` column."""
        return {
            "monotonic": self.t0,
            "wall_clock": self.started.isoformat(),
            "meaning": "t is in seconds since the recording started (t = 0 at wall_clock)",
        }

    def _stream_info(self, name, acc):
        """What every file of stream ``name`` says about itself: time origin, units, descriptions."""
        return storage.StreamInfo(
            t0_wall_clock=self.started.isoformat(), t0_monotonic=self.t0,
            recording_started=self.started.isoformat(),
            units=dict(getattr(acc, "units", {}) or {}), descriptions=dict(getattr(acc, "descriptions", {}) or {}),
            attrs={"stream": name, **self._stream_entry(name, acc), "rig": self.session.rig.name,
                   "subject_id": self.subject_id, "task_id": self.task_id},
        )

    # -- start ------------------------------------------------------------------------------
    def _write_start_context(self):
        """metadata.json with status "recording": what a kill must not lose."""
        c = self.session.collector
        c.new_session(t0=self.t0)
        rig = self.session.rig
        c.add_static_data(session_status.RECORDING, "general/status")
        c.add_static_data(session_status.this_process(), "general/process")
        c.add_static_data(rig.name, "general/rig")
        c.add_static_data(self.subject_id, "general/subject_id")
        c.add_static_data(self.task_id, "general/task_id")
        c.add_static_data(self.started, "general/recording_started")
        c.add_static_data(self.time_origin(), "general/time_origin")
        c.add_static_data(self.started.isoformat(), "general/t0_wall_clock")
        c.add_static_data(list(self.formats), "general/export_formats")
        script = file_digest(rig.script) if rig.script else None
        if script is not None:
            c.add_static_data(script, "general/rig_script")
        if self.protocol_name:
            c.add_static_data(self.protocol_name, "stimulus/protocol_name")
        c.add_static_data({name: self._stream_entry(name, acc) for name, acc in self.streams.items()},
                          "general/recorded_streams")
        c.save_json_log(self.folder)  # (settings are the session's to save: see Session.save_settings)

    def _stream_entry(self, name, acc):
        source = self.session.live.sources.get(name)
        return {"category": self._category(name), "kind": source.kind if source else
                ("stimulus" if name.startswith("stimulus_") else "estimator"),
                "units": dict(getattr(acc, "units", {}) or {})}

    def _category(self, name):
        source = self.session.live.sources.get(name)
        if source is not None:
            return source.category
        return "stimulus" if name.startswith("stimulus_") else "behavior"

    # -- while recording --------------------------------------------------------------------
    def tick(self, t_monotonic, estimates):
        """Protocol state, finished repetitions as trials; True when the protocol has ended."""
        if self.protocol is None or not self.protocol.running:
            return False
        t = t_monotonic - self.t0
        state = self.protocol.update(t, estimates)
        self.session.live.dynamic_logs[self.protocol.name].update_list(t_monotonic, state)
        for attrs in self.protocol.completed_trials(t):
            self._write_trial(attrs)
        return self.protocol.finished(t)

    def poll(self):
        """Append new rows to the stream logs; retry trials; tell the user of new write failures."""
        self.recorder.poll()
        for name, outages in self.recorder.outages.items():
            for outage in outages[self._outages_told[name]:]:
                self.session.post("error", f"stream {name}: writing its log failed at t = "
                                           f"{outage['start'] if outage['start'] is not None else 0:.1f} s "
                                           f"({outage['error']}); its rows are kept and written when the disk has "
                                           "room again")
            self._outages_told[name] = len(outages)
        if self.pending_trials and time.monotonic() - self._last_trial_try >= TRIAL_RETRY_S:
            self._retry_trials()

    def _trial_source(self):
        for name, acc in self.session.live.accumulators.items():
            if self.session.live.sources[name].kind == "stream":
                return acc
        return None

    def _write_trial(self, attrs):
        trial = storage.Trial(attrs)
        tracker = self._trial_source()
        if tracker is not None:
            # The samples of the repetition: rows t then the fields (channels x samples).
            data = tracker.get_last_t(max(self.elapsed - attrs["t_start"], 0.0))
            data = data[(data[:, 0] >= attrs["t_start"]) & (data[:, 0] < attrs["t_end"])]
            fields = list(tracker.columns)
            units = {"t": "s", **{k: v for k, v in (getattr(tracker, "units", {}) or {}).items() if k in fields}}
            trial.add_array(f"trial_{tracker.name}", data=np.ascontiguousarray(data.T), stack_axis=1,
                            fields=fields, time_field="t", units=units,
                            description=f"the {tracker.name} samples of the repetition: one row per field, "
                                        "t (seconds since the recording started) first")
        self.pending_trials.append(trial)
        self._retry_trials()

    def _retry_trials(self):
        self._last_trial_try = time.monotonic()
        while self.pending_trials:
            trial = self.pending_trials[0]
            try:
                self.task_writer.write(trial)
            except OSError as error:
                self.session.post("error", f"writing trial {trial.attrs.get('repetition')} failed ({error}); "
                                           f"trying again every {TRIAL_RETRY_S:g} s")
                return
            except (TypeError, ValueError) as error:
                self.session.post("error", f"trial {trial.attrs.get('repetition')} cannot be stored: {error}")
            self.pending_trials.pop(0)
            self.session.trial_written.emit(dict(trial.attrs))

    # -- stop -------------------------------------------------------------------------------
    def stop(self, status=session_status.COMPLETE):
        """Take the last rows, close logs and trials; return the save steps (exports, then metadata.json)."""
        self.stopped = True
        self.status = status
        self.duration = self.elapsed
        self.session.live.drain()  # what the sources sent until now
        if self.protocol is not None:
            for attrs in self.protocol.completed_trials(self.duration):
                self._write_trial(attrs)
            self.protocol.stop()
        self.errors = []
        self._retry_trials()
        if self.pending_trials:
            self.errors.append(("trials", f"{len(self.pending_trials)} trial(s) could not be written"))
        self.recorder.close()
        try:
            self.task_writer.close()
        except (OSError, ValueError) as error:
            self.errors.append(("trials", str(error)))
        self.session.collector.end_session()
        self._add_end_metadata()
        return save_steps(self.folder, self.recorder.paths, self.formats,
                          lambda: self.session.collector.save_json_log(self.folder))

    def _add_end_metadata(self):
        c = self.session.collector
        c.add_static_data(self.status, "general/status")
        c.add_static_data(round(self.duration, 3), "general/recording_duration_s")
        c.add_static_data(len(self.task_writer.trials), "general/trials")
        for name, acc in self.streams.items():
            dropped, flagged = self.counts_at_start.get(name, (0, 0))
            summary = stream_summary(acc, self.session.live.sources.get(name), dropped_before=dropped,
                                     flagged_before=flagged, files=self.recorder.paths[name], folder=self.folder,
                                     lost=self.recorder.lost_spans[name], outages=self.recorder.outages[name])
            c.add_static_data(summary, f"{self._category(name)}/streams/{name}")

    def result(self, results, errors):
        """The :class:`SessionResult` of the save steps' ``results`` and ``errors``."""
        return SessionResult(
            folder=self.folder, subject_id=self.subject_id, task_id=self.task_id, duration=self.duration,
            formats=list(self.formats), files=[r for _, r in results if r],
            errors=list(self.errors) + list(errors), status=self.status,
            lost={k: list(v) for k, v in self.recorder.lost_spans.items() if v},
            outages={k: list(v) for k, v in self.recorder.outages.items() if v},
            parameters=self.session.parameter_values(),
        )
