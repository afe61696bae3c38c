import multiprocessing
import os
import pickle
import struct
import time

import pytest


def wait_until(condition, timeout=20.0, step=None):
    """Call ``step`` (if given) until ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        if step is not None:
            step()
        else:
            time.sleep(0.001)


@pytest.fixture(params=["fork", "spawn"])
def mp_context(request):
    return multiprocessing.get_context(request.param)


def leave_half_a_message(q, payload_bytes=16_000):
    """Write into ``q``'s pipe what a producer killed mid-message leaves: a head whose payload never comes."""
    from rigbook.collectors.transport import PortableWire

    head = ("columns", (os.getpid(), 0, b"dead"), 1, ("m", "<f8", (2, payload_bytes // 16)))
    if isinstance(q._wire, PortableWire):
        q._wire._writer.send_bytes(pickle.dumps((*head, payload_bytes)))
    else:
        meta = pickle.dumps(head)
        os.write(q._wire.writer_fd, struct.pack("<IQ", len(meta), payload_bytes) + meta + bytes(100))
