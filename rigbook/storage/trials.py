"""``trials.csv``: one appended row per trial, with the types kept beside it.

The CSV stays a plain file any tool opens. Strings are always quoted and
missing values are left empty, so an empty string (``""``) and a missing
value (nothing) stay apart. Floats are written in their shortest exact
form, integers of any size in full.

What a CSV cannot say (is ``007`` a string? is ``True`` a bool?) lives in
the types sidecar, a small JSON file beside the CSV named
``.<csv stem>.types.json`` (``.trials.types.json``)::

    {"rigbook_trials_types": 1,
     "columns": [["block", "int"], ["rt", "float"], ["ok", "bool"],
                 ["label", "str"], ["note", "json"], ["never_set", "none"]]}

Kinds: ``int``, ``float`` (ints mixed with floats become floats), ``bool``,
``str``, ``none`` (only missing values so far) and ``json`` (a column that
mixes other kinds; its cells hold JSON text). The sidecar changes only when
a column appears or changes kind, and it is always replaced before the CSV
relies on it.

A row is appended with a single ``write`` call; a column that appears later
forces one rewrite of the file (temp file + ``os.replace``). A killed
process can leave at most a torn last row, which readers drop.
"""

import contextlib
import json
import logging
import math
import numbers
import os
from pathlib import Path

import numpy as np

from rigbook.storage.atomic import atomic_open, atomic_path
from rigbook.storage.durability import SyncedFile

logger = logging.getLogger(__name__)
#: bytes as written on Windows too (os.open there defaults to text mode, turning \n into \r\n)
_BINARY = getattr(os, "O_BINARY", 0)

TYPES_FORMAT = 1
_KINDS = ("none", "int", "float", "bool", "str", "json")
_QUOTE_NEEDED = set(',"\r\n')


def types_path(csv_path):
    """The types sidecar of ``csv_path``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(f".{csv_path.stem}.types.json")


class TrialWriter:
    """Write trial attributes to a CSV file, one appended row per trial.

    Parameters
    ----------
    filepath : str or Path
        The CSV file to create. It must not exist yet (a session never
        rewrites what another one wrote).

    Attributes
    ----------
    data : dict
        Column name -> list of every value written so far (None where a
        row had no value for the column).
    """

    def __init__(self, filepath):
        self.filepath = Path(filepath)
        if self.filepath.exists():
            raise FileExistsError(f"{self.filepath} already exists; a trial file is never rewritten")
        self.data = {}
        self._kinds = {}
        self._n_rows = 0
        self._fd = None
        self._synced = None

    def __len__(self):
        return self._n_rows

    @property
    def columns(self):
        """Column names, in the order they appear in the file."""
        return list(self._kinds)

    def write(self, data):
        """Append one row.

        Parameters
        ----------
        data : dict
            Column name -> value (int, float, bool, str, None or their
            numpy scalars). Columns never seen before are added, earlier
            rows getting a missing value; columns left out get a missing
            value in this row.

        Raises
        ------
        TypeError, ValueError
            A column name or a value that cannot be stored; nothing is
            written.
        OSError
            The file cannot be written (disk full...); the rows written
            before are left intact and the writer stays usable.
        """
        self.commit(self.prepare(data))

    def prepare(self, data):
        """Check a row and work out what writing it changes, without writing."""
        if not isinstance(data, dict):
            raise TypeError(f"a trial row must be a dict, got {type(data).__name__}")
        values = {}
        kinds = dict(self._kinds)
        for name, value in data.items():
            if name not in self._kinds:
                if not isinstance(name, str) or not name:
                    raise ValueError(f"trial attribute names must be non-empty strings, got {name!r}")
                _check_encodable(name, f"trial attribute name {name!r}")
            value, kind = _normalize(name, value)
            values[name] = value
            kinds[name] = _merge_kind(kinds.get(name, "none"), kind)
        return _PreparedRow(values, kinds)

    def commit(self, row):
        """Write a row returned by :meth:`prepare`."""
        if self._synced is not None:
            self._synced.raise_error()
        new_columns = [name for name in row.kinds if name not in self._kinds]
        to_json = [
            name for name, kind in self._kinds.items()
            if kind != "json" and row.kinds[name] == "json"
        ]
        if row.kinds != self._kinds or self._fd is None:
            self._write_types(row.kinds)
        if new_columns or to_json or self._fd is None:
            self._rewrite_with(row)
        else:
            self._append(_encode_row(row.values, row.kinds))
        self._kinds = row.kinds
        for name in new_columns:
            self.data[name] = [None] * self._n_rows
        for name, column in self.data.items():
            column.append(row.values.get(name))
        self._n_rows += 1

    def _write_types(self, kinds):
        document = {
            "rigbook_trials_types": TYPES_FORMAT,
            "columns": [[name, kind] for name, kind in kinds.items()],
        }
        with atomic_open(types_path(self.filepath), "w", encoding="utf-8") as f:
            json.dump(document, f, ensure_ascii=False)

    def _rewrite_with(self, row):
        """Write the whole file again (header change) with ``row`` appended."""
        header = ",".join(_header_cell(name) for name in row.kinds)
        lines = [header + "\n"]
        columns = list(row.kinds)
        for i in range(self._n_rows):
            old = {name: self.data[name][i] for name in self.data}
            lines.append(_encode_row(old, row.kinds, columns))
        lines.append(_encode_row(row.values, row.kinds, columns))
        with atomic_path(self.filepath) as tmp:
            with open(tmp, "wb") as f:
                f.write("".join(lines).encode("utf-8"))
        self._close_fd()
        self._fd = os.open(self.filepath, os.O_WRONLY | os.O_APPEND | _BINARY)
        self._size = os.fstat(self._fd).st_size
        self._synced = SyncedFile(self._fd, str(self.filepath))

    def _append(self, text):
        payload = text.encode("utf-8")
        before = self._size
        try:
            written = os.write(self._fd, payload)
            while written < len(payload):
                written += os.write(self._fd, payload[written:])
        except OSError:
            # Take back a partial row so the next append starts on a clean line.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            raise
        self._size = before + len(payload)
        self._synced.mark_dirty()

    def _close_fd(self):
        if self._fd is not None:
            synced, fd = self._synced, self._fd
            self._synced = self._fd = None
            try:
                synced.release(sync=True)
            finally:
                os.close(fd)

    def close(self):
        """fsync and close the file (idempotent)."""
        self._close_fd()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()


class _PreparedRow:
    __slots__ = ("values", "kinds")

    def __init__(self, values, kinds):
        self.values = values
        self.kinds = kinds


def _check_encodable(text, what):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{what} cannot be written as UTF-8: {error}") from None


def _normalize(name, value):
    """A value as the Python object stored and its kind."""
    if value is None:
        return None, "none"
    if isinstance(value, (bool, np.bool_)):
        return bool(value), "bool"
    if isinstance(value, (numbers.Integral,)) and not isinstance(value, (bool, np.bool_)):
        return int(value), "int"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return (None if math.isnan(value) else value), "float"
    if isinstance(value, str):
        _check_encodable(value, f"the value of trial attribute {name!r}")
        return str(value), "str"
    raise TypeError(
        f"trial attribute {name!r} is a {type(value).__name__} ({value!r:.60}); trial "
        "attributes must be int, float, bool, str or None (store arrays with Trial.add_array)"
    )


def _merge_kind(old, new):
    if new == "none" or old == new:
        return old
    if old == "none":
        return new
    if {old, new} == {"int", "float"}:
        return "float"
    return "json"


def _header_cell(name):
    if _QUOTE_NEEDED.intersection(name) or name != name.strip():
        return '"' + name.replace('"', '""') + '"'
    return name


def _encode_cell(value, kind):
    if value is None:
        return ""
    if kind == "json":
        return '"' + json.dumps(value, ensure_ascii=False).replace('"', '""') + '"'
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _encode_row(values, kinds, columns=None):
    columns = kinds if columns is None else columns
    return ",".join(_encode_cell(values.get(name), kinds[name]) for name in columns) + "\n"


# -- reading ---------------------------------------------------------------


def complete_prefix(raw):
    """The bytes of ``raw`` up to the end of its last complete CSV record.

    A record ends at a newline outside quotes; quotes inside values are
    doubled, so a newline is outside quotes exactly when an even number of
    quote characters precede it.
    """
    if not raw:
        return raw
    if raw.endswith(b"\n") and raw.count(b'"') % 2 == 0:
        return raw  # the usual case, found without scanning every byte: the last newline ends a record
    buffer = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == 0x0A)
    if newlines.size == 0:
        return b""
    quotes_before = np.cumsum(buffer == 0x22)[newlines]
    ends = newlines[quotes_before % 2 == 0]
    if ends.size == 0:
        return b""
    return raw[: int(ends[-1]) + 1]


def read_types(csv_path):
    """Column name -> kind from the sidecar of ``csv_path``, or None if there is none."""
    path = types_path(csv_path)
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        return {str(name): str(kind) for name, kind in document["columns"]}
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        logger.warning("ignoring unreadable types file %s: %s", path, error)
        return None


def read_trials(csv_path):
    """Read a trials CSV back as a DataFrame with the types it was written with.

    Parameters
    ----------
    csv_path : str or Path
        A file written by :class:`TrialWriter` (or any CSV: without a types
        sidecar, pandas infers the types).

    Returns
    -------
    pandas.DataFrame
        One row per complete record; a torn last record (the writer was
        killed mid-row) is left out. Missing values are NaN.
    """
    import pandas as pd
    import pyarrow as pa

    csv_path = Path(csv_path)
    kinds = read_types(csv_path)
    try:
        raw = csv_path.read_bytes()
    except FileNotFoundError:
        return pd.DataFrame({name: [] for name in (kinds or {})})
    raw = complete_prefix(raw)
    if not raw:
        return pd.DataFrame({name: [] for name in (kinds or {})})
    if kinds is None:
        import io

        return pd.read_csv(io.BytesIO(raw))
    names = _header_names(raw)
    if not names:  # rows were written, but none had any attribute
        return pd.DataFrame(index=pd.RangeIndex(raw.count(b"\n") - 1))
    try:
        return _read_typed(raw, names, kinds, csv_path)
    except pa.ArrowInvalid:  # a value Arrow cannot parse into its column's type (an int beyond int64)
        return _read_as_text(raw, names, kinds, csv_path)


def _read_as_text(raw, names, kinds, csv_path):
    """The trials table with every column parsed as text, then converted to its kind one by one."""
    import pyarrow as pa

    return _frame_of(_parse(raw, {name: pa.string() for name in names}), _convert, kinds, csv_path)


def _read_typed(raw, names, kinds, csv_path):
    """The trials table of :func:`_read_as_text`, faster: Arrow parses ints, floats and bools itself,
    and converts to pandas the columns it converts the same way. Raises pyarrow.ArrowInvalid
    for a value that does not fit its column's type."""
    import pyarrow as pa

    typed = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    table = _parse(raw, {name: typed.get(kinds.get(name), pa.string()) for name in names})
    direct = [name for name in table.column_names if _converts_alike(table[name], kinds.get(name))]
    if not direct:
        return _frame_of(table, _convert_typed, kinds, csv_path)
    # (One thread: a pool for 2 000 rows only adds hand-offs, milliseconds when the machine is busy.)
    if len(direct) == table.num_columns:
        return table.to_pandas(use_threads=False)
    frame = table.select(direct).to_pandas(use_threads=False)
    converted = set(direct)  # (a set: pandas' Index builds a hash table on the first `in`)
    for position, name in enumerate(table.column_names):
        if name not in converted:
            frame.insert(position, name, _convert_typed(table[name], kinds.get(name), name, csv_path))
    return frame


def _converts_alike(column, kind):
    # Whether Arrow's to_pandas gives what _convert gives: the same dtype, NaN for missing.
    if kind == "float":
        return True
    if kind in ("int", "bool", "str"):
        if not column.null_count:
            return True
        if kind == "int":  # float64 with NaN, as long as every int is exact as a float
            import pyarrow.compute as pc

            return all(abs(v) <= 2**53 for v in pc.min_max(column).as_py().values() if v is not None)
    return False


def _frame_of(table, convert, kinds, csv_path):
    import pandas as pd

    columns = {name: convert(table[name], kinds.get(name), name, csv_path) for name in table.column_names}
    return pd.DataFrame(columns, columns=table.column_names, copy=False)  # the arrays are new: no copy needed


def _parse(raw, column_types):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    # The streaming reader parses on this thread; read_csv hands blocks between threads even
    # with use_threads=False, which costs milliseconds whenever the machine is busy.
    reader = pcsv.open_csv(
        pa.py_buffer(raw),
        read_options=pcsv.ReadOptions(use_threads=False),
        # A row whose only cell is missing is an empty line: it still counts.
        parse_options=pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pcsv.ConvertOptions(
            column_types=column_types,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
            true_values=["True"],
            false_values=["False"],
        ),
    )
    return reader.read_all()


def _convert_typed(column, kind, name, csv_path):
    """A column of :func:`_read_typed` that to_pandas would not convert like :func:`_convert` does."""
    if kind not in ("int", "bool"):
        return _convert(column, kind, name, csv_path)  # parsed as text
    # With missing values: ints beyond 2**53 and bools are objects, NaN where missing.
    return np.array([np.nan if v is None else v for v in column.to_pylist()], dtype=object)


def _header_names(raw):
    import csv
    import io

    # csv.reader parses lazily: only the header record is read.
    return next(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")), [])


def _convert(column, kind, name, csv_path):
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    n_missing = column.null_count
    if kind in (None, "str"):
        if kind is None:
            logger.warning("column %r of %s has no recorded type; reading it as text", name, csv_path)
        values = column.to_numpy(zero_copy_only=False)
        if n_missing:
            values = np.where(pc.is_null(column).to_numpy(zero_copy_only=False), np.nan, values)
        return values
    if kind == "none":
        return np.full(len(column), np.nan)
    if kind == "float":
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    if kind == "bool":
        values = pc.equal(column, "True")
        if n_missing:
            return np.array([np.nan if v is None else v for v in values.to_pylist()], dtype=object)
        return values.to_numpy(zero_copy_only=False)
    if kind == "int":
        python_values = [None if v is None else int(v) for v in column.to_pylist()]
        present = [v for v in python_values if v is not None]
        if not n_missing:
            try:
                return np.array(python_values, dtype=np.int64)
            except OverflowError:
                return np.array(python_values, dtype=object)
        if all(abs(v) <= 2**53 for v in present):
            return np.array([np.nan if v is None else v for v in python_values], dtype=np.float64)
        return np.array([np.nan if v is None else v for v in python_values], dtype=object)
    if kind == "json":
        result = np.empty(len(column), dtype=object)
        for i, text in enumerate(column.to_pylist()):
            if text is None:
                result[i] = np.nan
                continue
            try:
                result[i] = json.loads(text)
            except ValueError:
                # The sidecar turned json before the rewrite landed: the text is the value.
                result[i] = text
        return result
    raise ValueError(f"{csv_path}: unknown type {kind!r} recorded for column {name!r}")

