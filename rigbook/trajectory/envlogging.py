"""The logging an Environment sets up: pypet's ``log_config`` choices, removed again by ``disable_logging``."""

import logging
import logging.config
import os
import sys
from pathlib import Path

DEFAULT_LOGGING = "DEFAULT"


class _ConsoleHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives (it may be replaced later)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class LogSetup:
    """The handlers an environment adds, so disable_logging removes exactly those."""

    def __init__(self, log_config, log_folder, trajectory_name, env_name, log_level):
        self.handlers = []
        self._logger = logging.getLogger("rigbook.trajectory")
        self._old_level = self._logger.level
        if log_config is None or log_config is False:
            return
        if isinstance(log_config, dict):
            logging.config.dictConfig(log_config)
            return
        if isinstance(log_config, (str, os.PathLike)) and log_config != DEFAULT_LOGGING:
            if not Path(log_config).is_file():
                raise FileNotFoundError(f"log_config {str(log_config)!r} is neither 'DEFAULT', None, a dict nor a file")
            logging.config.fileConfig(log_config, disable_existing_loggers=False)
            return
        folder = Path(log_folder) / trajectory_name
        folder.mkdir(parents=True, exist_ok=True)
        formatter = logging.Formatter("%(asctime)s %(processName)s %(name)s %(levelname)s: %(message)s")
        file_handler = logging.FileHandler(folder / f"{env_name}.log", encoding="utf-8")
        file_handler.setFormatter(formatter)
        file_handler.setLevel(log_level)
        console = _ConsoleHandler()
        console.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        console.setLevel(max(log_level, logging.INFO))
        self.handlers = [file_handler, console]
        for handler in self.handlers:
            self._logger.addHandler(handler)
        if self._logger.level == logging.NOTSET or self._logger.level > log_level:
            self._logger.setLevel(log_level)

    @property
    def log_file(self):
        """The log file written with the default configuration, else None."""
        for handler in self.handlers:
            if isinstance(handler, logging.FileHandler):
                return Path(handler.baseFilename)
        return None

    def remove(self):
        for handler in self.handlers:
            self._logger.removeHandler(handler)
            handler.close()
        if self.handlers:
            self._logger.setLevel(self._old_level)
        self.handlers = []


class StdoutRedirect:
    """``log_stdout``: what the script prints goes to the log until ``disable_logging``, as in pypet."""

    def __init__(self, enabled):
        self._previous = None
        self._redirect = None
        if enabled:
            from rigbook.trajectory.runmodes import _StdoutToLog

            self._previous = sys.stdout
            self._redirect = _StdoutToLog(logging.getLogger("rigbook.trajectory.stdout"))
            sys.stdout = self._redirect

    def restore(self):
        if self._redirect is None:
            return
        self._redirect.flush()
        if sys.stdout is self._redirect:
            sys.stdout = self._previous
        self._redirect = self._previous = None
