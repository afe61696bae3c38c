"""Exact encodings of Python, numpy and pandas values for HDF5.

Two encodings live here, used by the HDF5 storage service:

* **Tagged JSON** (:func:`to_json` / :func:`from_json`): plain JSON where the
  value is plain (``None``, ``bool``, ``int`` of any size, ``float`` including
  NaN/inf/-0.0, ``str``, lists, dicts with string keys) and small tagged
  objects where JSON alone would lose the type:
  ``{"__t": [...]}`` tuple, ``{"__c": [re, im]}`` complex, ``{"__b": base64}``
  bytes, ``{"__d": [[key, value], ...]}`` dict with non-string keys,
  ``{"__s": descr, "v": value}`` or ``{"__s": descr, "b": base64}`` numpy
  scalar, ``{"__a": descr, "shape": [...], "b": base64}`` numpy array,
  ``{"__ao": shape, "items": [...]}`` object array, ``{"__df": ...}`` /
  ``{"__sr": ...}`` pandas DataFrame / Series, ``{"__na": 1}`` ``pd.NA``.
  No pickles, ever.
* **Native HDF5 items** (:func:`write_item` / :func:`read_item`): numeric
  scalars and strings become attributes of their native type, arrays become
  datasets, DataFrames and Series become a group with one dataset per column;
  anything else becomes a tagged-JSON string attribute. How each item was
  written is recorded in a ``kinds`` dictionary the caller keeps.
"""

import base64
import json
import math

import h5py
import numpy as np
import pandas as pd

from rigbook.trajectory.objecttable import ObjectTable

#: Strings longer than this go into a dataset instead of an attribute
#: (HDF5 attributes are limited to 64 KiB in compact storage).
MAX_ATTRIBUTE_CHARS = 30000

_STR_DTYPE = h5py.string_dtype("utf-8")


def _descr(dtype):
    return np.lib.format.dtype_to_descr(dtype)


def _dtype(descr):
    if isinstance(descr, list):
        descr = [tuple(field) if isinstance(field, list) else field for field in descr]
        descr = [tuple(_listify(x) for x in f) for f in descr]
    return np.lib.format.descr_to_dtype(descr)


def _listify(x):
    if isinstance(x, list):
        return [tuple(_listify(y) for y in f) if isinstance(f, list) else f for f in x] if x and isinstance(x[0], list) else tuple(x)
    return x


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


def _unb64(text):
    return base64.b64decode(text.encode("ascii"))


def _readable_numpy_scalar(dtype):
    return (dtype.kind in "biu") or (dtype.kind == "f" and dtype.itemsize <= 8) or (
        dtype.kind == "c" and dtype.itemsize <= 16
    )


def encode(value, _path="value"):
    """Return a JSON-compatible structure from which :func:`decode` rebuilds ``value`` exactly.

    Raises
    ------
    TypeError
        If the value (or something inside it, named by its path) has no exact encoding.
    """
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is int:
        return value
    if kind is float:
        return value
    if kind is list:
        return [encode(v, f"{_path}[{i}]") for i, v in enumerate(value)]
    if kind is tuple:
        return {"__t": [encode(v, f"{_path}[{i}]") for i, v in enumerate(value)]}
    if kind is dict:
        if all(type(k) is str and not k.startswith("__") for k in value):
            return {k: encode(v, f"{_path}[{k!r}]") for k, v in value.items()}
        return {"__d": [[encode(k, _path), encode(v, f"{_path}[{k!r}]")] for k, v in value.items()]}
    if kind is complex:
        return {"__c": [value.real, value.imag]}
    if kind is bytes:
        return {"__b": _b64(value)}
    if isinstance(value, np.generic):
        dtype = value.dtype
        if dtype.kind in "fc" and value != value:
            # A NaN's sign and payload do not survive a Python float (nor JSON): keep its bytes.
            return {"__s": _descr(dtype), "b": _b64(np.asarray(value).tobytes())}
        if dtype.kind == "c" and dtype.itemsize <= 16:
            return {"__s": _descr(dtype), "v": [float(value.real), float(value.imag)]}
        if _readable_numpy_scalar(dtype) or dtype.kind == "b":
            return {"__s": _descr(dtype), "v": value.item()}
        if dtype.kind == "O":
            raise TypeError(f"{_path}: numpy object scalars cannot be stored")
        if dtype.kind == "U":
            return {"__s": _descr(dtype), "v": str(value)}
        if dtype.kind == "S":
            return {"__s": _descr(dtype), "sb": _b64(bytes(value))}
        return {"__s": _descr(dtype), "b": _b64(np.asarray(value).tobytes())}
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray:
            value = np.asarray(value)
        if value.dtype.hasobject:
            return {
                "__ao": list(value.shape),
                "items": [encode(v, f"{_path}[{i}]") for i, v in enumerate(value.ravel().tolist())],
            }
        return {
            "__a": _descr(value.dtype),
            "shape": list(value.shape),
            "b": _b64(np.ascontiguousarray(value).tobytes()),
        }
    if isinstance(value, pd.DataFrame):
        return {
            "__df": {
                "columns": _encode_index(value.columns, _path),
                "index": _encode_index(value.index, _path),
                "data": [_encode_column(value.iloc[:, i], _path) for i in range(value.shape[1])],
            }
        }
    if isinstance(value, pd.Series):
        return {
            "__sr": {
                "name": encode(value.name, _path),
                "index": _encode_index(value.index, _path),
                "data": _encode_column(value, _path),
            }
        }
    if value is pd.NA:
        return {"__na": 1}
    if value is pd.NaT:
        return {"__nat": 1}
    if isinstance(value, pd.Timestamp):
        return {"__ts": value.isoformat()}
    raise TypeError(
        f"{_path}: values of type {kind.__module__}.{kind.__qualname__} cannot be stored "
        "exactly; use a PickleResult/PickleParameter for arbitrary objects"
    )


def _encode_column(series, path):
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and not dtype.hasobject:
        return {"dtype": str(dtype), "values": encode(series.to_numpy(), path)}
    values = series.to_numpy(dtype=object)
    return {"dtype": str(dtype), "values": encode(values, path)}


def _decode_column(column):
    values = decode(column["values"])
    dtype = column["dtype"]
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values
    return pd.array(list(values), dtype=dtype) if dtype != "object" else values


def _encode_index(index, path):
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": encode(index.name, path)}
    if isinstance(index, pd.MultiIndex):
        return {
            "multi": encode(list(index), path),
            "names": encode(list(index.names), path),
        }
    return {"name": encode(index.name, path), "column": _encode_column(pd.Series(index), path)}


def _decode_index(enc):
    if "range" in enc:
        start, stop, step = enc["range"]
        return pd.RangeIndex(start, stop, step, name=decode(enc["name"]))
    if "multi" in enc:
        return pd.MultiIndex.from_tuples(decode(enc["multi"]), names=decode(enc["names"]))
    column = enc["column"]
    values = _decode_column(column)
    return pd.Index(values, dtype=column["dtype"], name=decode(enc["name"]))


def decode(obj):
    """Rebuild the value :func:`encode` produced ``obj`` from."""
    kind = type(obj)
    if kind is list:
        return [decode(v) for v in obj]
    if kind is not dict:
        return obj
    if len(obj) >= 1:
        for tag in obj:
            break
        if tag.startswith("__"):
            return _decode_tagged(tag, obj)
    return {k: decode(v) for k, v in obj.items()}


def _decode_tagged(tag, obj):
    if tag == "__t":
        return tuple(decode(v) for v in obj["__t"])
    if tag == "__d":
        return {_hashable(decode(k)): decode(v) for k, v in obj["__d"]}
    if tag == "__c":
        return complex(*obj["__c"])
    if tag == "__b":
        return _unb64(obj["__b"])
    if tag == "__s":
        dtype = _dtype(obj["__s"])
        if "sb" in obj:
            return np.bytes_(_unb64(obj["sb"]))
        if "v" in obj:
            v = obj["v"]
            if dtype.kind == "c":
                return dtype.type(complex(*v))
            return dtype.type(v)
        return np.frombuffer(_unb64(obj["b"]), dtype=dtype)[0]
    if tag == "__a":
        dtype = _dtype(obj["__a"])
        return np.frombuffer(_unb64(obj["b"]), dtype=dtype).reshape(obj["shape"]).copy()
    if tag == "__ao":
        items = [decode(v) for v in obj["items"]]
        out = np.empty(len(items), dtype=object)
        out[:] = items if items else []
        return out.reshape(obj["__ao"])
    if tag == "__df":
        enc = obj["__df"]
        columns = _decode_index(enc["columns"])
        index = _decode_index(enc["index"])
        data = {i: _decode_column(c) for i, c in enumerate(enc["data"])}
        frame = pd.DataFrame(data, index=index)
        frame.columns = columns
        return frame
    if tag == "__sr":
        enc = obj["__sr"]
        return pd.Series(
            _decode_column(enc["data"]), index=_decode_index(enc["index"]), name=decode(enc["name"])
        )
    if tag == "__na":
        return pd.NA
    if tag == "__nat":
        return pd.NaT
    if tag == "__ts":
        return pd.Timestamp(obj["__ts"])
    return {k: decode(v) for k, v in obj.items()}


def _hashable(key):
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    return key


def utf8_ok(text):
    """Whether ``text`` can be stored as an HDF5 UTF-8 string (no NUL, no lone surrogate)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_json(value, path="value"):
    """Tagged-JSON text of ``value`` (see the module docstring); always valid UTF-8."""
    encoded = encode(value, path)
    text = json.dumps(encoded, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii() and not utf8_ok(text):
        # Lone surrogates cannot be UTF-8: let JSON escape them.
        text = json.dumps(encoded, ensure_ascii=True, separators=(",", ":"))
    return text


def from_json(text):
    """The value whose tagged-JSON text is ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return decode(json.loads(text))


# --------------------------------------------------------------------------- native HDF5 items

_PY_SCALARS = {int: "py:int", float: "py:float", bool: "py:bool", complex: "py:complex"}
_PY_FROM_KIND = {"py:int": int, "py:float": float, "py:bool": bool, "py:complex": complex}
_INT64 = (-(2**63), 2**63 - 1)


def native_array_dtype(dtype):
    """Whether h5py stores arrays of ``dtype`` natively and reads them back with the same dtype."""
    if dtype.kind in "biu":
        return True
    if dtype.kind == "f":
        return dtype.itemsize <= 8
    if dtype.kind == "c":
        return dtype.itemsize <= 16
    if dtype.kind == "S":
        return True
    return False


def dataset_options(shape, itemsize, settings):
    """Keyword arguments for ``create_dataset`` from the service's compression settings."""
    size = int(np.prod(shape)) if shape else 1
    if not shape or size == 0 or size * itemsize < 1024 or settings is None:
        return {}
    options = dict(settings.get("filters", {}))
    if options:
        options["chunks"] = True
    return options


def write_item(group, name, value, settings=None):
    """Write one item of a leaf into ``group`` and return the kind to remember for reading."""
    kind = type(value)
    if kind in _PY_SCALARS and not (kind is int and not _INT64[0] <= value <= _INT64[1]):
        group.attrs[name] = value
        return _PY_SCALARS[kind]
    if kind is str and len(value) <= MAX_ATTRIBUTE_CHARS and utf8_ok(value):
        group.attrs[name] = value
        return "str"
    if isinstance(value, np.generic) and _readable_numpy_scalar(value.dtype):
        group.attrs[name] = value
        return "np"
    if type(value) is np.ndarray:
        return _write_array(group, name, value, settings)
    if isinstance(value, pd.DataFrame) and not isinstance(value.columns, pd.MultiIndex):
        kind = _write_frame(group, name, value, settings)
        # An ObjectTable must come back as one: pypet-style leaves index it as such.
        return "otable" if isinstance(value, ObjectTable) else kind
    text = to_json(value, name)
    if len(text) <= MAX_ATTRIBUTE_CHARS:
        group.attrs[name] = text
        return "json"
    group.create_dataset(name, data=text, dtype=_STR_DTYPE)
    return "json_ds"


def _write_array(group, name, value, settings):
    dtype = value.dtype
    if native_array_dtype(dtype):
        group.create_dataset(name, data=value, **dataset_options(value.shape, dtype.itemsize, settings))
        return "array"
    if dtype.kind == "U" and all(utf8_ok(s) for s in value.ravel().tolist()):
        group.create_dataset(name, data=value.astype(object), dtype=_STR_DTYPE)
        return "ustr:" + dtype.str
    if dtype.kind in "mM":
        group.create_dataset(name, data=value.view(np.int64), **dataset_options(value.shape, 8, settings))
        return "dt:" + dtype.str
    text = to_json(value, name)
    group.create_dataset(name, data=text, dtype=_STR_DTYPE)
    return "json_ds"


def _write_frame(group, name, frame, settings):
    sub = group.create_group(name)
    meta = {"columns": _encode_index(frame.columns, name), "index": None, "dtypes": []}
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        meta["dtypes"].append(_write_column(sub, f"c{i}", column, settings))
    if isinstance(frame.index, (pd.RangeIndex, pd.MultiIndex)):
        meta["index"] = _encode_index(frame.index, name)
    else:
        meta["index"] = {"name": encode(frame.index.name), "kind": _write_column(sub, "index", pd.Series(frame.index), settings)}
    sub.attrs["__frame__"] = json.dumps(meta, ensure_ascii=False)
    sub.attrs["columns"] = json.dumps([str(c) for c in frame.columns], ensure_ascii=False)
    return "frame"


def _write_column(group, name, series, settings):
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and not dtype.hasobject:
        values = series.to_numpy()
        return [str(dtype), _write_array(group, name, values, settings)]
    values = series.to_numpy(dtype=object)
    if all(type(v) is str and utf8_ok(v) for v in values):
        group.create_dataset(name, data=values, dtype=_STR_DTYPE)
        return [str(dtype), "strs"]
    group.create_dataset(name, data=to_json(values, name), dtype=_STR_DTYPE)
    return [str(dtype), "json_ds"]


def _read_column(group, name, spec):
    dtype, kind = spec
    if kind == "strs":
        values = [v.decode("utf-8") for v in group[name][...].ravel()]
        return pd.array(values, dtype=dtype) if dtype != "object" else _object_array(values)
    values = read_item(group, name, kind)
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values
    return pd.array(list(values), dtype=dtype) if dtype != "object" else values


def _object_array(values):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def read_item(group, name, kind):
    """Read an item written by :func:`write_item` as kind ``kind``."""
    if kind in _PY_FROM_KIND:
        raw = group.attrs[name]
        if kind == "py:int":
            return int(raw)
        return _PY_FROM_KIND[kind](raw)
    if kind == "str":
        raw = group.attrs[name]
        return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    if kind == "np":
        return group.attrs[name]
    if kind == "json":
        return from_json(group.attrs[name])
    if kind == "json_ds":
        raw = group[name][()]
        return from_json(raw)
    if kind == "array":
        return group[name][...]
    if kind.startswith("ustr:"):
        raw = group[name][...]
        decoded = [v.decode("utf-8") for v in raw.ravel()]
        return np.array(decoded, dtype=kind[5:]).reshape(raw.shape)
    if kind.startswith("dt:"):
        return group[name][...].view(np.dtype(kind[3:]))
    if kind == "frame":
        return _read_frame(group[name])
    if kind == "otable":
        return ObjectTable(_read_frame(group[name]))
    raise ValueError(f"item {name!r} in {group.name} has unknown kind {kind!r}")


def _read_frame(sub):
    meta = json.loads(sub.attrs["__frame__"])
    data = {i: _read_column(sub, f"c{i}", spec) for i, spec in enumerate(meta["dtypes"])}
    enc_index = meta["index"]
    if "kind" in enc_index:
        values = _read_column(sub, "index", enc_index["kind"])
        index = pd.Index(values, dtype=enc_index["kind"][0], name=decode(enc_index["name"]))
    else:
        index = _decode_index(enc_index)
    frame = pd.DataFrame(data, index=index)
    frame.columns = _decode_index(meta["columns"])
    return frame


def is_nan_equal(a, b):
    """Equality that treats NaN as equal to NaN (for tests and duplicate checks)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def check_storable(value, path="value"):
    """Raise TypeError naming ``path`` if ``value`` has no exact encoding (cheap: arrays are not encoded)."""
    kind = type(value)
    if value is None or kind in (bool, str, int, float, complex, bytes):
        return
    if kind in (list, tuple):
        for i, v in enumerate(value):
            check_storable(v, f"{path}[{i}]")
        return
    if kind is dict:
        for k, v in value.items():
            check_storable(k, f"{path} key {k!r}")
            check_storable(v, f"{path}[{k!r}]")
        return
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            for i, v in enumerate(value.ravel().tolist()):
                check_storable(v, f"{path}[{i}]")
        return
    if isinstance(value, np.generic):
        if value.dtype.kind == "O":
            raise TypeError(f"{path}: numpy object scalars cannot be stored")
        return
    if isinstance(value, (pd.DataFrame, pd.Series)) or value is pd.NA or value is pd.NaT or isinstance(value, pd.Timestamp):
        return
    raise TypeError(
        f"{path}: values of type {kind.__module__}.{kind.__qualname__} cannot be stored "
        "exactly; use a PickleResult/PickleParameter for arbitrary objects"
    )
