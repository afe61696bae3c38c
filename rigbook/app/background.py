"""Run the end-of-session work (exports, metadata) off the GUI thread, with progress."""

import logging
import traceback

from qtpy import QtCore

logger = logging.getLogger(__name__)


class StepsJob(QtCore.QThread):
    """Run a list of ``(description, function)`` steps in a background thread.

    Every step runs even when an earlier one failed (one failed export must
    not cost the others); failures are collected with their description.

    Signals
    -------
    progress(done, total, description)
        Before each step (``done`` steps finished so far) and once at the end.
    done(results, errors)
        ``results``: list of ``(description, return value)`` of the steps that
        succeeded; ``errors``: list of ``(description, message)``. Emitted in
        the GUI thread through a queued connection.
    """

    progress = QtCore.Signal(int, int, str)
    done = QtCore.Signal(list, list)

    def __init__(self, steps, parent=None):
        super().__init__(parent)
        self.steps = list(steps)
        self.results = []
        self.errors = []

    def run(self):
        total = len(self.steps)
        for index, (description, function) in enumerate(self.steps):
            self.progress.emit(index, total, description)
            try:
                self.results.append((description, function()))
            except Exception as error:  # noqa: BLE001  (reported to the user, never swallowed)
                logger.error("%s failed:\n%s", description, traceback.format_exc())
                self.errors.append((description, f"{type(error).__name__}: {error}"))
        self.progress.emit(total, total, "done")
        self.done.emit(self.results, self.errors)
