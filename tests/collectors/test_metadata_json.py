"""The JSON rules of metadata.json (DESIGN.md §3)."""

import datetime
import decimal
import json
import math
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbook.collectors.metadata_json import MAX_ARRAY_SIZE, dumps, to_json_value
from rigbook.collectors.metadata_layout import MetadataTree, split_name


def roundtrip(value):
    return json.loads(dumps(value))


def test_numpy_scalars_become_python_values():
    out = roundtrip({"i": np.int64(-3), "u": np.uint8(200), "f": np.float32(0.5), "b": np.bool_(False)})
    assert out == {"i": -3, "u": 200, "f": 0.5, "b": False}
    assert type(out["b"]) is bool and type(out["i"]) is int


def test_datetimes_with_and_without_time_zone():
    aware = datetime.datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    naive = datetime.datetime(2024, 3, 1, 12, 30, 5)
    out = roundtrip({"aware": aware, "naive": naive, "day": datetime.date(2024, 3, 1),
                     "np": np.datetime64("2024-03-01T12:30:05.000000001"), "nat": np.datetime64("NaT"),
                     "ts": pd.Timestamp("2024-03-01T12:30:05", tz="UTC"), "pdnat": pd.NaT})
    assert out["aware"] == "2024-03-01T12:30:05.123456+02:00"
    assert datetime.datetime.fromisoformat(out["aware"]) == aware
    assert out["naive"] == "2024-03-01T12:30:05"
    assert out["day"] == "2024-03-01"
    assert out["np"] == "2024-03-01T12:30:05.000000001"
    assert out["nat"] is None and out["pdnat"] is None
    assert out["ts"] == "2024-03-01T12:30:05+00:00"


def test_paths_become_strings():
    assert roundtrip({"p": Path("data") / "fish1", "q": PurePosixPath("/a/b")}) == {"p": str(Path("data/fish1")), "q": "/a/b"}


def test_nan_and_infinities_become_null_and_not_zero():
    out = roundtrip({"nan": float("nan"), "inf": math.inf, "ninf": -np.inf, "f32": np.float32("nan"),
                     "arr": np.array([1.0, np.nan, np.inf])})
    assert out == {"nan": None, "inf": None, "ninf": None, "f32": None, "arr": [1.0, None, None]}


@pytest.mark.parametrize("number", [2**40 + 1, 2**63 + 7, -(2**70) - 3, 10**30 + 1])
def test_big_ints_stay_exact(number):
    text = dumps({"n": number, "np": np.uint64(2**64 - 1)})
    assert json.loads(text) == {"n": number, "np": 2**64 - 1}


def test_non_ascii_is_kept_as_is():
    text = dumps({"Tier": "Zebrafisch Nr. 3 — 鱼 🐟", "ключ": "значение"})
    assert "Zebrafisch Nr. 3 — 鱼 🐟" in text and "ключ" in text
    assert json.loads(text)["ключ"] == "значение"


def test_undecodable_file_names_still_make_valid_utf8_json():
    name = b"fish\xff.avi".decode("utf-8", "surrogateescape")
    text = dumps({"video": name, "note": "ü"})
    text.encode("utf-8")
    assert json.loads(text) == {"video": name, "note": "ü"}


def test_small_arrays_and_tuples_become_lists():
    out = roundtrip({"a": np.arange(6).reshape(2, 3), "t": (1, "x"), "s": np.array(["a", "b"]),
                     "o": np.array([1, "x", None], dtype=object)})
    assert out == {"a": [[0, 1, 2], [3, 4, 5]], "t": [1, "x"], "s": ["a", "b"], "o": [1, "x", None]}


@pytest.mark.parametrize(
    "value, culprit",
    [
        ({"stimulus": {"log": [1, 2, {3, 4}]}}, "stimulus/log/2"),
        ({"animal": {"weight": decimal.Decimal("1.5")}}, "animal/weight"),
        ({"camera": {"gain": 1 + 2j}}, "camera/gain"),
        ({"camera": {"raw": b"\x00\x01"}}, "camera/raw"),
        ({"general": {"obj": object()}}, "general/obj"),
        ({"behavior": {"tail": pd.DataFrame({"a": [1]})}}, "behavior/tail"),
        ({"imaging": {"stack": np.zeros(MAX_ARRAY_SIZE + 1)}}, "imaging/stack"),
        ({"imaging": {"c": np.array([1j])}}, "imaging/c"),
        ({"imaging": {"dt": datetime.timedelta(seconds=1)}}, "imaging/dt"),
        ({"general": {(1, 2): "tuple key"}}, "general"),
    ],
)
def test_unsupported_values_raise_type_error_naming_the_key_path(value, culprit):
    with pytest.raises(TypeError) as error:
        dumps(value)
    assert repr(culprit) in str(error.value) or f"at {culprit!r}" in str(error.value)


def test_values_are_never_replaced_by_zero():
    with pytest.raises(TypeError):
        to_json_value({"x": object()})
    assert roundtrip({"x": float("nan")})["x"] is None


# -- hypothesis: every supported value converts, and numbers survive exactly ----------

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64),
    st.floats(width=32).map(np.float32),
    st.booleans().map(np.bool_),
    st.datetimes(timezones=st.none() | st.timezones()),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def expected(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [expected(v) for v in value]
    if isinstance(value, dict):
        return {k: expected(v) for k, v in value.items()}
    return value


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_supported_values_round_trip_through_json(value):
    assert json.loads(dumps({"v": value})) == {"v": expected(value)}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5), st.integers(0, 4))
def test_a_bad_value_anywhere_is_reported_at_its_path(keys, position):
    tree = current = {}
    for key in keys[:-1]:
        current = current.setdefault(key, {})
    current[keys[-1]] = [0] * position + [object()]
    with pytest.raises(TypeError) as error:
        dumps(tree)
    assert f"'{'/'.join(keys)}/{position}'" in str(error.value)


# -- key conventions -----------------------------------------------------------------

@pytest.mark.parametrize(
    "name, parts",
    [
        ("animal/screening/image", ["animal", "screening", "image"]),
        ("general_db_idx", ["general", "db_idx"]),
        ("stimulus_protocol/gratings", ["stimulus", "protocol", "gratings"]),
        ("camera_exposure", ["camera", "exposure"]),
        ("unspecified_entry", ["general", "unspecified_entry"]),
        ("setup/rig/room", ["setup", "rig", "room"]),
        ("tracking", ["general", "tracking"]),
        ("animal", ["animal"]),
    ],
)
def test_stytra_key_conventions(name, parts):
    assert split_name(name) == parts


@pytest.mark.parametrize("name", ["", "/animal", "animal/", "animal//age"])
def test_malformed_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid metadata name"):
        split_name(name)


def test_conflicting_entries_are_refused_naming_the_key():
    tree = MetadataTree()
    tree.insert(["animal", "age"], 5, "first")
    tree.insert(["animal", "info"], {"line": "nacre"}, "second")
    tree.insert(["animal", "info"], {"genotype": "wt"}, "third")
    assert tree.root["animal"] == {"age": 5, "info": {"line": "nacre", "genotype": "wt"}}
    with pytest.raises(ValueError, match="'animal/age' is given twice: by first and by fourth"):
        tree.insert(["animal", "age"], 6, "fourth")
    with pytest.raises(ValueError, match="animal/info/line"):
        tree.insert(["animal"], {"info": {"line": "casper"}}, "fifth")
