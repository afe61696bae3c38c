"""The main window: session panel and editors on the left, live data on the right."""

import logging

from qtpy import QtCore, QtWidgets

from rigbook import resources
from rigbook.app.application import style_controls
from rigbook.session.settings import missing_format_support
from rigbook.widgets.framerate import FrameratePanel
from rigbook.widgets.messages import MessageLog
from rigbook.widgets.param_editor import ParamEditorPanel
from rigbook.widgets.session_panel import SessionPanel
from rigbook.widgets.stream_plot import StreamPlot

logger = logging.getLogger(__name__)


class MainWindow(QtWidgets.QMainWindow):
    """Rigbook's window over a :class:`~rigbook.app.controller.SessionController`.

    Closing the window while recording stops the recording (marked
    interrupted), waits (without freezing) until the session is saved, then closes.
    """

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.controller = controller
        session = self.session = controller.session
        self._close_after_save = False
        self._last_refresh_error = None
        self._value_axis_width = 0  # pixels given to every plot's value labels (see _align_value_axes)
        self.setWindowTitle(f"Rigbook — {controller.rig.name}")

        self.messages = MessageLog(status_bar=self.statusBar())
        self.session_panel = SessionPanel(protocols=list(session.protocols))
        self.session_panel.start_requested.connect(self._start_requested)
        self.session_panel.stop_requested.connect(controller.stop_recording)
        self.session_panel.finish_requested.connect(self._finish_unfinished)
        self.unfinished = []

        self.editors = ParamEditorPanel()
        for owner in session.editable_params():
            self.editors.add(owner)
        self.editors.message.connect(self.messages.post)

        left = QtWidgets.QWidget()
        left_layout = QtWidgets.QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.session_panel)
        left_layout.addWidget(self.editors, 1)
        left.setMinimumWidth(420)
        style_controls(left)

        self.gauges = FrameratePanel()
        for name, accumulator in session.accumulators.items():
            source = session.live.sources[name]
            self.gauges.add_source(accumulator, name=name, goal=source.goal_rate)

        self.plots = []
        plot_splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        plot_defaults = resources.defaults()["plots"]
        for name, accumulator in session.live.plotted().items():
            plot = StreamPlot(accumulator, title=name, window_s=plot_defaults["window_s"], mode=plot_defaults["mode"])
            self.plots.append(plot)
            plot_splitter.addWidget(plot)

        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        top = QtWidgets.QWidget()
        top_layout = QtWidgets.QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.gauges)
        top_layout.addWidget(plot_splitter, 1)
        right.addWidget(top)
        right.addWidget(self.messages)
        right.setStretchFactor(0, 5)
        right.setStretchFactor(1, 1)

        splitter = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([440, 960])
        self.setCentralWidget(splitter)
        self._fit_to_screen(1400, 900)

        controller.message.connect(self.messages.post)
        controller.frame.connect(self.refresh)
        controller.recording_changed.connect(self._recording_changed)
        controller.saving_progress.connect(self._saving_progress)
        controller.session_saved.connect(self._session_saved)
        controller.params_restored.connect(self._params_restored)

        for fmt in self.session_panel.format_boxes:
            missing = missing_format_support(fmt)
            if missing:
                self.session_panel.disable_format(fmt, f"{fmt} export needs a library that is not installed: {missing}")
        settings = session.settings()
        self.session_panel.set_values(**settings)
        self.editors.refresh()
        for level, text in session.startup_messages:
            self.messages.post(level, text)
        self._offer_unfinished(settings["root"])

    def _fit_to_screen(self, width, height):
        """The preferred size, shrunk to the screen's free area (a 1366 x 768 laptop included)."""
        screen = QtWidgets.QApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            width, height = min(width, area.width()), min(height, area.height())
            self.setMinimumSize(min(self.minimumWidth(), width), min(self.minimumHeight(), height))
        self.resize(width, height)

    def _offer_unfinished(self, root):
        """Tell about killed recordings under the storage root; offer to finish them."""
        from rigbook.session.status import unfinished_sessions

        try:
            found = unfinished_sessions(root)
        except OSError:
            return
        self.unfinished = found
        if not found:
            return
        names = ", ".join(f"{p.parent.name}/{p.name}" for p in found)
        self.messages.post("warning", f"{len(found)} recording(s) under {root} were cut short (the app was killed): "
                                      f"{names}. Finish them with `rigbook finish <task folder>` or the "
                                      "Finish button in the session panel.")
        self.session_panel.offer_finish(found)

    # -- live refresh ---------------------------------------------------------------
    def refresh(self):
        """Called by the controller's plot timer (at most 30 Hz)."""
        try:
            self._refresh()
        except Exception as error:  # noqa: BLE001  (an exception escaping a slot aborts Qt apps)
            text = f"display refresh failed: {type(error).__name__}: {error}"
            if text != self._last_refresh_error:
                self._last_refresh_error = text
                logger.exception("display refresh failed")
                self.messages.post("error", text)

    def _refresh(self):
        for plot in self.plots:
            plot.refresh()
        self._align_value_axes()
        self.gauges.refresh()
        if self.controller.recording:
            self.session_panel.set_elapsed(self.session.recording.elapsed)
            fraction, text = self.session.protocol_progress()
            self.session_panel.set_progress(fraction, text)

    def _align_value_axes(self):
        """Give every plot's value labels the room the widest needs: the time axes line up.

        A bout in the tracker and the vigor peak it causes are then at the
        same x. The room only grows, like each plot's own, so that labels
        changing with the data do not shift the traces back and forth.
        """
        width = max((plot.value_axis_text_width() for plot in self.plots), default=0)
        if width > self._value_axis_width:
            self._value_axis_width = width
            for plot in self.plots:
                plot.set_value_axis_text_width(width)

    # -- session ------------------------------------------------------------------------
    def _start_requested(self):
        panel = self.session_panel
        options = dict(root=panel.root, subject_id=panel.subject_id, task_id=panel.task_id,
                       protocol=panel.protocol, formats=panel.formats)
        try:
            self.controller.start_recording(**options)
        except FileExistsError:
            choice = self._ask_existing_task(options)
            if choice is None:
                return
            try:
                self.controller.start_recording(if_exists=choice, **options)
            except (ValueError, OSError, RuntimeError) as error:
                self.messages.post("error", f"cannot start recording: {error}")
        except (ValueError, OSError, RuntimeError) as error:
            self.messages.post("error", f"cannot start recording: {error}")

    def _ask_existing_task(self, options):
        """The task folder exists: "next" (the next free ID), "replace" (moved aside) or None (cancel)."""
        try:
            free = self.session.next_free_task_id(options["root"], options["subject_id"], options["task_id"])
        except (ValueError, OSError) as error:
            self.messages.post("error", f"cannot start recording: {error}")
            return None
        box = QtWidgets.QMessageBox(self)
        box.setIcon(QtWidgets.QMessageBox.Question)
        box.setWindowTitle("Task exists")
        box.setText(f"Subject {options['subject_id']} already has a task {options['task_id']}.")
        box.setInformativeText(f"Record as {free}, or replace it? A replaced task is moved into the storage "
                               "root's .replaced folder, never deleted.")
        use_next = box.addButton(f"Use {free}", QtWidgets.QMessageBox.AcceptRole)
        replace = box.addButton("Replace", QtWidgets.QMessageBox.DestructiveRole)
        box.addButton(QtWidgets.QMessageBox.Cancel)
        box.setDefaultButton(use_next)
        box.exec_()
        clicked = box.clickedButton()
        if clicked is use_next:
            self.session_panel.task_edit.setText(free)
            return "next"
        if clicked is replace:
            return "replace"
        return None

    def _finish_unfinished(self):
        """Finish the recordings that were cut short (offered at start), off the GUI thread."""
        from rigbook.app.background import StepsJob
        from rigbook.session import finish_session

        folders, self.unfinished = list(self.unfinished), []
        self.session_panel.offer_finish([])
        self._finish_job = StepsJob([(str(folder), lambda f=folder: finish_session(f)) for folder in folders])
        self._finish_job.progress.connect(self._saving_progress)
        self._finish_job.done.connect(self._unfinished_finished)
        self._finish_job.start()

    def _unfinished_finished(self, results, errors):
        self.session_panel.set_busy(False)
        for _, result in results:
            problems = "; ".join(f"{what}: {text}" for what, text in result.errors)
            self.messages.post("warning" if problems else "info",
                               f"finished {result.folder}: {result.duration:.1f} s recovered"
                               + (f" ({problems})" if problems else ""))
        for folder, text in errors:
            self.messages.post("error", f"finishing {folder} failed: {text}")
        job, self._finish_job = self._finish_job, None
        job.wait()
        job.deleteLater()

    def _recording_changed(self, recording):
        self.session_panel.set_recording(recording)
        protocol = self.session.recording.protocol if self.session.recording is not None else None
        protocol_editor = self.editors.editors.get(protocol.params.name) if protocol is not None else None
        if protocol_editor is not None:
            # Protocol parameters are frozen for a run; they apply to the next one.
            protocol_editor.setEnabled(not recording)
        if recording:
            params = self.session.session_params  # what was recorded: an absolute root, maybe the next free ID
            self.session_panel.set_values(root=params.storage_root, task_id=params.task_id)
            self.session_panel.set_progress(0.0, "protocol %p%")
            self.session_panel.set_location(f"recording into {self.controller.task_folder}")
        else:
            fraction, text = self.session.protocol_progress()
            self.session_panel.set_progress(fraction, "protocol complete" if fraction >= 1.0 else "protocol idle")

    def _saving_progress(self, done, total, text):
        self.session_panel.set_busy(done < total, done, total, text)

    def _session_saved(self, result):
        self.session_panel.set_busy(False)
        self.session_panel.set_location(f"saved in {result.folder}")
        try:
            free = self.session.next_free_task_id(result.folder.parent.parent, result.subject_id, result.task_id)
        except (ValueError, OSError):
            free = result.task_id
        self.session_panel.task_edit.setText(free)
        if self._close_after_save:
            self.close()

    def _params_restored(self):
        self.editors.refresh()

    # -- closing ----------------------------------------------------------------------------
    def closeEvent(self, event):
        if self.controller.recording or self.controller.saving:
            # Keep the window (and its event loop) alive until the session is on disk.
            self._close_after_save = True
            if self.controller.recording:
                self.messages.post("info", "closing: saving the recording first")
                self.controller.stop_recording("interrupted")
            event.ignore()
            return
        panel = self.session_panel
        self.session.remember(panel.root, panel.subject_id, panel.task_id, panel.protocol, panel.formats)
        self.controller.shutdown()
        event.accept()
