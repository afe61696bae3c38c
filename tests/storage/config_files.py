"""config.h5 files without Rigbook: read format 2 with h5py and json, write format 1 as the previous version did.

Users have format-1 files (one dataset per parameter); tests write them with
:func:`write_format1` to check that they still restore.
"""

import json

import h5py
import numpy as np

_INT64 = np.iinfo(np.int64)
_STR = h5py.string_dtype("utf-8")


def _plain_text(value):
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _array(items):
    if all(isinstance(v, (bool, np.bool_)) for v in items):
        return np.array(items, dtype=bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items):
        if all(_INT64.min <= int(v) <= _INT64.max for v in items):
            return np.array([int(v) for v in items], dtype=np.int64)
        return None
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in items):
        return np.array(items, dtype=np.float64)
    if all(isinstance(v, str) and _plain_text(v) for v in items):
        return np.array(items, dtype=_STR)
    return None


def _all_plain(value):
    if isinstance(value, str):
        return _plain_text(value)
    if isinstance(value, dict):
        return all(_all_plain(k) and _all_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_all_plain(v) for v in value)
    return True


def encode_format1(value):
    if value is None:
        return "none", h5py.Empty("f8")
    if isinstance(value, (bool, np.bool_)):
        return "bool", np.bool_(value)
    if isinstance(value, (int, np.integer)):
        value = int(value)
        if _INT64.min <= value <= _INT64.max:
            return "int", np.int64(value)
        return "int", np.array(str(value), dtype=_STR)
    if isinstance(value, (float, np.floating)):
        return "float", np.float64(value)
    if isinstance(value, str) and _plain_text(value):
        return "str", np.array(value, dtype=_STR)
    if isinstance(value, (tuple, list)):
        array = _array(list(value)) if len(value) else np.zeros(0)
        if array is not None:
            return ("tuple" if isinstance(value, tuple) else "list"), array
    text = json.dumps(value, ensure_ascii=not _all_plain(value), allow_nan=True)
    return "json", np.array(text, dtype=_STR)


def write_format1(path, settings):
    """Write ``{owner: {name: value}}`` the way Rigbook wrote config.h5 before format 2."""
    with h5py.File(path, "w") as f:
        f.attrs["rigbook_config_format"] = 1
        f.attrs["written"] = "2026-11-30T10:00:00+01:00"
        for owner in settings:
            group = f.require_group(owner) if owner else f
            group.attrs["rigbook_owner"] = True
        for owner, params in settings.items():
            for name, value in params.items():
                type_name, data = encode_format1(value)
                dataset = f.create_dataset(f"{owner}/{name}" if owner else name, data=data)
                dataset.attrs["type"] = type_name


def plain_settings(path):
    """{owner: {name: (value, type)}} read with h5py and json only, as a user without Rigbook would."""
    found = {}
    with h5py.File(path, "r") as f:
        assert f.attrs["rigbook_config_format"] == 2

        def visit(name, node):
            if isinstance(node, h5py.Group) and ".settings" in node:
                entries = json.loads(node[".settings"][()])
                found[name] = {k: (e["value"], e["type"]) for k, e in entries.items()}

        f.visititems(visit)
    return found
