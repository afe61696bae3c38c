"""The Qt application: timers driving a session, the main window, the command line.

A rig of your own plugs in without editing Rigbook::

    from rigbook.app import Rig, Source, run_app

Rig, Source, Protocol and Estimator live in :mod:`rigbook.session` (no Qt)
and are re-exported here for rig scripts. Names are imported lazily so that
``rigbook record`` and ``rigbook inspect`` do not load Qt.
"""

_EXPORTS = {
    "Rig": "rigbook.session.rig",
    "Source": "rigbook.session.rig",
    "load_rig": "rigbook.session.rig",
    "Protocol": "rigbook.session.protocol",
    "GratingsProtocol": "rigbook.session.protocol",
    "Estimator": "rigbook.session.estimator",
    "SwimVigorEstimator": "rigbook.session.estimator",
    "demo_rig": "rigbook.session.demo",
    "record": "rigbook.session.headless",
    "run_app": "rigbook.app.application",
    "open_window": "rigbook.app.application",
    "SessionController": "rigbook.app.controller",
    "MainWindow": "rigbook.app.main_window",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rigbook.app' has no attribute {name!r}")
