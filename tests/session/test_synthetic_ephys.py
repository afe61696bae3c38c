"""The synthetic probe: many channels of int16 / float32 from a source process, every value as sent."""

import multiprocessing

import numpy as np
import pytest

from rigbook.collectors import NamedTupleQueue, QueueDataAccumulator
from rigbook.session.synthetic_ephys import channel_names, ephys_rig, ephys_source, expected_block
from tests.collectors.conftest import wait_until


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_every_sample_of_every_channel_arrives_with_its_dtype(dtype):
    context = multiprocessing.get_context("spawn")
    q = NamedTupleQueue(context=context)
    acc = QueueDataAccumulator(q, name="probe", t0=0.0, recording=True)
    stop = context.Event()
    n = 9_000  # 15 blocks of 600
    process = context.Process(target=ephys_source, args=(q, stop),
                              kwargs=dict(channels=24, dtype=dtype, max_samples=n, paced=False))
    process.start()
    wait_until(lambda: acc.n_received >= n, step=acc.update_list)
    process.join(30)
    assert process.exitcode == 0
    frame = acc.get_dataframe()
    assert list(frame.columns) == ["t", *channel_names(24)]
    expected = expected_block(0, n, 24, dtype)
    for c, name in enumerate(channel_names(24)):
        assert frame[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(frame[name].to_numpy(), expected[c])
    assert acc.dropped == 0 and acc.flagged == 0
    np.testing.assert_allclose(np.diff(frame["t"].to_numpy()), 1 / 30000.0, rtol=1e-6)
    acc.close()


def test_the_rig_factory_makes_one_probe_source():
    rig = ephys_rig(channels=64, rate=30000.0, dtype="float32")
    (source,) = rig.sources
    assert source.name == "probe" and source.goal_rate == 30000.0
    assert source.options == {"channels": 64, "rate": 30000.0, "dtype": "float32"}
    assert source.monitored_headers == channel_names(64)[:16]


def test_a_dtype_other_than_int16_or_float32_is_refused_naming_it():
    with pytest.raises(ValueError, match="'float64'"):
        ephys_rig(dtype="float64")
