"""Start the Qt application with a rig and show the main window."""

import logging
import signal
import sys

logger = logging.getLogger(__name__)

# PyQt deletes a QApplication whose last Python reference goes away; keep ours alive.
_application = None


def make_application(argv=None):
    """The QApplication (created once), with Rigbook's style."""
    from qtpy import QtWidgets
    import pyqtgraph as pg

    global _application
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(list(argv if argv is not None else sys.argv[:1]))
        app.setApplicationName("Rigbook")
        app.setStyle("Fusion")
        pg.setConfigOptions(antialias=False, background="#101418", foreground="#c8c8c8")
        _application = app
    _apply_resources(app)
    return app


def _apply_resources(app):
    """Give ``app`` Rigbook's window icon, unless it already has its own.

    A missing or unreadable icon is logged as a warning: the app starts without it.
    The stylesheet is not applied application-wide (see :func:`style_controls`).
    """
    from qtpy import QtGui

    from rigbook import resources

    if app.windowIcon().isNull():
        try:
            icon = QtGui.QIcon(str(resources.path(resources.ICON)))
            if icon.pixmap(64, 64).isNull():
                raise ValueError(f"{resources.ICON} could not be rendered (is Qt's SVG icon plugin installed?)")
            app.setWindowIcon(icon)
        except (OSError, ValueError) as error:
            logger.warning("starting without the window icon: %s", error)


def style_controls(widget):
    """Apply Rigbook's stylesheet to ``widget`` and its children (the control column).

    Not to the whole application: with an application-wide stylesheet Qt
    paints every widget through its stylesheet engine, and the live plots
    (ten of them redrawn 30 times a second) cost about a tenth more.
    A missing or unreadable stylesheet is logged as a warning.
    """
    from rigbook import resources

    try:
        widget.setStyleSheet(resources.stylesheet())
    except (OSError, ValueError) as error:
        logger.warning("starting without Rigbook's stylesheet: %s", error)


def open_window(rig, instance_number=-1, **controller_options):
    """Build the controller and the main window for ``rig`` (shown), return the window."""
    from rigbook.app.controller import SessionController
    from rigbook.app.main_window import MainWindow

    make_application()
    controller = SessionController(rig, instance_number=instance_number, **controller_options)
    window = MainWindow(controller)
    window.show()
    return window


def run_app(rig=None, instance_number=-1):
    """Open the window for ``rig`` (default: the demo rig) and run until it is closed.

    Use it from your own rig script::

        from rigbook.app import Rig, Source, run_app

        if __name__ == "__main__":
            run_app(Rig(name="my rig", sources=[Source("camera", my_camera_source)]))

    Returns the application's exit code.
    """
    if rig is None:
        from rigbook.session.demo import demo_rig

        rig = demo_rig()
    app = make_application()
    window = open_window(rig, instance_number=instance_number)
    app.aboutToQuit.connect(window.controller.shutdown)
    # Ctrl+C, SIGTERM and SIGHUP close the window the normal way: a recording is saved first (interrupted).
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: window.close())
    return app.exec_()
