"""The JSON rules of metadata.json (DESIGN.md §3): what becomes what, and what is refused.

=========================================== =====================================
value                                       in JSON
=========================================== =====================================
``None``, ``bool``, ``str``                 as is (non-ASCII kept, not escaped)
``int`` of any size, numpy integers         the exact integer
``float``, numpy floats                     the number; NaN, +inf, -inf -> ``null``
numpy ``bool_``                             ``true`` / ``false``
numpy arrays up to :data:`MAX_ARRAY_SIZE`   nested lists of the above
``list``, ``tuple``                         lists
``dict`` with ``str`` or ``int`` keys       objects (int keys become strings)
``datetime``, ``date``, ``time``            ISO 8601 strings (time zone kept when set;
                                            a naive datetime stays naive)
``numpy.datetime64``                        ISO 8601 string; NaT -> ``null``
``pandas.NA``, ``pandas.NaT``               ``null`` (missing)
paths (``os.PathLike``)                     ``str(path)``
=========================================== =====================================

Anything else (sets, complex numbers, bytes, DataFrames, arbitrary objects,
large arrays) raises a ``TypeError`` naming the key path of the culprit, e.g.
``"stimulus/log/3"``. A value is never silently replaced: tables belong in
their own files (see :meth:`rigbook.collectors.DataCollector.get_clean_dict`).
"""

import datetime
import json
import math
import os

import numpy as np

__all__ = ["MAX_ARRAY_SIZE", "dumps", "is_table", "to_json_value"]

#: Arrays with more elements than this are refused: save them as a table or hdf5 file.
MAX_ARRAY_SIZE = 10_000


def is_table(value):
    """True for the table types metadata stores by file reference (pandas DataFrame, pyarrow Table)."""
    module = type(value).__module__
    if module.startswith("pandas"):
        import pandas as pd

        return isinstance(value, pd.DataFrame)
    if module.startswith("pyarrow"):
        import pyarrow as pa

        return isinstance(value, (pa.Table, pa.RecordBatch))
    return False


def _where(path):
    return f"at {path!r}" if path else "at the top level"


def _float(value):
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _datetime64(value, path):
    if np.isnat(value):
        return None
    return np.datetime_as_string(value, unit="auto")


def to_json_value(value, path=""):
    """Convert ``value`` into plain JSON types following the rules of this module.

    Parameters
    ----------
    value : object
        A metadata value, possibly nested.
    path : str
        The key path of ``value``, used in error messages.

    Returns
    -------
    object
        Built from ``None``, bool, int, float, str, list and dict only.

    Raises
    ------
    TypeError
        For a value of a type the rules do not cover; the message names its key path.
    """
    # bool before int: bool is a subclass of int.
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) else str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, np.generic):
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return _float(value)
        if isinstance(value, np.datetime64):
            return _datetime64(value, path)
        if isinstance(value, np.str_):
            return str(value)
        raise TypeError(
            f"metadata value {_where(path)} is a numpy {type(value).__name__}, which JSON cannot hold"
        )
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(
                    f"metadata key {key!r} {_where(path)} is a {type(key).__name__}; keys must be strings"
                )
            key = str(key) if not isinstance(key, str) else key
            result[key] = to_json_value(item, f"{path}/{key}" if path else key)
        return result
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{path}/{i}" if path else str(i)) for i, item in enumerate(value)]
    if isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_SIZE:
            raise TypeError(
                f"metadata value {_where(path)} is an array of {value.size} elements "
                f"(more than {MAX_ARRAY_SIZE}); save it as a table or hdf5 file and add its path"
            )
        if value.dtype.kind not in "biufMUO":
            raise TypeError(
                f"metadata value {_where(path)} is an array of dtype {value.dtype}, which JSON cannot hold"
            )
        if value.dtype.kind in "MO":
            # tolist() would turn datetime64[ns] into bare ints: convert element by element.
            return [to_json_value(item, f"{path}/{i}" if path else str(i)) for i, item in enumerate(value)]
        return to_json_value(value.tolist(), path)
    if isinstance(value, datetime.datetime):
        if value != value:  # pandas NaT is a datetime that is not equal to itself
            return None
        return value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if type(value).__name__ == "NAType" and type(value).__module__.startswith("pandas"):
        return None
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    if is_table(value):
        raise TypeError(
            f"metadata value {_where(path)} is a table ({type(value).__name__}); "
            "tables are stored in their own file: use get_clean_dict(eliminate_df=True)"
        )
    raise TypeError(
        f"metadata value {_where(path)} has type {type(value).__module__}.{type(value).__qualname__}, "
        "which metadata.json cannot hold (allowed: numbers, strings, bools, None, lists, dicts, "
        "numpy scalars and small arrays, datetimes, paths)"
    )


def dumps(value):
    """``value`` as JSON text following the rules of this module (UTF-8, non-ASCII kept).

    Strings that are not valid Unicode (lone surrogates, as ``os.fsdecode``
    makes from undecodable file names) cannot be written as UTF-8: then the
    whole text is ASCII with ``\\u`` escapes, which JSON readers decode the same.
    """
    converted = to_json_value(value)
    text = json.dumps(converted, ensure_ascii=False, allow_nan=False, indent=2)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(converted, ensure_ascii=True, allow_nan=False, indent=2)
    return text
