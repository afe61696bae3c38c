"""What a stream's numbers mean: its time origin, and each field's unit and description.

A :class:`StreamInfo` travels with the data into every file Rigbook writes
for a stream, so that the file explains itself without Rigbook:

- Arrow files (stream logs ``.arrows``, ``.feather``, ``.parquet``): the
  schema metadata key ``rigbook`` holds :meth:`StreamInfo.to_dict` as JSON,
  and each described field carries ``unit`` / ``description`` in its own
  field metadata;
- HDF5 exports: the root attribute ``rigbook`` holds the same JSON, the root
  attribute ``t0_wall_clock`` the wall-clock time of ``t = 0``, and each
  column's dataset has ``unit`` / ``description`` attributes;
- csv and json exports: the sidecar ``<file>.meta.json`` beside the file
  (``tracker.csv`` -> ``tracker.csv.meta.json``) holds the same JSON.

``t`` counts seconds from ``t = 0``, the recording's start; ``t0_wall_clock``
is the wall-clock time (ISO 8601 with time zone) of ``t = 0``, and
``t0_monotonic`` the value of :func:`time.monotonic` then (to line up other
logs of the same machine).
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

#: Key of the JSON document in Arrow schema metadata and HDF5 attributes.
METADATA_KEY = "rigbook"
#: Suffix of the sidecar of a csv or json export.
SIDECAR_SUFFIX = ".meta.json"
INFO_FORMAT = 1
TIME_COLUMN = "t"
TIME_UNIT = "s"
TIME_DESCRIPTION = "seconds since t = 0, the start of the recording (see t0_wall_clock)"


def check_wall_clock(text, what):
    """Return ``text`` if it is an ISO 8601 time with a time zone, else raise ValueError naming ``what``."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 time, got {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what} must say its time zone (e.g. '+00:00'), got {text!r}")
    return str(text)


@dataclass(frozen=True)
class StreamInfo:
    """A stream's time origin and field descriptions, written into its files.

    Parameters
    ----------
    t0_wall_clock : str, optional
        Wall-clock time of ``t = 0`` (the recording's start), ISO 8601 with
        a time zone, e.g. ``"2026-12-05T19:59:01.887225+00:00"``.
    t0_monotonic : float, optional
        :func:`time.monotonic` at ``t = 0``.
    recording_started : str, optional
        Wall-clock time the recording started (ISO 8601 with a time zone);
        the same as ``t0_wall_clock`` for a session recorded by Rigbook.
    units : dict of str to str
        Field -> unit (``{"x": "mm"}``); ``t`` is in seconds unless given.
    descriptions : dict of str to str
        Field -> what it is.
    attrs : dict
        Anything else JSON-able worth keeping with the data (the stream's
        name, category, source...).

    Raises
    ------
    ValueError
        A wall-clock time without a time zone, or a unit that is not text.
    """

    t0_wall_clock: str = None
    t0_monotonic: float = None
    recording_started: str = None
    units: dict = field(default_factory=dict)
    descriptions: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("t0_wall_clock", "recording_started"):
            value = getattr(self, name)
            if value is not None:
                check_wall_clock(value, f"StreamInfo.{name}")
        if self.t0_monotonic is not None:
            object.__setattr__(self, "t0_monotonic", float(self.t0_monotonic))
        for what in ("units", "descriptions"):
            mapping = getattr(self, what)
            if not isinstance(mapping, dict):
                raise TypeError(f"StreamInfo.{what} must be a dict of field -> text, got {mapping!r}")
            for key, value in mapping.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise ValueError(f"StreamInfo.{what}: {key!r} -> {value!r} is not text -> text")
        units = {TIME_COLUMN: TIME_UNIT, **self.units}
        descriptions = {TIME_COLUMN: TIME_DESCRIPTION, **self.descriptions}
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "descriptions", descriptions)
        json.dumps(self.attrs)  # fail now, not when a file is written

    def unit(self, name):
        """The unit of field ``name``, or None."""
        return self.units.get(name)

    def description(self, name):
        """The description of field ``name``, or None."""
        return self.descriptions.get(name)

    def to_dict(self):
        """A JSON-able dict: what the files hold."""
        return {
            "rigbook_stream_info": INFO_FORMAT,
            "t0_wall_clock": self.t0_wall_clock,
            "t0_monotonic": self.t0_monotonic,
            "recording_started": self.recording_started,
            "time_column": TIME_COLUMN,
            "units": dict(self.units),
            "descriptions": dict(self.descriptions),
            "attrs": dict(self.attrs),
        }

    def to_json(self):
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, document):
        """The info described by :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            ``document`` is not such a dict.
        """
        if not isinstance(document, dict) or "rigbook_stream_info" not in document:
            raise ValueError("not a Rigbook stream description (no 'rigbook_stream_info' key)")
        return cls(
            t0_wall_clock=document.get("t0_wall_clock"),
            t0_monotonic=document.get("t0_monotonic"),
            recording_started=document.get("recording_started"),
            units=dict(document.get("units") or {}),
            descriptions=dict(document.get("descriptions") or {}),
            attrs=dict(document.get("attrs") or {}),
        )

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    # -- Arrow ---------------------------------------------------------------

    def apply_to_schema(self, schema):
        """``schema`` with this info in its metadata and its fields' metadata."""
        import pyarrow as pa

        fields = []
        for arrow_field in schema:
            extra = {}
            if arrow_field.name in self.units:
                extra[b"unit"] = self.units[arrow_field.name].encode()
            if arrow_field.name in self.descriptions:
                extra[b"description"] = self.descriptions[arrow_field.name].encode()
            if extra:
                arrow_field = arrow_field.with_metadata({**(arrow_field.metadata or {}), **extra})
            fields.append(arrow_field)
        metadata = {**(schema.metadata or {}), METADATA_KEY.encode(): self.to_json().encode()}
        return pa.schema(fields, metadata=metadata)

    @classmethod
    def from_schema(cls, schema):
        """The info an Arrow schema carries, or None."""
        text = (schema.metadata or {}).get(METADATA_KEY.encode())
        if text is None:
            return None
        return cls.from_json(text.decode("utf-8"))


def sidecar_path(path):
    """The description sidecar of a csv or json export (``x.csv`` -> ``x.csv.meta.json``)."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_info(path):
    """The :class:`StreamInfo` stored in or beside a file Rigbook wrote, or None.

    Works for stream logs, feather, parquet, hdf5, csv and json exports.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        sidecar = sidecar_path(path)
        if not sidecar.exists():
            return None
        with open(sidecar, encoding="utf-8") as f:
            return StreamInfo.from_dict(json.load(f))
    if suffix in (".hdf5", ".h5"):
        import h5py

        with h5py.File(path, "r") as f:
            text = f.attrs.get(METADATA_KEY)
        return None if text is None else StreamInfo.from_json(text)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return StreamInfo.from_schema(pq.read_schema(path))
    if suffix == ".feather":
        import pyarrow as pa

        with pa.memory_map(str(path)) as source:
            return StreamInfo.from_schema(pa.ipc.open_file(source).schema)
    if suffix == ".arrows":
        import pyarrow as pa

        with open(path, "rb") as f, pa.ipc.open_stream(f) as reader:
            return StreamInfo.from_schema(reader.schema)
    raise ValueError(f"cannot tell the description of {path}: unknown suffix {suffix!r}")


def t0_from_metadata(metadata):
    """The wall-clock time of ``t = 0`` a session's ``metadata.json`` gives, or None.

    Looked up in order: ``general.t0_wall_clock`` (sessions whose ``t``
    counts from the recording's start); else, for older sessions whose
    ``t`` counted from the app's start, ``general.recording_started`` minus
    ``general.recording_t_start`` seconds.
    """
    general = metadata.get("general") if isinstance(metadata, dict) else None
    if not isinstance(general, dict):
        return None
    text = general.get("t0_wall_clock")
    if isinstance(text, str):
        return check_wall_clock(text, "general.t0_wall_clock")
    started, t_start = general.get("recording_started"), general.get("recording_t_start")
    if isinstance(started, str) and isinstance(t_start, (int, float)):
        moment = datetime.fromisoformat(check_wall_clock(started, "general.recording_started"))
        return (moment - timedelta(seconds=float(t_start))).isoformat()
    return None
