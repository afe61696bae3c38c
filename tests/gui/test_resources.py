"""Rigbook's package data (icon, stylesheet, default rig settings): shipped, found, and used by the application."""

import fnmatch
import logging
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from qtpy import QtGui, QtWidgets

from rigbook import resources
from rigbook.app.application import make_application, style_controls
from rigbook.widgets.session_panel import SessionPanel

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "rigbook" / "resources"


@pytest.fixture
def fresh_app(qapp):
    """The application as if Rigbook had not styled it yet; styled again afterwards."""
    qapp.setWindowIcon(QtGui.QIcon())
    qapp.setStyleSheet("")
    yield qapp
    qapp.setWindowIcon(QtGui.QIcon())
    qapp.setStyleSheet("")
    make_application()


def test_resources_are_found_through_the_loader():
    icon = resources.path(resources.ICON)
    sheet = resources.path(resources.STYLESHEET)
    assert icon == RESOURCES / "rigbook.svg" and icon.is_file()
    assert sheet == RESOURCES / "rigbook.qss" and sheet.is_file()
    assert resources.stylesheet() == sheet.read_text(encoding="utf-8")
    assert ET.parse(icon).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_every_resource_file_is_installed_as_package_data():
    with open(REPO / "pyproject.toml", "rb") as file:
        patterns = tomllib.load(file)["tool"]["setuptools"]["package-data"]["rigbook"]
    entries = [entry for entry in RESOURCES.iterdir() if entry.name != "__pycache__"]
    assert {entry.name for entry in entries} >= {"__init__.py", "rigbook.svg", "rigbook.qss", "defaults.json"}
    for entry in entries:
        # The pattern covers files directly in resources/, not sub-folders.
        assert entry.is_file(), f"{entry.name} is a folder: package data would miss its files"
        relative = f"resources/{entry.name}"
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "a\\b", "/etc/passwd", "", "no-such-icon.png"])
def test_bad_or_unknown_names_are_refused_by_name(name):
    with pytest.raises(ValueError) as error:
        resources.path(name)
    assert repr(name) in str(error.value)


def test_application_gets_the_icon_and_the_controls_the_stylesheet(fresh_app, qtbot, qtlog):
    app = make_application()
    assert app is fresh_app
    icon = app.windowIcon()
    assert not icon.isNull()
    assert not icon.pixmap(64, 64).isNull()
    # not application-wide: the live plots stay out of Qt's (slower) stylesheet painting
    assert app.styleSheet() == ""

    # The control column shows a bold title and a bold record button, while its
    # fields keep the normal font; a window shows the icon.
    panel = SessionPanel(protocols=["gratings"])
    qtbot.addWidget(panel)
    style_controls(panel)
    assert panel.styleSheet() == resources.path("rigbook.qss").read_text(encoding="utf-8")
    panel.show()
    qtbot.waitExposed(panel)
    assert not panel.windowIcon().pixmap(64, 64).isNull()
    assert panel.font().bold()
    assert panel.record_button.font().bold()
    assert not panel.subject_edit.font().bold()
    assert not [record for record in qtlog.records if "style" in record.message.lower()]


def test_the_app_starts_without_its_resources_and_says_so(fresh_app, monkeypatch, caplog):
    def missing(name):
        raise ValueError(f"no resource {name!r} in rigbook.resources")

    monkeypatch.setattr(resources, "path", missing)
    panel = QtWidgets.QWidget()
    with caplog.at_level(logging.WARNING, logger="rigbook.app.application"):
        app = make_application()
        style_controls(panel)
    assert app is fresh_app
    assert app.windowIcon().isNull() and panel.styleSheet() == ""
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("window icon" in text and "rigbook.svg" in text for text in warnings), warnings
    assert any("stylesheet" in text and "rigbook.qss" in text for text in warnings), warnings


def test_an_application_that_has_its_own_icon_keeps_it(fresh_app):
    own_icon = QtGui.QIcon(QtGui.QPixmap(16, 16))
    fresh_app.setWindowIcon(own_icon)
    app = make_application()
    assert app.windowIcon().cacheKey() == own_icon.cacheKey()
    assert isinstance(app, QtWidgets.QApplication)


def test_default_rig_settings_are_package_data_and_a_first_start_uses_them(qtbot, tmp_path, monkeypatch):
    from rigbook.app.application import open_window
    from rigbook.session.demo import CAMERA_FPS, TRACKER_RATE, demo_rig

    settings = resources.defaults()
    assert settings["session"]["formats"] == ["csv", "feather"]
    assert (TRACKER_RATE, CAMERA_FPS) == (settings["demo_rig"]["tracker_rate"], settings["demo_rig"]["camera_fps"])
    settings["session"]["subject_id"] = "changed"
    assert resources.defaults()["session"]["subject_id"] == "fish-001"  # each call is a fresh copy

    monkeypatch.setenv("RIGBOOK_CONFIG_DIR", str(tmp_path))  # no config.h5 yet: a first start
    monkeypatch.delenv("RIGBOOK_DATA_DIR")
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    window = open_window(demo_rig(seed=1))
    qtbot.addWidget(window)
    try:
        panel = window.session_panel
        assert (panel.subject_id, panel.task_id) == ("fish-001", "session-1")
        assert panel.root == str(tmp_path / "Documents" / "Rigbook")  # absolute, in the documents folder
        assert sorted(panel.formats) == ["csv", "feather"]
        assert {(plot.window_s, plot.mode) for plot in window.plots} == {(5.0, "stacked lanes")}
    finally:
        window.controller.shutdown()


def use_defaults_file(monkeypatch, file):
    """Make the loader read ``file`` as defaults.json."""
    real_path = resources.path
    monkeypatch.setattr(resources, "path", lambda name: file if name == resources.DEFAULTS else real_path(name))


@pytest.mark.parametrize("section, name, value", [("plots", "window_s", "5"), ("session", "formats", None),
                                                  ("demo_rig", "camera_fps", True)])
def test_a_broken_defaults_file_is_refused_naming_the_setting(tmp_path, monkeypatch, section, name, value):
    import json

    settings = resources.defaults()
    settings[section][name] = value
    broken = tmp_path / "defaults.json"
    broken.write_text(json.dumps(settings), encoding="utf-8")
    use_defaults_file(monkeypatch, broken)
    with pytest.raises(ValueError, match=rf"defaults.json: {section}\.{name} must be"):
        resources.defaults()


@pytest.mark.parametrize("text, message", [('{"session": [1]}', "session must be an object"),
                                           ("{not json", "not valid JSON"), ("[]", "session must be an object")])
def test_a_defaults_file_of_the_wrong_shape_is_refused_with_its_name(tmp_path, monkeypatch, text, message):
    broken = tmp_path / "defaults.json"
    broken.write_text(text, encoding="utf-8")
    use_defaults_file(monkeypatch, broken)
    with pytest.raises(ValueError, match=f"defaults.json.*{message}"):
        resources.defaults()
