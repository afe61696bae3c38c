"""Last-session restore from config.h5: what is applied, clamped and skipped, and why."""

import json
import logging
import os

import h5py
import pytest

from rigbook.collectors import DataCollector, Param, Parametrized
from rigbook.storage.config_store import config_dir
from tests.storage.config_files import plain_settings, write_format1


def gratings_v1(collector):
    return Parametrized(
        name="stimulus/protocol/gratings",
        tree=collector,
        params=dict(
            speed=Param(10.0, limits=[0, 50]),
            contrast=Param(1.0, limits=[0, 1]),
            n_bars=Param(4),
            direction=Param("left", limits=["left", "right"]),
            old_option=Param(True),
            seed=Param(0, loadable=False),
            window=Param((0.2, 0.8), limits=(0, 1)),
        ),
    )


def gratings_v2(collector):
    # next version of the protocol: old_option removed, new_option added,
    # n_bars became a float, speed limits narrowed, direction lost "left"
    return Parametrized(
        name="stimulus/protocol/gratings",
        tree=collector,
        params=dict(
            speed=Param(10.0, limits=[0, 30]),
            contrast=Param(1.0, limits=[0, 1]),
            n_bars=Param("four"),
            direction=Param("right", limits=["right", "up"]),
            new_option=Param(2.5),
            seed=Param(0, loadable=False),
            window=Param((0.4, 0.8), limits=(0.3, 1)),
        ),
    )


def first_run():
    collector = DataCollector(experiment_code=None)
    owner = gratings_v1(collector)
    owner.speed = 45
    owner.contrast = 0.25
    owner.n_bars = 9
    owner.direction = "left"
    owner.seed = 1234
    owner.window = (0.1, 0.9)
    camera = Parametrized(name="camera/settings", tree=collector, params=dict(exposure=Param(5, limits=[1, 100])))
    camera.exposure = 42
    collector.save_config_file()
    return collector


def test_restore_brings_back_the_last_values():
    first_run()
    collector = DataCollector(experiment_code=None)
    owner = gratings_v1(collector)
    report = collector.restore_from_saved()
    assert (owner.speed, owner.contrast, owner.n_bars, owner.direction, owner.window) == (45.0, 0.25, 9, "left", (0.1, 0.9))
    assert owner.seed == 0  # not loadable
    assert report.found and report.problem is None
    assert "stimulus/protocol/gratings/speed" in report.applied
    assert report.skipped_by_path() == {
        "stimulus/protocol/gratings/seed": "not loadable",
        "camera/settings/exposure": "unknown path",
    }
    assert collector.get_last_value("camera/settings/exposure") == 42
    assert collector.get_last_value("stimulus/protocol/gratings/speed") == 45.0


def test_restore_after_the_parameter_structure_changed():
    first_run()
    collector = DataCollector(experiment_code=None)
    owner = gratings_v2(collector)
    report = collector.restore_from_saved()

    assert owner.contrast == 0.25
    assert owner.speed == 30.0  # clamped to the new limit
    assert owner.n_bars == "four" and owner.new_option == 2.5 and owner.direction == "right"
    assert owner.window == (0.3, 0.9)
    assert report.applied == ["stimulus/protocol/gratings/contrast"]
    clamped = {c.path: (c.saved, c.applied) for c in report.clamped}
    assert clamped == {
        "stimulus/protocol/gratings/speed": (45.0, 30.0),
        "stimulus/protocol/gratings/window": ((0.1, 0.9), (0.3, 0.9)),
    }
    assert report.skipped_by_path() == {
        "stimulus/protocol/gratings/old_option": "unknown path",
        "stimulus/protocol/gratings/n_bars": "type changed",
        "stimulus/protocol/gratings/direction": "not a valid choice",
        "stimulus/protocol/gratings/seed": "not loadable",
        "camera/settings/exposure": "unknown path",
    }
    skipped = {s.path: s for s in report.skipped}
    assert skipped["stimulus/protocol/gratings/n_bars"].saved == 9
    assert "n_bars" in skipped["stimulus/protocol/gratings/n_bars"].detail
    assert "clamped" in report.summary() and "skipped" in report.summary()


def test_settings_of_owners_not_registered_are_kept_in_the_file():
    first_run()
    collector = DataCollector(experiment_code=None)
    owner = gratings_v2(collector)
    collector.restore_from_saved()
    owner.contrast = 0.5
    path = collector.save_config_file()
    found = plain_settings(path)
    assert found["camera/settings"]["exposure"] == (42, "int")
    gratings = found["stimulus/protocol/gratings"]
    assert gratings["contrast"] == (0.5, "float")
    assert "old_option" not in gratings  # the owner is registered: current params only
    assert gratings["new_option"] == (2.5, "float")

    later = DataCollector(experiment_code=None)
    camera = Parametrized(name="camera/settings", tree=later, params=dict(exposure=Param(5, limits=[1, 100])))
    later.restore_from_saved()
    assert camera.exposure == 42


def test_restore_of_one_owner_registered_later():
    first_run()
    collector = DataCollector(experiment_code=None)
    owner = gratings_v1(collector)
    collector.restore_from_saved()
    owner.speed = 1.0  # changed by the user in the GUI
    camera = Parametrized(name="camera/settings", tree=collector, params=dict(exposure=Param(5)))
    report = collector.restore_from_saved(owners=["camera/settings"])
    assert camera.exposure == 42 and owner.speed == 1.0
    assert report.applied == ["camera/settings/exposure"]


def test_no_config_file_means_defaults_and_an_empty_report():
    collector = DataCollector(experiment_code=None)
    owner = gratings_v1(collector)
    report = collector.restore_from_saved()
    assert not report.found and report.applied == [] and report.skipped == []
    assert owner.speed == 10.0
    with pytest.raises(KeyError, match="stimulus/protocol/gratings/speed"):
        collector.get_last_value("stimulus/protocol/gratings/speed")


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(os.urandom(4096)),
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
        lambda path: path.write_bytes(b""),
    ],
    ids=["random-bytes", "truncated", "empty"],
)
def test_corrupt_config_is_moved_aside_defaults_used_and_user_warned(damage, caplog):
    first_run()
    path = config_dir() / "config.h5"
    damage(path)
    damaged = path.read_bytes()

    collector = DataCollector(experiment_code=None)
    owner = gratings_v1(collector)
    with caplog.at_level(logging.WARNING):
        report = collector.restore_from_saved()
    assert owner.speed == 10.0 and owner.contrast == 1.0
    assert not report.found and report.applied == []
    assert report.problem and "could not be read" in report.problem and "defaults" in report.problem
    assert report.moved_to is not None and report.moved_to.read_bytes() == damaged
    assert report.moved_to.name.startswith("config.h5.unreadable-")
    assert not path.exists()
    assert any("could not be read" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert report.summary() == report.problem

    # the next save writes a good file again
    collector.save_config_file()
    assert plain_settings(path)["stimulus/protocol/gratings"]["speed"] == (10.0, "float")


def test_an_hdf5_file_that_is_not_a_rigbook_config_is_moved_aside():
    path = config_dir() / "config.h5"
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        f["something"] = [1, 2, 3]
    collector = DataCollector(experiment_code=None)
    report = collector.restore_from_saved()
    assert report.problem and "not a Rigbook config file" in report.problem
    assert report.moved_to.is_file()


def test_a_single_bad_entry_is_skipped_not_the_whole_file():
    first_run()
    path = config_dir() / "config.h5"
    with h5py.File(path, "r+") as f:
        entries = json.loads(f["stimulus/protocol/gratings/.settings"][()])
        entries["contrast"]["type"] = "mystery"
        f["stimulus/protocol/gratings/.settings"][()] = json.dumps(entries)
    collector = DataCollector(experiment_code=None)
    owner = gratings_v1(collector)
    report = collector.restore_from_saved()
    assert owner.speed == 45.0 and owner.contrast == 1.0
    assert report.skipped_by_path()["stimulus/protocol/gratings/contrast"] == "unreadable value"


def test_two_instance_numbers_are_kept_apart():
    first = DataCollector(instance_number=0, experiment_code=None)
    second = DataCollector(instance_number=1, experiment_code=None)
    a = Parametrized(name="camera/settings", tree=first, params=dict(exposure=Param(5)))
    b = Parametrized(name="camera/settings", tree=second, params=dict(exposure=Param(5)))
    a.exposure = 11
    b.exposure = 22
    first.save_config_file()
    second.save_config_file()
    assert first.config_path != second.config_path
    assert first.config_path.parent == second.config_path.parent == config_dir()

    again0 = DataCollector(instance_number=0, experiment_code=None)
    again1 = DataCollector(instance_number=1, experiment_code=None)
    default = DataCollector(experiment_code=None)
    c0 = Parametrized(name="camera/settings", tree=again0, params=dict(exposure=Param(5)))
    c1 = Parametrized(name="camera/settings", tree=again1, params=dict(exposure=Param(5)))
    cd = Parametrized(name="camera/settings", tree=default, params=dict(exposure=Param(5)))
    for collector in (again0, again1, default):
        collector.restore_from_saved()
    assert (c0.exposure, c1.exposure, cd.exposure) == (11, 22, 5)


def test_config_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RIGBOOK_CONFIG_DIR", str(tmp_path / "elsewhere"))
    collector = DataCollector(experiment_code=None)
    Parametrized(name="animal/metadata", tree=collector, params=dict(line=Param("nacre")))
    collector.save_config_file()
    assert (tmp_path / "elsewhere" / "config.h5").is_file()


def test_values_config_cannot_hold_are_left_out_with_a_warning(caplog):
    collector = DataCollector(experiment_code=None)
    Parametrized(name="general/odd", tree=collector, params=dict(thing=Param(object()), ok=Param(3)))
    with caplog.at_level(logging.WARNING):
        path = collector.save_config_file()
    assert plain_settings(path)["general/odd"] == {"ok": (3, "int")}
    assert any("general/odd/thing" in r.getMessage() for r in caplog.records)


def test_a_config_file_of_the_previous_format_restores_and_is_upgraded_on_save():
    path = config_dir() / "config.h5"
    path.parent.mkdir(parents=True)
    write_format1(
        path,
        {
            "stimulus/protocol/gratings": {"speed": 45.0, "contrast": 0.25, "n_bars": 9, "window": (0.1, 0.9)},
            "camera/settings": {"exposure": 42},
        },
    )
    collector = DataCollector(experiment_code=None)
    owner = gratings_v1(collector)
    report = collector.restore_from_saved()
    assert (owner.speed, owner.contrast, owner.n_bars, owner.window) == (45.0, 0.25, 9, (0.1, 0.9))
    assert sorted(report.applied) == [f"stimulus/protocol/gratings/{n}" for n in ("contrast", "n_bars", "speed", "window")]
    assert report.skipped_by_path() == {"camera/settings/exposure": "unknown path"}
    assert collector.get_last_value("camera/settings/exposure") == 42

    owner.speed = 3.0
    collector.save_config_file()
    found = plain_settings(path)
    assert found["camera/settings"] == {"exposure": (42, "int")}
    assert found["stimulus/protocol/gratings"]["speed"] == (3.0, "float")
    assert collector.get_last_value("stimulus/protocol/gratings/speed") == 3.0
