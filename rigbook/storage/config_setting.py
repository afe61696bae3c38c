"""One saved parameter of config.h5: its value and its type name, to and from plain JSON values.

Type names: ``none``, ``bool``, ``int`` (any size), ``float`` (NaN and
infinities included), ``str``, ``tuple`` / ``list`` (of numbers, of bools or
of strings), and ``json`` for anything else JSON can hold (dicts, nested or
mixed lists). A tuple saved as ``json`` comes back as a list. numpy scalars
come back as Python values.

Unlike config.h5 format 1, which held these in HDF5 types, ints among the
floats of a tuple stay ints, and strings with NUL characters or lone
surrogates are ``str`` (format 1 stored them as ``json`` text).
"""

import json
from typing import NamedTuple

import numpy as np

__all__ = ["StoredSetting", "decode_setting", "encode_setting"]


class StoredSetting(NamedTuple):
    """One saved parameter: its decoded ``value`` and the ``type`` name it was saved with."""

    value: object
    type: str


def _is_bool(v):
    return isinstance(v, (bool, np.bool_))


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _plain_number(v):
    return int(v) if _is_int(v) else float(v)


def _plain_items(items):
    # The items of a tuple/list setting as plain Python values, or None if they are of mixed kinds.
    if all(_is_bool(v) for v in items):
        return [bool(v) for v in items]
    if all(_is_number(v) for v in items):
        return [_plain_number(v) for v in items]
    if all(isinstance(v, str) for v in items):
        return [str(v) for v in items]
    return None


def encode_setting(value, path="value"):
    """``(type name, plain JSON value)`` for one parameter value.

    A :class:`StoredSetting` keeps the tuple/list type it was saved with.

    Raises
    ------
    TypeError
        If the value cannot be stored (the message names ``path``).
    """
    if isinstance(value, StoredSetting):
        type_name, plain = encode_setting(value.value, path)
        if value.type in ("tuple", "list") and type_name in ("tuple", "list"):
            type_name = value.type
        return type_name, plain
    # bool before int: bool is a subclass of int.
    if value is None:
        return "none", None
    if _is_bool(value):
        return "bool", bool(value)
    if _is_int(value):
        return "int", int(value)
    if isinstance(value, (float, np.floating)):
        return "float", float(value)
    if isinstance(value, str):
        return "str", str(value)
    if isinstance(value, (tuple, list)):
        items = _plain_items(value)
        if items is not None:
            return ("tuple" if isinstance(value, tuple) else "list"), items
    try:
        # Round trip through JSON text: refuses what JSON cannot hold and turns tuples into lists.
        return "json", json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"cannot store setting {path!r} of type {type(value).__name__} in config.h5: {error}"
        ) from None


def _check(condition, type_name, value):
    if not condition:
        raise ValueError(f"a value of type {type_name!r} cannot be {value!r}")


def _decode_none(value):
    _check(value is None, "none", value)
    return None


def _decode_bool(value):
    _check(isinstance(value, bool), "bool", value)
    return value


def _decode_int(value):
    _check(isinstance(value, int) and not isinstance(value, bool), "int", value)
    return value


def _decode_float(value):
    _check(isinstance(value, (int, float)) and not isinstance(value, bool), "float", value)
    return float(value)


def _decode_str(value):
    _check(isinstance(value, str), "str", value)
    return value


def _decode_tuple(value):
    _check(isinstance(value, list), "tuple", value)
    return tuple(value)


def _decode_list(value):
    _check(isinstance(value, list), "list", value)
    return value


def _decode_json(value):
    return value


_DECODERS = {
    "none": _decode_none,
    "bool": _decode_bool,
    "int": _decode_int,
    "float": _decode_float,
    "str": _decode_str,
    "tuple": _decode_tuple,
    "list": _decode_list,
    "json": _decode_json,
}


def decode_setting(type_name, value):
    """The :class:`StoredSetting` for a type name and the plain value saved with it.

    Raises
    ------
    ValueError
        If the type name is unknown or the value does not fit it.
    """
    decoder = _DECODERS.get(type_name)
    if decoder is None:
        raise ValueError(f"unknown setting type {type_name!r}")
    return StoredSetting(decoder(value), type_name)
