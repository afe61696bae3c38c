"""The pipe under NamedTupleQueue: raw numpy payloads arrive intact, whatever their shape or dtype."""

import queue
import threading

import numpy as np
import pytest

from rigbook.collectors import Accumulator, NamedTupleQueue, QueueDataAccumulator
from rigbook.collectors import resident
from rigbook.collectors.columns import ColumnStore
from tests.collectors.conftest import leave_half_a_message, wait_until

FIELDS = [f"f{i}" for i in range(10)]


def put_float_blocks(q, n_blocks, size):
    """Blocks like a fast tracker's: 10 float64 fields, timestamps always increasing."""
    times = np.empty(size)
    for b in range(n_blocks):
        index = np.arange(b * size, (b + 1) * size, dtype=np.float64)
        np.multiply(index, 1e-6, out=times)  # one buffer reused: put_block must be done with it
        q.put_block(times, {name: index * (i + 1) for i, name in enumerate(FIELDS)})
    q.close()


def test_many_float_blocks_from_a_process_arrive_exactly(mp_context):
    # 300 blocks: more than the reader keeps buffers for, and past the size
    # where the accumulator stores into mapped, pre-populated chunks.
    q = NamedTupleQueue(context=mp_context)
    acc = QueueDataAccumulator(q, t0=0.0, recording=True)
    producer = mp_context.Process(target=put_float_blocks, args=(q, 300, 1000))
    producer.start()
    wait_until(lambda: acc.n_received >= 300_000, step=acc.update_list)
    producer.join(20)
    assert producer.exitcode == 0
    index = np.arange(300_000, dtype=np.float64)
    assert np.array_equal(acc.t, index * 1e-6)
    for i, name in enumerate(FIELDS):
        assert np.array_equal(acc.column(name), index * (i + 1)), name
    assert acc.dropped == 0 and acc.flagged == 0
    assert any(chunk.mapped is not None for chunk in acc._store._chunks)


def test_mixed_and_big_endian_dtypes_keep_values_and_dtypes():
    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, t0=0.0, recording=True)
    n = 5001  # odd: 1- and 2-byte columns end off an 8-byte boundary
    values = {
        "small": (np.arange(n) % 100).astype(np.int8),
        "half": np.arange(n, dtype=np.uint16),
        "single": np.arange(n, dtype=np.float32) / 4,
        "swapped": np.arange(n, dtype=">i8") * -3,
        "flag": np.arange(n) % 2 == 0,
    }
    q.put_block(np.arange(n, dtype=np.float64), values)
    wait_until(lambda: acc.n_received >= n, step=acc.update_list)
    df = acc.get_dataframe()
    assert df.dtypes.astype(str).tolist() == ["float64", "int8", "uint16", "float32", "int64", "bool"]
    for name, column in values.items():
        assert np.array_equal(df[name].to_numpy(), column), name


def test_a_block_bigger_than_the_pipe_arrives_whole():
    q = NamedTupleQueue()
    n = 200_000  # 17.6 MB: many times the pipe's buffer
    data = {name: np.random.default_rng(i).normal(size=n) for i, name in enumerate(FIELDS)}
    q.put_block(np.arange(n, dtype=np.float64), data)
    acc = QueueDataAccumulator(q, t0=0.0)
    acc.max_history_if_not_running = None
    wait_until(lambda: acc.n_received >= n, step=acc.update_list)
    for name in FIELDS:
        assert np.array_equal(acc.column(name), data[name])


def test_bounded_queue_put_block_times_out_and_the_loss_is_counted():
    q = NamedTupleQueue(maxsize=2)
    block = {"v": np.ones(10)}
    sent = 0
    with pytest.raises(queue.Full):
        for i in range(1000):
            q.put_block(np.arange(10.0) + 10 * i, block, timeout=0.05)
            sent += 1
    acc = QueueDataAccumulator(q, t0=0.0, recording=True)
    wait_until(lambda: acc.n_received >= 10 * sent, step=acc.update_list)
    q.put_block(np.array([1e6]), {"v": np.array([2.0])})
    wait_until(lambda: acc.n_received >= 10 * sent + 1, step=acc.update_list)
    assert acc.dropped == 10
    assert acc.column("v")[-1] == 2.0


def test_get_message_reads_into_the_buffer_it_is_given():
    q = NamedTupleQueue()
    q.put_block(np.arange(3.0), {"a": np.array([4.0, 5.0, 6.0])})
    buffer = np.zeros(1024, np.uint8)
    messages = [q.get_message(True, 5, lambda nbytes: buffer) for _ in range(2)]
    kind, _, first_seq, payload = messages[1]
    assert kind == "columns" and first_seq == 0
    assert payload.tolist() == [[0.0, 1.0, 2.0], [4.0, 5.0, 6.0]]
    assert np.shares_memory(payload, buffer)


def test_a_half_written_payload_never_blocks_update_list():
    """Header and part of the body written, then the writer died: the drain goes on."""
    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, t0=0.0)
    q.put_block(np.array([1.0]), {"a": np.array([1.0])})
    wait_until(lambda: acc.n_received == 1, step=acc.update_list)
    leave_half_a_message(q)
    results = []
    caller = threading.Thread(target=lambda: results.append([acc.update_list() for _ in range(50)]))
    caller.start()
    caller.join(10)
    assert not caller.is_alive(), "update_list blocked on a half-written payload"
    assert results == [[0] * 50] and acc.n_held == 1
    acc.close()


@pytest.mark.parametrize("populate", [True, False])
def test_mapped_chunks_hold_exactly_what_was_appended(monkeypatch, populate):
    if not populate:  # as on a kernel without MADV_POPULATE_WRITE
        monkeypatch.setattr(resident, "_madvise", None)
    store = ColumnStore([np.float64] * 3)
    rng = np.random.default_rng(1)
    parts = [rng.normal(size=(3, int(k))) for k in rng.integers(1, 40_000, size=40)]
    for part in parts:
        store.append_columns(part)
    expected = np.concatenate(parts, axis=1)
    for j in range(3):
        assert np.array_equal(store.column(j), expected[j])
    assert any(chunk.mapped is not None for chunk in store._chunks) == populate
    assert store.nbytes <= 1.2 * store.raw_nbytes


def test_a_big_block_gets_one_chunk_not_many_small_ones():
    acc = Accumulator(t0=0.0, max_history_if_not_running=1000)
    for b in range(20):
        acc.append_block(np.arange(1000.0) + 1000 * b, {"a": np.arange(1000.0)})
    assert acc.n_held == 1000 and len(acc._store._chunks) == 1
    assert acc.t.tolist() == list(np.arange(19_000.0, 20_000.0))


def test_a_dropped_accumulator_frees_its_data_at_once_and_stops_receiving():
    import gc
    import weakref

    q = NamedTupleQueue()
    acc = QueueDataAccumulator(q, recording=True)
    q.put_block(np.arange(1000.0), {"a": np.arange(1000.0)})
    wait_until(lambda: acc.n_received == 1000, step=acc.update_list)
    thread = acc._reader._thread
    gone = weakref.ref(acc)
    gc.disable()  # freed by reference counting alone, not whenever the collector runs
    try:
        del acc
        assert gone() is None
    finally:
        gc.enable()
    wait_until(lambda: not thread.is_alive())
