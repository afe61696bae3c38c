"""config.h5: one group per owner, value + type per parameter, atomic, readable with plain h5py."""

import logging
import os

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbook.storage import ConfigStore, config_dir, config_path
from rigbook.storage.config_store import StoredSetting

SETTINGS = {
    "stimulus/protocol/gratings": {
        "speed": 12.5,
        "n_bars": 4,
        "huge": 2**70 + 1,
        "direction": "links — 左",
        "flash": True,
        "window": (0.1, 0.9),
        "steps": [1, 2, 3],
        "labels": ["a", "ü"],
        "nothing": None,
        "nested": {"a": [1, {"b": 2}]},
        "nan": float("nan"),
        "nul": "a\x00b",
        "surrogate": "bad\udcff name",
        "nul_list": ["x", "\x00"],
    },
    "stimulus/protocol": {"duration": 60.0},
    "camera/settings": {"exposure": 5},
}


def test_round_trip_keeps_values_and_types(tmp_path):
    store = ConfigStore(tmp_path / "config.h5")
    store.save(SETTINGS)
    loaded = store.load()
    gratings = loaded["stimulus/protocol/gratings"]
    assert gratings["speed"] == StoredSetting(12.5, "float")
    assert gratings["n_bars"] == StoredSetting(4, "int") and type(gratings["n_bars"].value) is int
    assert gratings["huge"] == StoredSetting(2**70 + 1, "int")
    assert gratings["direction"] == StoredSetting("links — 左", "str")
    assert gratings["flash"] == StoredSetting(True, "bool") and type(gratings["flash"].value) is bool
    assert gratings["window"] == StoredSetting((0.1, 0.9), "tuple")
    assert gratings["steps"] == StoredSetting([1, 2, 3], "list")
    assert gratings["labels"] == StoredSetting(["a", "ü"], "list")
    assert gratings["nothing"] == StoredSetting(None, "none")
    assert gratings["nested"] == StoredSetting({"a": [1, {"b": 2}]}, "json")
    assert np.isnan(gratings["nan"].value)
    assert gratings["nul"].value == "a\x00b" and gratings["surrogate"].value == "bad\udcff name"
    assert gratings["nul_list"].value == ["x", "\x00"]
    assert loaded["stimulus/protocol"] == {"duration": StoredSetting(60.0, "float")}
    assert loaded["camera/settings"] == {"exposure": StoredSetting(5, "int")}


def test_file_reads_with_plain_h5py(tmp_path):
    path = ConfigStore(tmp_path / "config.h5").save(SETTINGS)
    with h5py.File(path, "r") as f:
        assert f.attrs["rigbook_config_format"] == 1
        assert f["stimulus/protocol/gratings"].attrs["rigbook_owner"]
        assert f["stimulus/protocol/gratings/speed"][()] == 12.5
        assert f["stimulus/protocol/gratings/speed"].attrs["type"] == "float"
        assert f["stimulus/protocol/gratings/direction"][()].decode() == "links — 左"
        assert list(f["stimulus/protocol/gratings/window"][()]) == [0.1, 0.9]
        assert f["camera/settings/exposure"][()] == 5


def test_stored_settings_are_written_back_unchanged(tmp_path):
    store = ConfigStore(tmp_path / "config.h5")
    store.save(SETTINGS)
    first = store.load()
    store.save(first)
    assert repr(store.load()) == repr(first)  # repr: NaN compares unequal to itself


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_ äöü語]{0,10}", fullmatch=True),
        st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(alphabet=st.characters(codec=None)), st.none(),
                  st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=5)),
        max_size=6,
    )
)
def test_any_simple_value_round_trips(tmp_path_factory, params):
    store = ConfigStore(tmp_path_factory.mktemp("cfg") / "config.h5")
    store.save({"general/owner": params})
    loaded = store.load().get("general/owner", {})
    assert {name: s.value for name, s in loaded.items()} == params


def test_an_unstorable_value_is_refused_and_the_old_file_kept(tmp_path):
    store = ConfigStore(tmp_path / "config.h5")
    store.save({"camera/settings": {"exposure": 5}})
    before = store.path.read_bytes()
    with pytest.raises(TypeError, match="camera/settings/thing"):
        store.save({"camera/settings": {"exposure": 6, "thing": object()}})
    assert store.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.h5"]


def test_bad_names_are_refused(tmp_path):
    store = ConfigStore(tmp_path / "config.h5")
    with pytest.raises(ValueError, match="owner path"):
        store.save({"camera//settings": {"a": 1}})
    with pytest.raises(ValueError, match="parameter name"):
        store.save({"camera/settings": {"a\x00b": 1}})
    with pytest.raises(ValueError, match="owner path"):
        store.save({"camera/../x": {"a": 1}})
    with pytest.raises(ValueError, match="same path as a parameter owner"):
        store.save({"camera": {"settings": 1}, "camera/settings": {"a": 1}})
    assert not store.path.exists()


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + b"\x00" * 50, os.urandom(1000)])
def test_unreadable_file_is_moved_aside_with_a_timestamp(tmp_path, content, caplog):
    path = tmp_path / "config.h5"
    path.write_bytes(content)
    store = ConfigStore(path)
    with caplog.at_level(logging.WARNING, logger="rigbook.storage.config_store"):
        assert store.load() == {}
    assert not path.exists()
    assert store.moved_to.read_bytes() == content
    assert store.moved_to.name.startswith("config.h5.unreadable-2")
    assert "could not be read" in store.problem
    assert caplog.records and caplog.records[0].levelno == logging.WARNING
    # a second bad file in the same second does not overwrite the first one aside
    path.write_bytes(b"again")
    first_aside = store.moved_to
    store.load()
    assert store.moved_to != first_aside and first_aside.read_bytes() == content


def test_missing_file_is_not_a_problem(tmp_path):
    store = ConfigStore(tmp_path / "config.h5")
    assert store.load() == {} and store.problem is None and not tmp_path.joinpath("config.h5").exists()


def test_config_location(tmp_path, monkeypatch):
    monkeypatch.setenv("RIGBOOK_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    assert config_path() == tmp_path / "cfg" / "config.h5"
    assert config_path(0) == tmp_path / "cfg" / "config_0.h5"
    assert config_path(3, folder=tmp_path) == tmp_path / "config_3.h5"
    monkeypatch.delenv("RIGBOOK_CONFIG_DIR")
    assert config_dir().name == "rigbook"
    with pytest.raises(ValueError, match="instance_number"):
        config_path(-2)
    with pytest.raises(TypeError, match="instance_number"):
        config_path(True)


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    store = ConfigStore(tmp_path / "config.h5")
    store.save({"camera/settings": {"exposure": 5}})
    before = store.path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.save({"camera/settings": {"exposure": 6}})
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert store.load()["camera/settings"]["exposure"].value == 5
    assert [p.name for p in tmp_path.iterdir()] == ["config.h5"]
