"""The Qt application: experiment controller, sources, protocols, main window, command line.

A rig of your own plugs in without editing Rigbook::

    from rigbook.app import Rig, Source, run_app, record

Names are imported lazily so that ``rigbook inspect`` does not load Qt.
"""

_EXPORTS = {
    "Rig": "rigbook.app.rig",
    "Source": "rigbook.app.rig",
    "load_rig": "rigbook.app.rig",
    "Protocol": "rigbook.app.protocol",
    "GratingsProtocol": "rigbook.app.protocol",
    "Estimator": "rigbook.app.estimator",
    "SwimVigorEstimator": "rigbook.app.estimator",
    "demo_rig": "rigbook.app.demo",
    "run_app": "rigbook.app.application",
    "open_window": "rigbook.app.application",
    "record": "rigbook.app.headless",
    "ExperimentController": "rigbook.app.controller",
    "MainWindow": "rigbook.app.main_window",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rigbook.app' has no attribute {name!r}")
