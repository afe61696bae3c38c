"""The outcome of restoring last session's settings: what was applied, clamped, skipped and why."""

import dataclasses
from pathlib import Path

from rigbook.collectors.params import Parametrized, fit_value, param_kind

__all__ = [
    "NOT_A_CHOICE",
    "NOT_LOADABLE",
    "TYPE_CHANGED",
    "UNKNOWN_PATH",
    "UNREADABLE",
    "ClampedSetting",
    "RestoreReport",
    "SkippedSetting",
    "apply_setting",
]

UNKNOWN_PATH = "unknown path"
TYPE_CHANGED = "type changed"
NOT_LOADABLE = "not loadable"
NOT_A_CHOICE = "not a valid choice"
UNREADABLE = "unreadable value"


@dataclasses.dataclass(frozen=True)
class SkippedSetting:
    """A saved setting that was not applied.

    Attributes
    ----------
    path : str
        ``"owner/path/param"``.
    reason : str
        ``"unknown path"`` (no such owner or parameter this run; settings of
        owners not registered are kept in config.h5), ``"type changed"``,
        ``"not a valid choice"``, ``"not loadable"`` (the parameter has
        ``loadable=False``) or ``"unreadable value"`` (the entry in the file
        could not be decoded).
    detail : str
        A sentence for the user.
    saved : object
        The saved value (None if unreadable).
    """

    path: str
    reason: str
    detail: str = ""
    saved: object = None


@dataclasses.dataclass(frozen=True)
class ClampedSetting:
    """A saved setting applied after moving it inside the parameter's limits.

    Attributes
    ----------
    path : str
    saved : object
        The value in config.h5.
    applied : object
        The value set (the nearest limit).
    limits : object
        The parameter's limits.
    """

    path: str
    saved: object
    applied: object
    limits: object


@dataclasses.dataclass
class RestoreReport:
    """What :meth:`DataCollector.restore_from_saved` did.

    Attributes
    ----------
    config_path : Path
        The file read.
    found : bool
        Whether a readable config file existed.
    applied : list of str
        Paths (``"owner/param"``) whose saved value was set unchanged.
    clamped : list of ClampedSetting
        Settings set after clamping into the parameter's limits (not in ``applied``).
    skipped : list of SkippedSetting
        Settings not applied, each with its reason.
    problem : str or None
        Set when config.h5 could not be read: it was moved aside
        (``moved_to``), defaults are in use, and this says so for the user.
    moved_to : Path or None
        Where the unreadable file went.
    """

    config_path: Path
    found: bool = False
    applied: list = dataclasses.field(default_factory=list)
    clamped: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    problem: str = None
    moved_to: Path = None

    def skipped_by_path(self):
        """``{path: reason}`` of every skipped setting."""
        return {s.path: s.reason for s in self.skipped}

    def summary(self):
        """One line for a status bar."""
        if self.problem:
            return self.problem
        if not self.found:
            return f"no saved settings in {self.config_path}: defaults are used"
        text = f"restored {len(self.applied) + len(self.clamped)} settings from {self.config_path}"
        if self.clamped:
            text += f"; {len(self.clamped)} clamped to limits"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped ({', '.join(sorted({s.reason for s in self.skipped}))})"
        return text


def apply_setting(parametrized, owner, name, setting, report):
    """Set one saved setting on its owner (or note why not) and record the outcome in ``report``.

    Parameters
    ----------
    parametrized : Parametrized or None
        The registered owner, None if no owner of that name is registered.
    owner, name : str
        Owner path and parameter name.
    setting : rigbook.storage.config_store.StoredSetting
        The saved value.
    report : RestoreReport
        Appended to.
    """
    path = f"{owner}/{name}" if owner else name
    if parametrized is None:
        report.skipped.append(
            SkippedSetting(path, UNKNOWN_PATH, f"no owner {owner!r} this run (kept in config.h5)", setting.value)
        )
        return
    param = parametrized.params.items().get(name)
    if param is None:
        report.skipped.append(SkippedSetting(path, UNKNOWN_PATH, f"{owner!r} has no parameter {name!r}", setting.value))
        return
    if not param.loadable:
        report.skipped.append(SkippedSetting(path, NOT_LOADABLE, "the parameter is not loadable", setting.value))
        return
    kind = parametrized.param_kind(name) if isinstance(parametrized, Parametrized) else param_kind(param)
    status, value, detail = fit_value(param, setting.value, path, kind)
    if status not in ("ok", "clamped"):
        report.skipped.append(SkippedSetting(path, status, detail, setting.value))
        return
    try:
        setattr(parametrized, name, value)
    except ValueError as error:
        report.skipped.append(SkippedSetting(path, TYPE_CHANGED, str(error), setting.value))
        return
    if status == "clamped":
        report.clamped.append(ClampedSetting(path, setting.value, value, param.limits))
    else:
        report.applied.append(path)
