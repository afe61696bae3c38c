"""The portable transport: chosen by the environment variable, same messages as the POSIX pipe.

Drop counting, schema changes and the rest are the other collector tests, which CI runs a
second time with the portable transport forced (.ci/run).
"""

import numpy as np
import pytest

from rigbook.collectors import NamedTupleQueue, QueueDataAccumulator
from rigbook.collectors.transport import PORTABLE_ENV, PortableWire, fast_wire_available
from rigbook.collectors.wire import Wire
from tests.collectors._producers import put_typed_blocks
from tests.collectors.conftest import wait_until


def test_the_environment_variable_forces_the_portable_transport(monkeypatch):
    monkeypatch.setenv(PORTABLE_ENV, "1")
    assert isinstance(NamedTupleQueue()._wire, PortableWire)
    monkeypatch.setenv(PORTABLE_ENV, "0")
    expected = Wire if fast_wire_available() else PortableWire
    assert isinstance(NamedTupleQueue()._wire, expected)


def test_without_posix_calls_queues_fall_back_to_the_portable_transport(monkeypatch):
    import os

    monkeypatch.delenv(PORTABLE_ENV, raising=False)
    monkeypatch.delattr(os, "writev")
    assert isinstance(NamedTupleQueue()._wire, PortableWire)


@pytest.mark.parametrize("portable", ["1", "0"])
def test_typed_blocks_from_a_spawned_process_arrive_exactly(monkeypatch, portable):
    import multiprocessing

    monkeypatch.setenv(PORTABLE_ENV, portable)
    context = multiprocessing.get_context("spawn")
    q = NamedTupleQueue(context=context)
    acc = QueueDataAccumulator(q, t0=0.0, recording=True)
    producer = context.Process(target=put_typed_blocks, args=(q, 50, 300))
    producer.start()
    wait_until(lambda: acc.n_received >= 15_000, step=acc.update_list)
    producer.join(30)
    assert producer.exitcode == 0
    frame = acc.get_dataframe()
    index = np.arange(15_000)
    assert frame["lfp"].dtype == np.int16 and np.array_equal(frame["lfp"], (index % 2000 - 1000).astype(np.int16))
    assert frame["gain"].dtype == np.float32 and np.array_equal(frame["gain"], (index * 0.5).astype(np.float32))
    assert frame["count"].dtype == np.int64 and frame["count"].iloc[-1] == 2**53 + 14_999
    assert frame["lick"].dtype == np.bool_ and np.array_equal(frame["lick"], index % 2 == 0)
    assert acc.dropped == 0 and acc.flagged == 0
    acc.close()
