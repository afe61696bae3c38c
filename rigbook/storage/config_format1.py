"""Reading config.h5 files of format 1 (one dataset per parameter), which earlier versions wrote.

Format 1 layout::

    stimulus/protocol/gratings/      group, attrs: rigbook_owner = True
        speed    dataset ()          attrs: type = "float"

Each parameter is a dataset holding its value, with the attribute ``type``:
``bool``, ``int`` (int64, or its decimal string when it does not fit),
``float``, ``str`` (UTF-8), ``none`` (an empty dataset), ``tuple`` / ``list``
(a 1-D array of numbers, bools or strings) or ``json`` (JSON text).
Rigbook reads these files so that users' last settings survive the upgrade;
the next save writes format 2.
"""

import json

import h5py
import numpy as np

from rigbook.storage.config_setting import StoredSetting

__all__ = ["read_format1"]

TYPE_ATTR = "type"


def _text(raw):
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def decode_dataset(dataset):
    """The :class:`StoredSetting` held by one format-1 dataset; ValueError if its type is unknown."""
    type_name = dataset.attrs.get(TYPE_ATTR)
    if isinstance(type_name, bytes):
        type_name = type_name.decode()
    raw = dataset[()]
    if type_name == "none":
        return StoredSetting(None, "none")
    if type_name == "bool":
        return StoredSetting(bool(raw), "bool")
    if type_name == "int":
        return StoredSetting(int(_text(raw)) if isinstance(raw, (bytes, str)) else int(raw), "int")
    if type_name == "float":
        return StoredSetting(float(raw), "float")
    if type_name == "str":
        return StoredSetting(_text(raw), "str")
    if type_name in ("tuple", "list"):
        items = [v.decode() if isinstance(v, bytes) else v.item() for v in np.asarray(raw)]
        return StoredSetting(tuple(items) if type_name == "tuple" else items, type_name)
    if type_name == "json":
        return StoredSetting(json.loads(_text(raw)), "json")
    raise ValueError(f"unknown setting type {type_name!r}")


def read_format1(f, unreadable):
    """Every setting of an open format-1 file.

    Parameters
    ----------
    f : h5py.File
    unreadable : dict
        Filled with ``{"owner/param": reason}`` for entries that cannot be decoded.

    Returns
    -------
    dict
        ``{owner_path: {param_name: StoredSetting}}``.
    """
    settings = {}

    def visit(name, node):
        if not isinstance(node, h5py.Dataset):
            return
        owner, _, param = name.rpartition("/")
        try:
            settings.setdefault(owner, {})[param] = decode_dataset(node)
        except Exception as error:  # noqa: BLE001  (one bad entry does not spoil the rest)
            unreadable[name] = f"{type(error).__name__}: {error}"

    f.visititems(visit)
    return settings
