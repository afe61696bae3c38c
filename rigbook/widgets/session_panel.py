"""Session panel: where to store, who is recorded, which protocol; start/stop and progress."""

import logging

from qtpy import QtCore, QtWidgets

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("csv", "feather", "parquet", "hdf5", "json", "nwb")


def _format_elapsed(seconds):
    seconds = max(0.0, float(seconds))
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{sec:04.1f}"


class SessionPanel(QtWidgets.QGroupBox):
    """Storage root, subject ID, task ID, protocol, export formats, record button.

    The panel only collects what the user chose and shows state; the app
    validates the IDs and runs the session.

    Signals
    -------
    start_requested()
        The Record button was pressed while idle.
    stop_requested()
        The Stop button was pressed while recording.
    """

    start_requested = QtCore.Signal()
    stop_requested = QtCore.Signal()
    finish_requested = QtCore.Signal()

    def __init__(self, protocols=(), formats=("csv", "feather"), parent=None):
        super().__init__("Session", parent)
        self._recording = False
        self._busy = False
        self._unavailable = set()  # formats that cannot be written here (a library missing)

        self.root_edit = QtWidgets.QLineEdit()
        self.root_edit.setToolTip("storage root: subjects and their task folders are created under it")
        self.browse_button = QtWidgets.QToolButton(text="…")
        self.browse_button.setToolTip("choose the storage root")
        self.browse_button.clicked.connect(self._browse)
        self.subject_edit = QtWidgets.QLineEdit()
        self.subject_edit.setPlaceholderText("e.g. fish-001")
        self.task_edit = QtWidgets.QLineEdit()
        self.task_edit.setPlaceholderText("e.g. gratings-1")
        self.protocol_combo = QtWidgets.QComboBox()
        self.protocol_combo.addItems(list(protocols))

        self.format_boxes = {}
        formats_row = QtWidgets.QGridLayout()
        formats_row.setContentsMargins(0, 0, 0, 0)
        for index, fmt in enumerate(EXPORT_FORMATS):
            box = QtWidgets.QCheckBox(fmt)
            box.setChecked(fmt in formats)
            self.format_boxes[fmt] = box
            formats_row.addWidget(box, index // 3, index % 3)

        self.record_button = QtWidgets.QPushButton("● Record")
        self.record_button.setMinimumHeight(32)
        self.record_button.clicked.connect(self._record_clicked)
        self.elapsed_label = QtWidgets.QLabel(_format_elapsed(0))
        font = self.elapsed_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        self.elapsed_label.setFont(font)
        self.protocol_bar = QtWidgets.QProgressBar()
        self.protocol_bar.setRange(0, 1000)
        self.protocol_bar.setFormat("protocol %p%")
        self.protocol_bar.setValue(0)
        self.save_bar = QtWidgets.QProgressBar()
        self.save_bar.setRange(0, 1)
        self.save_bar.setFormat("saving %v/%m")
        self.save_bar.hide()
        self.finish_button = QtWidgets.QPushButton()
        self.finish_button.setToolTip("complete the recordings whose app was killed: trials, exports, metadata.json")
        self.finish_button.clicked.connect(self.finish_requested)
        self.finish_button.hide()
        self.where_label = QtWidgets.QLabel()
        self.where_label.setWordWrap(True)
        self.where_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)

        root_row = QtWidgets.QHBoxLayout()
        root_row.addWidget(self.root_edit, 1)
        root_row.addWidget(self.browse_button)
        form = QtWidgets.QFormLayout()
        form.addRow("storage root", root_row)
        form.addRow("subject ID", self.subject_edit)
        form.addRow("task ID", self.task_edit)
        form.addRow("protocol", self.protocol_combo)
        if not protocols:  # a rig without protocols records until stopped: nothing to choose
            self.protocol_combo.hide()
            form.labelForField(self.protocol_combo).hide()
        form.addRow("export as", formats_row)

        record_row = QtWidgets.QHBoxLayout()
        record_row.addWidget(self.record_button, 1)
        record_row.addWidget(self.elapsed_label)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(record_row)
        layout.addWidget(self.protocol_bar)
        layout.addWidget(self.save_bar)
        layout.addWidget(self.finish_button)
        layout.addWidget(self.where_label)

    # -- what the user chose -------------------------------------------------------
    @property
    def root(self):
        return self.root_edit.text().strip()

    @property
    def subject_id(self):
        return self.subject_edit.text().strip()

    @property
    def task_id(self):
        return self.task_edit.text().strip()

    @property
    def protocol(self):
        return self.protocol_combo.currentText()

    @property
    def formats(self):
        """Chosen export formats, in the panel's order."""
        return [fmt for fmt, box in self.format_boxes.items() if box.isChecked()]

    def set_values(self, root=None, subject_id=None, task_id=None, formats=None, protocol=None):
        """Fill the fields (e.g. from the last session's settings)."""
        if root is not None:
            self.root_edit.setText(str(root))
        if subject_id is not None:
            self.subject_edit.setText(str(subject_id))
        if task_id is not None:
            self.task_edit.setText(str(task_id))
        if protocol is not None:
            self.protocol_combo.setCurrentText(str(protocol))
        if formats is not None:
            unknown = [f for f in formats if f not in self.format_boxes]
            if unknown:
                raise ValueError(f"unknown export format {unknown[0]!r}; formats are {', '.join(EXPORT_FORMATS)}")
            for fmt, box in self.format_boxes.items():
                box.setChecked(fmt in formats and fmt not in self._unavailable)

    # -- state shown ---------------------------------------------------------------
    @property
    def recording(self):
        return self._recording

    def set_recording(self, recording):
        """Switch the button between Record and Stop, lock the fields while recording."""
        self._recording = bool(recording)
        self.record_button.setText("■ Stop" if recording else "● Record")
        self.record_button.setStyleSheet("background: #a02828; color: white" if recording else "")
        self._update_enabled()

    def set_busy(self, busy, done=0, total=1, text=""):
        """Show saving progress; the record button is disabled while busy."""
        self._busy = bool(busy)
        self.save_bar.setVisible(self._busy)
        self.save_bar.setRange(0, max(int(total), 1))
        self.save_bar.setValue(int(done))
        if text:
            self.save_bar.setFormat(f"{text} %v/%m")
        self._update_enabled()

    def set_elapsed(self, seconds):
        self.elapsed_label.setText(_format_elapsed(seconds))

    def set_progress(self, fraction, text=None):
        """Protocol progress, 0 to 1."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.protocol_bar.setValue(int(round(fraction * 1000)))
        if text is not None:
            self.protocol_bar.setFormat(text)

    def disable_format(self, fmt, why):
        """Grey out (and untick) an export format that cannot be written here, saying why."""
        box = self.format_boxes[fmt]
        box.setChecked(False)
        box.setEnabled(False)
        box.setToolTip(why)
        self._unavailable.add(fmt)

    def offer_finish(self, folders):
        """Show the Finish button for recordings cut short (hidden when ``folders`` is empty)."""
        count = len(folders)
        self.finish_button.setText(f"Finish {count} cut-short recording{'s' if count != 1 else ''}")
        self.finish_button.setVisible(bool(count))

    def set_location(self, text):
        self.where_label.setText(text)

    def _update_enabled(self):
        editable = not self._recording and not self._busy
        boxes = [box for fmt, box in self.format_boxes.items() if fmt not in self._unavailable]
        for widget in (self.root_edit, self.browse_button, self.subject_edit, self.task_edit,
                       self.protocol_combo, *boxes):
            widget.setEnabled(editable)
        self.record_button.setEnabled(not self._busy)

    def _record_clicked(self):
        if self._recording:
            self.stop_requested.emit()
        else:
            self.start_requested.emit()

    def _browse(self):
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Storage root", self.root or ".")
        if folder:
            self.root_edit.setText(folder)
