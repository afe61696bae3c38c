"""Column-wise storage of per-run values: one dataset per (leaf, item) for all runs.

A column is an HDF5 group holding ``run_idx`` (int64, one row per stored
value, the run index it belongs to) and ``values`` (one row per value), plus
the attribute ``kind`` saying how rows decode:

=============== ================================= ===========================
kind            ``values`` dataset                 row decodes to
=============== ================================= ===========================
``py:float``    float64 ``(n,)``                   Python float
``py:int``      int64 ``(n,)``                     Python int
``py:bool``     bool ``(n,)``                      Python bool
``py:complex``  complex128 ``(n,)``                Python complex
``np``          the scalar's dtype ``(n,)``        numpy scalar of that dtype
``array``       array dtype ``(n, *shape)``        numpy array ``shape``
``str``         UTF-8 strings ``(n,)``             Python str
``json``        UTF-8 strings ``(n,)``             tagged JSON (see ``codec``)
=============== ================================= ===========================

Appends are buffered in memory and written in blocks (one resize and one
write per column per block), which is what makes thousands of runs cheap.
A value that does not fit a column's kind turns the column into ``json``
(existing rows are re-encoded once).
"""

import logging

import h5py
import numpy as np

from rigbook.trajectory import codec

logger = logging.getLogger(__name__)

STR_DTYPE = h5py.string_dtype("utf-8")
_PY_KINDS = {float: ("py:float", np.dtype("f8")), int: ("py:int", np.dtype("i8")),
             bool: ("py:bool", np.dtype("bool")), complex: ("py:complex", np.dtype("c16"))}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def kind_of(value):
    """``(kind, dtype, row_shape)`` a column needs to hold ``value`` natively."""
    t = type(value)
    if t in _PY_KINDS:
        if t is int and not _INT64_MIN <= value <= _INT64_MAX:
            return ("json", None, ())
        kind, dtype = _PY_KINDS[t]
        return (kind, dtype, ())
    if t is str:
        return ("str", None, ()) if codec.utf8_ok(value) else ("json", None, ())
    if isinstance(value, np.generic):
        dtype = value.dtype
        if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8) or (dtype.kind == "c" and dtype.itemsize <= 16):
            return ("np", dtype, ())
        return ("json", None, ())
    if t is np.ndarray and codec.native_array_dtype(value.dtype) and value.size > 0:
        return ("array", value.dtype, value.shape)
    return ("json", None, ())


def _fits(spec, value):
    return kind_of(value) == spec


def _encode_block(spec, values):
    kind, dtype, shape = spec
    if kind in ("str",):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    if kind == "json":
        out = np.empty(len(values), dtype=object)
        out[:] = [codec.to_json(v) for v in values]
        return out
    if kind == "array":
        if not values:
            return np.empty((0,) + tuple(shape), dtype=dtype)
        return np.stack(values)
    return np.array(values, dtype=dtype)


def _decode_rows(kind, data):
    if kind in ("py:float", "py:int", "py:bool", "py:complex"):
        return data.tolist()
    if kind == "np":
        return list(data)
    if kind == "array":
        if data.ndim == 1:
            # data[i, ...] is a 0-d array of the column's own dtype; np.array(data[i])
            # would turn a big-endian (or other non-native) dtype into the native one.
            return [data[i, ...] for i in range(len(data))]
        return list(data)
    if kind == "str":
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in data.tolist()]
    if kind == "json":
        return [codec.from_json(v) for v in data.tolist()]
    raise ValueError(f"unknown column kind {kind!r}")


def _spec_of(group, values=None):
    kind = group.attrs["kind"]
    if isinstance(kind, bytes):
        kind = kind.decode()
    if values is None:
        values = group["values"]
    dtype = values.dtype if kind in ("np", "array") or kind.startswith("py:") else None
    return (kind, dtype, values.shape[1:])


_MAX_CHUNK_ROWS = 1024


def _chunk_rows(row_bytes):
    # ~1 MiB chunks for array rows, at most 1024 rows for scalars (8 KiB of
    # float64): appending one row rewrites (and recompresses) the last chunk,
    # which a LOCK-mode worker does for every run it stores.
    return int(min(_MAX_CHUNK_ROWS, max(1, (1 << 20) // max(row_bytes, 1))))


def _create(parent, name, spec, filters):
    kind, dtype, shape = spec
    group = parent.create_group(name)
    group.attrs["kind"] = kind
    row_bytes = (dtype.itemsize * int(np.prod(shape))) if dtype is not None else 64
    rows = _chunk_rows(row_bytes)
    group.create_dataset("run_idx", shape=(0,), maxshape=(None,), dtype="i8", chunks=(_MAX_CHUNK_ROWS,),
                         **({k: v for k, v in filters.items() if k in ("compression", "compression_opts", "shuffle", "fletcher32")}
                            if filters.get("compression") in ("gzip", "lzf") else {}))
    ds_dtype = dtype if dtype is not None else STR_DTYPE
    # Compression of variable-length strings only packs the heap pointers and
    # some filter plugins (blosc) crash on them, so only checksums apply there.
    if dtype is None:
        options = {"fletcher32": True} if filters.get("fletcher32") else {}
    else:
        options = dict(filters) if row_bytes * rows >= 4096 else {}
    group.create_dataset("values", shape=(0,) + tuple(shape), maxshape=(None,) + tuple(shape),
                         dtype=ds_dtype, chunks=(rows,) + tuple(max(s, 1) for s in shape), **options)
    return group


def read_column(group, rows=None):
    """``(run_idx array, list of values)`` of a column; ``rows`` selects row positions."""
    kind = group.attrs["kind"]
    if isinstance(kind, bytes):
        kind = kind.decode()
    run_idx = group["run_idx"][...]
    values = group["values"]
    if rows is None:
        data = values[...]
    else:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return run_idx[:0], []
        if len(rows) > 1 and len(rows) * 8 > len(run_idx):
            # Many rows: one contiguous read beats an HDF5 point selection.
            data = values[...][rows]
        else:
            data = values[rows] if len(rows) > 1 else values[rows[0]: rows[0] + 1]
        run_idx = run_idx[rows]
    return run_idx, _decode_rows(kind, data)


def rows_of_run(group, idx):
    """Row positions of run ``idx`` (an int, or a collection of ints) in a column."""
    run_idx = group["run_idx"][...]
    if isinstance(idx, (int, np.integer)):
        return np.flatnonzero(run_idx == idx)
    return np.flatnonzero(np.isin(run_idx, np.fromiter(idx, dtype=np.int64)))


def _convert_to_json(parent, name, filters):
    group = parent[name]
    run_idx, values = read_column(group)
    del parent[name]
    spec = ("json", None, ())
    group = _create(parent, name, spec, filters)
    _append_block(group, spec, run_idx, values)
    return group


def _append_block(group, spec, run_idx, values, val_ds=None):
    block = _encode_block(spec, values)
    idx_ds = group["run_idx"]
    if val_ds is None:
        val_ds = group["values"]
    start = idx_ds.shape[0]
    stop = start + len(values)
    _append_rows(idx_ds, start, np.asarray(run_idx, dtype=np.int64))
    if block.dtype == object:
        val_ds.resize((stop,) + val_ds.shape[1:])
        val_ds[start:stop] = block
    else:
        _append_rows(val_ds, start, block)


def _append_rows(dataset, start, block):
    """Grow ``dataset`` to ``start + len(block)`` rows and write ``block`` there."""
    dataset.id.set_extent((start + len(block),) + dataset.shape[1:])
    write_rows(dataset, start, block)


def write_rows(dataset, start, block):
    """Write the numeric rows ``block`` into ``dataset`` from row ``start`` on.

    Uses h5py's low-level calls: the high-level resize and slice assignment
    cost about three times as much per call, which counts when every run is
    stored on its own (LOCK mode). No string conversion: numeric dtypes only.
    """
    block = np.ascontiguousarray(block, dtype=dataset.dtype)
    if not block.size:
        return
    file_space = dataset.id.get_space()
    file_space.select_hyperslab((start,) + (0,) * (block.ndim - 1), block.shape)
    dataset.id.write(h5py.h5s.create_simple(block.shape), file_space, block)


def append_column(parent, name, run_idx, values, filters):
    """Append values (with their run indices) to column ``name`` below ``parent``, creating it if needed."""
    if not values:
        return
    specs = [kind_of(v) for v in values]
    first = specs[0]
    uniform = all(s == first for s in specs)
    group = parent.get(name)
    val_ds = None
    if group is not None:
        val_ds = group["values"]
        spec = _spec_of(group, val_ds)
        if spec[0] != "json" and not (uniform and first == spec):
            group = _convert_to_json(parent, name, filters)
            spec = ("json", None, ())
            val_ds = None
    else:
        spec = first if uniform else ("json", None, ())
        group = _create(parent, name, spec, filters)
    _append_block(group, spec, run_idx, values, val_ds)


def delete_rows(parent, name, keep_mask_fn, filters):
    """Rewrite column ``name`` keeping rows where ``keep_mask_fn(run_idx)`` is true; drop it if empty."""
    group = parent[name]
    run_idx = group["run_idx"][...]
    keep = keep_mask_fn(run_idx)
    if keep.all():
        return False
    spec = _spec_of(group)
    if spec[0] in ("str", "json"):
        spec = (spec[0], None, ())
    kept_rows = np.flatnonzero(keep)
    _, values = read_column(group, kept_rows) if len(kept_rows) else (None, [])
    del parent[name]
    if len(kept_rows):
        group = _create(parent, name, spec, filters)
        _append_block(group, spec, run_idx[kept_rows], values)
    return True


class ColumnBuffer:
    """Pending appends, per (parent path, column name), written in blocks by :meth:`flush`."""

    def __init__(self):
        self._pending = {}
        self.rows = 0

    def add(self, parent_path, name, run_idx, value):
        key = (parent_path, name)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = ([], [])
        entry[0].append(run_idx)
        entry[1].append(value)
        self.rows += 1

    def __bool__(self):
        return bool(self._pending)

    def flush(self, h5file, filters):
        pending, self._pending = self._pending, {}
        self.rows = 0
        parents = {}
        for (parent_path, name), (run_idx, values) in pending.items():
            parent = parents.get(parent_path)
            if parent is None:
                parent = parents[parent_path] = h5file.require_group(parent_path)
            append_column(parent, name, run_idx, values, filters)

    def clear(self):
        self._pending = {}
        self.rows = 0
