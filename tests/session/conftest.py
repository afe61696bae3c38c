import pytest

from rigbook.session import Rig, Source
from tests.session.sources_for_tests import steady_counter


@pytest.fixture
def counter_rig():
    """A rig with one in-process source (no new Python process: the session is the point)."""
    return Rig(name="counter rig", sources=[Source("counter", steady_counter, in_process=True,
                                                   units={"value": "count"})])


def wait_until(condition, timeout=20.0, step=None):
    """Poll ``condition`` (calling ``step`` in between) until true or the deadline; return it."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        if step is not None:
            step()
        time.sleep(0.01)
    return True
