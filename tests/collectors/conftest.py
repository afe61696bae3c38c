import multiprocessing
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
