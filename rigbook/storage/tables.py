"""The one table writer: csv, feather, parquet, hdf5 and json exports.

Every export in Rigbook (accumulators, stream logs, the app's end-of-session
exports) goes through :func:`write_table`, so a format behaves the same
wherever it is written. Column order and dtypes are kept; floats are written
in their shortest exact form, so csv and json read back bit for bit.

The hdf5 layout needs nothing but h5py to read: one 1-D dataset per column
at the file's root, and the root attribute ``columns`` giving their order::

    with h5py.File(path) as f:
        df = pd.DataFrame({c: f[c][()] for c in f.attrs["columns"]})
"""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rigbook.storage.atomic import atomic_open, atomic_path, check_absent
from rigbook.storage.stream_info import METADATA_KEY, StreamInfo, sidecar_path

#: Supported export formats and the file suffix each one gets.
FORMATS = {
    "csv": ".csv",
    "feather": ".feather",
    "parquet": ".parquet",
    "hdf5": ".hdf5",
    "json": ".json",
}

HDF5_TABLE_FORMAT = 1
#: Formats that cannot hold a description: it goes into ``<file>.meta.json``.
_SIDECAR_FORMATS = ("csv", "json")


def check_format(format):
    """Return ``format`` lower-cased if it is supported, else raise ValueError naming it."""
    key = str(format).lower().lstrip(".")
    if key in ("h5", "hdf"):
        key = "hdf5"
    if key not in FORMATS:
        raise ValueError(
            f"unknown table format {format!r}; supported formats are {', '.join(FORMATS)}"
        )
    return key


def format_path(path, format):
    """``path`` with the format's suffix appended unless it already ends in it."""
    path = Path(path)
    suffix = FORMATS[check_format(format)]
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)


def to_arrow(data):
    """Convert a table-like object to a :class:`pyarrow.Table` without copying numeric columns.

    Accepts a ``pyarrow.Table`` or ``RecordBatch``, a pandas DataFrame (its
    index is dropped), a numpy structured array, or a mapping of column name
    to 1-D array (all of one length).
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, np.ndarray) and data.dtype.names:
        return pa.table({name: np.ascontiguousarray(data[name]) for name in data.dtype.names})
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, dict):
        lengths = {name: len(col) for name, col in data.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"table columns have different lengths: {lengths}")
        return pa.table({str(name): _as_column(name, col) for name, col in data.items()})
    raise TypeError(
        "expected a pyarrow Table, pandas DataFrame, numpy structured array or "
        f"dict of columns, got {type(data).__name__}"
    )


def _as_column(name, values):
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D, got shape {array.shape}")
    return array


def write_table(table, path, format=None, overwrite=False, metadata=None):
    """Write a table to ``path`` in one of :data:`FORMATS`, atomically.

    Parameters
    ----------
    table : table-like
        Anything :func:`to_arrow` accepts.
    path : str or Path
        Destination. The format's suffix is appended unless ``path``
        already ends with it.
    format : str, optional
        One of ``csv``, ``feather``, ``parquet``, ``hdf5``, ``json``;
        taken from the suffix of ``path`` when omitted.
    overwrite : bool
        Replace an existing file (atomically); by default an existing file
        is an error and is left as it was.
    metadata : StreamInfo, optional
        What the numbers mean (time origin, units, descriptions); written
        inside the file (Arrow schema metadata, HDF5 attributes) or, for
        csv and json, into the sidecar ``<file>.meta.json``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileExistsError
        ``path`` (or the sidecar) exists and ``overwrite`` is false; the
        message names it.
    ValueError
        Unknown format, or a column name the format cannot hold.
    OSError
        The destination cannot be written; an existing file there is left
        as it was.
    """
    if format is None:
        format = Path(path).suffix
        if not format:
            raise ValueError(f"no format given and {str(path)!r} has no suffix to infer it from")
    format = check_format(format)
    path = format_path(path, format)
    arrow_table = to_arrow(table)
    if metadata is None:
        metadata = StreamInfo.from_schema(arrow_table.schema)
    elif not isinstance(metadata, StreamInfo):
        raise TypeError(f"metadata must be a StreamInfo, got {type(metadata).__name__}")
    if metadata is not None:
        arrow_table = arrow_table.cast(metadata.apply_to_schema(arrow_table.schema))
    check_absent(path, overwrite)
    if format in _SIDECAR_FORMATS:
        sidecar = sidecar_path(path)
        check_absent(sidecar, overwrite)
        if metadata is not None:
            # The description first: a data file never exists without it.
            with atomic_open(sidecar, "w", encoding="utf-8", overwrite=overwrite) as f:
                json.dump(metadata.to_dict(), f, ensure_ascii=False, indent=1)
        elif overwrite and sidecar.exists():
            sidecar.unlink()  # it described the file being replaced
    _WRITERS[format](arrow_table, path, overwrite)
    return path


def read_table(path, format=None):
    """Read a file written by :func:`write_table` back as a pandas DataFrame."""
    import pandas as pd

    path = Path(path)
    format = check_format(format or path.suffix)
    if format == "csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path).to_pandas()
    if format == "feather":
        import pyarrow.feather as pf

        return pf.read_table(path).to_pandas()
    if format == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    if format == "json":
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
        return pd.DataFrame.from_records(records)
    import h5py

    with h5py.File(path, "r") as f:
        columns = [str(c) for c in f.attrs["columns"]]
        data = {}
        for name in columns:
            values = f[name][()]
            if f[name].attrs.get("kind") == "string":
                values = np.array([v.decode("utf-8") for v in values], dtype=object)
            data[name] = values
    return pd.DataFrame(data, columns=columns)


def _write_csv(table, path, overwrite):
    import pyarrow.csv as pcsv

    with atomic_path(path, overwrite=overwrite) as tmp:
        pcsv.write_csv(table, tmp)


def _write_feather(table, path, overwrite):
    import pyarrow.feather as pf

    with atomic_path(path, overwrite=overwrite) as tmp:
        # Uncompressed: lz4 gains little on sensor noise, and an uncompressed
        # file can be memory-mapped by readers (zero-copy for big sessions).
        pf.write_feather(table, tmp, compression="uncompressed")


def _write_parquet(table, path, overwrite):
    import pyarrow.parquet as pq

    with atomic_path(path, overwrite=overwrite) as tmp:
        pq.write_table(table, tmp)


def _write_hdf5(table, path, overwrite):
    import h5py

    for name in table.column_names:
        if "/" in name or name in (".", ""):
            raise ValueError(f"column name {name!r} cannot be an HDF5 dataset name")
    with atomic_path(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["rigbook_table_format"] = HDF5_TABLE_FORMAT
            f.attrs["columns"] = table.column_names
            info = StreamInfo.from_schema(table.schema)
            if info is not None:
                f.attrs[METADATA_KEY] = info.to_json()
                if info.t0_wall_clock is not None:
                    f.attrs["t0_wall_clock"] = info.t0_wall_clock
            for name in table.column_names:
                column = table[name]
                kind = column.type
                if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                    values = np.array(
                        ["" if v is None else v for v in column.to_pylist()], dtype=object
                    )
                    dataset = f.create_dataset(name, data=values, dtype=h5py.string_dtype())
                    dataset.attrs["kind"] = "string"
                elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
                    values = column.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy(
                        zero_copy_only=False
                    )
                    dataset = f.create_dataset(name, data=values)
                    dataset.attrs["kind"] = "datetime64[ns]"
                else:
                    dataset = f.create_dataset(name, data=column.to_numpy(zero_copy_only=False))
                if info is not None:
                    for key, text in (("unit", info.unit(name)), ("description", info.description(name))):
                        if text is not None:
                            dataset.attrs[key] = text


def _write_json(table, path, overwrite):
    """Write an array of row objects; floats exact, NaN and infinities as null."""
    names = table.column_names
    n_rows = table.num_rows
    with ThreadPoolExecutor(max_workers=2) as pool:
        values = list(pool.map(lambda name: _json_values(name, table[name]), names))
    with atomic_open(path, "wb", overwrite=overwrite) as f:
        f.write(b"[\n")
        if n_rows and names:
            parts = []
            for i, (name, column) in enumerate(zip(names, values)):
                key = ("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":"
                parts += [pa.scalar(key), column]
            parts.append(pa.scalar("},\n"))
            rows = pc.binary_join_element_wise(*parts, "")
            rows = rows.cast(pa.large_string())
            if isinstance(rows, pa.ChunkedArray):
                rows = rows.combine_chunks()
            # A string array keeps its values back to back in one buffer:
            # the whole body is a slice of it, minus the last row's comma.
            offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)
            start, end = int(offsets[rows.offset]), int(offsets[rows.offset + n_rows])
            f.write(memoryview(rows.buffers()[2])[start : end - 2])
            f.write(b"\n")
        elif n_rows:
            f.write(b",\n".join([b"{}"] * n_rows) + b"\n")
        f.write(b"]\n")


def _json_values(name, column):
    """Each value of ``column`` as JSON text, in a pyarrow string array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_floating(kind):
        text = pc.cast(column, pa.string())
        # Arrow prints 3.0 as "3" (and -0.0 as "-0"); keep them floats for JSON readers.
        integral = pc.match_substring_regex(text, r"^-?[0-9]+$")
        text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
        text = pc.if_else(pc.is_finite(column), text, pa.scalar("null"))
        return text.fill_null("null")
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.string()).fill_null("null")
    if pa.types.is_boolean(kind):
        return pc.if_else(column, pa.scalar("true"), pa.scalar("false")).fill_null("null")
    if pa.types.is_null(kind):
        return pa.array(["null"] * len(column), pa.string())
    return pa.array([_json_text(name, v) for v in column.to_pylist()], pa.string())


def _json_text(name, value):
    if value is None:
        return "null"
    if hasattr(value, "isoformat"):
        return json.dumps(value.isoformat())
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"column {name!r}: cannot write {value!r} as JSON ({error})") from None


_WRITERS = {
    "csv": _write_csv,
    "feather": _write_feather,
    "parquet": _write_parquet,
    "hdf5": _write_hdf5,
    "json": _write_json,
}
