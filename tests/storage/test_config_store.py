"""config.h5: one group per owner, value + type per parameter, atomic, readable with plain h5py."""

import json
import logging
import os

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbook.storage import ConfigStore, config_dir, config_path
from rigbook.storage.config_store import StoredSetting
from tests.storage.config_files import plain_settings, write_format1

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
    found = plain_settings(path)
    assert set(found) == set(SETTINGS)
    gratings = found["stimulus/protocol/gratings"]
    assert gratings["speed"] == (12.5, "float")
    assert gratings["direction"] == ("links — 左", "str")
    assert gratings["huge"] == (2**70 + 1, "int")
    assert gratings["window"] == ([0.1, 0.9], "tuple")
    assert gratings["nothing"] == (None, "none")
    assert gratings["nul"] == ("a\x00b", "str") and gratings["surrogate"] == ("bad\udcff name", "str")
    assert found["camera/settings"] == {"exposure": (5, "int")}


def test_old_format_files_still_load_as_before(tmp_path):
    path = tmp_path / "config.h5"
    write_format1(path, SETTINGS)
    old = ConfigStore(path).load()
    new = ConfigStore(tmp_path / "new.h5")
    new.save(SETTINGS)
    loaded = new.load()

    def values(settings):  # repr: NaN compares unequal to itself; sorted: format 1 listed names alphabetically
        return repr(sorted((o, sorted((n, s.value) for n, s in p.items())) for o, p in settings.items()))

    assert values(old) == values(loaded)
    # format 1 could not hold NUL or lone surrogates in HDF5 strings and stored those as JSON text
    differing = {"nul", "surrogate", "nul_list"}
    for owner, params in old.items():
        for name, setting in params.items():
            if name not in differing:
                assert setting.type == loaded[owner][name].type, name


def test_saving_over_an_old_format_file_keeps_the_other_owners(tmp_path):
    path = tmp_path / "config.h5"
    write_format1(path, SETTINGS)
    store = ConfigStore(path)
    store.save({"camera/settings": {"exposure": 7}}, keep_other_owners=True)
    loaded = store.load()
    assert loaded["camera/settings"] == {"exposure": StoredSetting(7, "int")}
    assert loaded["stimulus/protocol"] == {"duration": StoredSetting(60.0, "float")}
    assert loaded["stimulus/protocol/gratings"]["window"] == StoredSetting((0.1, 0.9), "tuple")
    assert set(plain_settings(path)) == set(SETTINGS)


def test_only_the_owners_saved_are_replaced_when_keeping_the_others(tmp_path):
    store = ConfigStore(tmp_path / "config.h5")
    store.save(SETTINGS)
    store.save({"stimulus/protocol": {"duration": 5.0, "new": "x"}}, keep_other_owners=True)
    loaded = store.load()
    assert loaded["stimulus/protocol"] == {"duration": StoredSetting(5.0, "float"), "new": StoredSetting("x", "str")}
    assert loaded["camera/settings"] == {"exposure": StoredSetting(5, "int")}
    assert set(loaded) == set(SETTINGS)
    store.save({"camera/settings": {"exposure": 1}})  # without keep: the file holds exactly what is given
    assert set(store.load()) == {"camera/settings"}


def test_a_bad_entry_is_reported_and_the_rest_loads(tmp_path):
    path = ConfigStore(tmp_path / "config.h5").save(SETTINGS)
    with h5py.File(path, "r+") as f:
        entries = json.loads(f["camera/settings/.settings"][()])
        entries["exposure"]["type"] = "mystery"
        entries["gain"] = {"type": "int", "value": "high"}
        del f["camera/settings/.settings"]
        f["camera/settings/.settings"] = json.dumps(entries)
        del f["stimulus/protocol/.settings"]
        f["stimulus/protocol/.settings"] = "{not json"
    store = ConfigStore(path)
    loaded = store.load()
    assert store.problem is None
    assert set(store.unreadable) == {"camera/settings/exposure", "camera/settings/gain", "stimulus/protocol"}
    assert "mystery" in store.unreadable["camera/settings/exposure"]
    assert loaded["stimulus/protocol/gratings"]["speed"] == StoredSetting(12.5, "float")


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
def test_any_simple_value_round_trips_and_reads_as_the_old_format_did(tmp_path_factory, params):
    folder = tmp_path_factory.mktemp("cfg")
    store = ConfigStore(folder / "config.h5")
    store.save({"general/owner": params})
    loaded = store.load().get("general/owner", {})
    assert {name: s.value for name, s in loaded.items()} == params
    write_format1(folder / "old.h5", {"general/owner": params})
    old = ConfigStore(folder / "old.h5").load().get("general/owner", {})
    # format 1 stored strings with NUL or lone surrogates as JSON text (type "json"); format 2 says "str"
    plain = {name for name, v in params.items() if not isinstance(v, str) or _format1_text(v)}
    assert {n: s for n, s in old.items() if n in plain} == {n: s for n, s in loaded.items() if n in plain}
    assert {n: s.value for n, s in old.items()} == params


def _format1_text(value):
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


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


def test_owners_kept_from_a_file_replaced_behind_the_stores_back(tmp_path):
    # A store that just saved does not read its own file again, unless someone else replaced it.
    path = tmp_path / "config.h5"
    store = ConfigStore(path)
    store.save({"camera/settings": {"exposure": 5}}, keep_other_owners=True)
    store.save({"camera/settings": {"exposure": 6}}, keep_other_owners=True)
    ConfigStore(path).save({"camera/settings": {"exposure": 6}, "animal/fish": {"age": 3}})
    store.save({"camera/settings": {"exposure": 7}}, keep_other_owners=True)
    assert store.load() == {
        "animal/fish": {"age": StoredSetting(3, "int")},
        "camera/settings": {"exposure": StoredSetting(7, "int")},
    }
    path.unlink()
    store.save({"camera/settings": {"exposure": 8}}, keep_other_owners=True)
    assert store.load() == {"camera/settings": {"exposure": StoredSetting(8, "int")}}


def test_numpy_values_come_back_as_python_values(tmp_path):
    store = ConfigStore(tmp_path / "config.h5")
    store.save({"camera/settings": {
        "gain": np.float32(0.5), "n": np.int64(3), "on": np.bool_(True), "roi": (np.int32(1), np.float64(2.5)),
        "mixed": (1, "a"),
    }})
    loaded = store.load()["camera/settings"]
    assert loaded["gain"] == StoredSetting(0.5, "float") and type(loaded["gain"].value) is float
    assert loaded["n"] == StoredSetting(3, "int") and type(loaded["n"].value) is int
    assert loaded["on"] == StoredSetting(True, "bool") and type(loaded["on"].value) is bool
    assert loaded["roi"] == StoredSetting((1, 2.5), "tuple")
    assert [type(v) for v in loaded["roi"].value] == [int, float]
    assert loaded["mixed"] == StoredSetting([1, "a"], "json")  # as format 1 did: mixed kinds are JSON


def test_owner_names_in_any_script(tmp_path):
    settings = {"animal/Fisch_größe/語": {"länge": 3.5}}
    path = ConfigStore(tmp_path / "config.h5").save(settings)
    assert ConfigStore(path).load() == {"animal/Fisch_größe/語": {"länge": StoredSetting(3.5, "float")}}
    assert plain_settings(path) == {"animal/Fisch_größe/語": {"länge": (3.5, "float")}}
    with h5py.File(path, "r") as f:
        assert list(f["animal"]) == ["Fisch_größe"]
        # marked UTF-8 in the file, so that tools other than h5py show the name right
        group = f["animal/Fisch_größe"]
        assert f["animal"].id.links.get_info("Fisch_größe".encode()).cset == h5py.h5t.CSET_UTF8
        assert group.id.links.get_info("語".encode()).cset == h5py.h5t.CSET_UTF8
