"""The main window: session panel and editors on the left, live data on the right."""

import logging

from qtpy import QtCore, QtWidgets

from rigbook import resources
from rigbook.app.application import style_controls
from rigbook.widgets.framerate import FrameratePanel
from rigbook.widgets.messages import MessageLog
from rigbook.widgets.param_editor import ParamEditorPanel
from rigbook.widgets.session_panel import SessionPanel
from rigbook.widgets.stream_plot import StreamPlot

logger = logging.getLogger(__name__)


class MainWindow(QtWidgets.QMainWindow):
    """Rigbook's window over an :class:`~rigbook.app.controller.ExperimentController`.

    Closing the window while recording stops the recording, waits (without
    freezing) until the session is saved, then closes.
    """

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.controller = controller
        self._close_after_save = False
        self._last_refresh_error = None
        self._value_axis_width = 0  # pixels given to every plot's value labels (see _align_value_axes)
        self.setWindowTitle(f"Rigbook — {controller.rig.name}")

        self.messages = MessageLog(status_bar=self.statusBar())
        self.session_panel = SessionPanel(protocols=list(controller.protocols))
        self.session_panel.start_requested.connect(self._start_requested)
        self.session_panel.stop_requested.connect(controller.stop_recording)

        self.editors = ParamEditorPanel()
        for owner in controller.editable_params():
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
        for name, accumulator in controller.accumulators.items():
            source = controller.sources_by_name[name]
            self.gauges.add_source(accumulator, name=name, goal=source.goal_rate)

        self.plots = []
        plot_splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        plot_defaults = resources.defaults()["plots"]
        for name, accumulator in controller.plotted_accumulators().items():
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
        self.resize(1400, 900)

        controller.message.connect(self.messages.post)
        controller.frame.connect(self.refresh)
        controller.recording_changed.connect(self._recording_changed)
        controller.saving_progress.connect(self._saving_progress)
        controller.session_saved.connect(self._session_saved)
        controller.params_restored.connect(self._params_restored)

        settings = controller.session_settings()
        self.session_panel.set_values(**settings)
        self.editors.refresh()
        for level, text in controller.startup_messages:
            self.messages.post(level, text)

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
            self.session_panel.set_elapsed(self.controller.elapsed)
            fraction, text = self.controller.protocol_progress()
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
        try:
            self.controller.start_recording(
                root=panel.root, subject_id=panel.subject_id, task_id=panel.task_id,
                protocol=panel.protocol, formats=panel.formats,
            )
        except (ValueError, OSError, RuntimeError) as error:
            self.messages.post("error", f"cannot start recording: {error}")

    def _recording_changed(self, recording):
        self.session_panel.set_recording(recording)
        protocol_editor = self.editors.editors.get(self.controller.protocol_owner_name)
        if protocol_editor is not None:
            # Protocol parameters are frozen for a run; they apply to the next one.
            protocol_editor.setEnabled(not recording)
        if recording:
            self.session_panel.set_location(f"recording into {self.controller.task_folder}")

    def _saving_progress(self, done, total, text):
        self.session_panel.set_busy(done < total, done, total, text)

    def _session_saved(self, result):
        self.session_panel.set_busy(False)
        self.session_panel.set_location(f"saved in {result.folder}")
        self.session_panel.task_edit.setText(self.controller.suggest_next_task_id(result.task_id))
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
                self.controller.stop_recording()
            event.ignore()
            return
        panel = self.session_panel
        self.controller.remember_session(panel.root, panel.subject_id, panel.task_id, panel.protocol, panel.formats)
        self.controller.shutdown()
        event.accept()
