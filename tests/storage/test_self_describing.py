"""Every file a stream becomes says its time origin and units, readable with plain libraries."""

import json

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as pf
import pyarrow.parquet as pq
import pytest

from rigbook.collectors.accumulators import Accumulator
from rigbook.collectors.recording import StreamRecorder
from rigbook.storage import StreamInfo, StreamWriter, export_stream, read_stream, write_table
from rigbook.storage.stream_info import read_info

T0 = "2026-12-05T19:59:01.887225+01:00"
INFO = StreamInfo(
    t0_wall_clock=T0,
    t0_monotonic=245.5,
    recording_started=T0,
    units={"x": "mm", "tail_angle": "rad"},
    descriptions={"x": "head position along the tank"},
    attrs={"stream": "tracker", "category": "behavior"},
)


def write_log(path, info=INFO):
    with StreamWriter(path, metadata=info) as writer:
        for start in (0, 4):
            writer.append(pa.record_batch({
                "t": np.arange(start, start + 4) / 100.0,
                "x": np.arange(start, start + 4, dtype=np.int16),
                "tail_angle": np.linspace(0, 1, 4, dtype=np.float32),
            }))
    return path


def test_log_schema_says_origin_and_units(tmp_path):
    log = write_log(tmp_path / "streams" / "tracker.arrows")
    with pa.ipc.open_stream(log.read_bytes()) as reader:  # plain pyarrow
        schema = reader.schema
    document = json.loads(schema.metadata[b"rigbook"])
    assert document["t0_wall_clock"] == T0
    assert document["t0_monotonic"] == 245.5
    assert schema.field("x").metadata[b"unit"] == b"mm"
    assert schema.field("t").metadata[b"unit"] == b"s"
    assert schema.field("x").metadata[b"description"] == b"head position along the tank"
    assert read_stream(log).column("x").type == pa.int16()


@pytest.mark.parametrize("fmt", ["feather", "parquet"])
def test_arrow_exports_keep_the_description(tmp_path, fmt):
    log = write_log(tmp_path / "streams" / "tracker.arrows")
    out = export_stream(log, fmt)
    assert out == tmp_path / f"tracker.{fmt}"
    schema = (pf.read_table(out) if fmt == "feather" else pq.read_table(out)).schema
    assert json.loads(schema.metadata[b"rigbook"])["t0_wall_clock"] == T0
    assert schema.field("tail_angle").metadata[b"unit"] == b"rad"
    assert pd.read_feather(out).x.dtype == np.int16 if fmt == "feather" else True


def test_hdf5_export_has_attributes(tmp_path):
    out = export_stream(write_log(tmp_path / "streams" / "tracker.arrows"), "hdf5")
    with h5py.File(out, "r") as f:
        assert f.attrs["t0_wall_clock"] == T0
        assert json.loads(f.attrs["rigbook"])["units"]["x"] == "mm"
        assert f["x"].attrs["unit"] == "mm"
        assert f["t"].attrs["unit"] == "s"
        assert f["x"].attrs["description"] == "head position along the tank"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_text_exports_get_a_sidecar(tmp_path, fmt):
    out = export_stream(write_log(tmp_path / "streams" / "tracker.arrows"), fmt)
    sidecar = out.with_name(out.name + ".meta.json")
    with open(sidecar, encoding="utf-8") as f:
        document = json.load(f)
    assert document["t0_wall_clock"] == T0
    assert document["units"] == {"t": "s", "x": "mm", "tail_angle": "rad"}
    assert document["time_column"] == "t"
    data = pd.read_csv(out) if fmt == "csv" else pd.read_json(out)
    assert data.x.tolist() == list(range(8))


@pytest.mark.parametrize("fmt", ["csv", "feather", "parquet", "hdf5", "json"])
def test_read_info_round_trips(tmp_path, fmt):
    out = export_stream(write_log(tmp_path / "streams" / "tracker.arrows"), fmt)
    assert read_info(out) == INFO


def test_write_table_takes_metadata_directly(tmp_path):
    out = write_table({"t": [0.0, 0.5], "v": [1.0, 2.0]}, tmp_path / "v.parquet",
                      metadata=StreamInfo(t0_wall_clock=T0, units={"v": "V"}))
    assert pq.read_schema(out).field("v").metadata[b"unit"] == b"V"


def test_info_refuses_a_time_without_zone():
    with pytest.raises(ValueError, match="time zone"):
        StreamInfo(t0_wall_clock="2026-12-05T19:59:01")
    with pytest.raises(ValueError, match="t0_wall_clock"):
        StreamInfo(t0_wall_clock="yesterday")


def test_writer_refuses_a_plain_dict_as_metadata(tmp_path):
    with pytest.raises(TypeError, match="StreamInfo"):
        StreamWriter(tmp_path / "s.arrows", metadata={"units": {}})


def test_recorder_passes_each_streams_info(tmp_path):
    from collections import namedtuple

    Sample = namedtuple("Sample", ["x"])
    acc = Accumulator(name="tracker", t0=0.0, recording=True)
    recorder = StreamRecorder([acc], tmp_path, stream_info={"tracker": INFO})
    for i in range(5):
        acc.append(float(i), Sample(float(i)))
    recorder.close()
    log = tmp_path / "streams" / "tracker.arrows"
    assert read_info(log).units["x"] == "mm"
    assert read_stream(log).column("x").to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]
