"""The first poll of a recording imports nothing; warm_up prepares the rest, also from a thread."""

import subprocess
import sys
import threading
from collections import namedtuple

import pytest

from rigbook.collectors import Accumulator
from rigbook.collectors.recording import StreamRecorder
from rigbook.collectors.warmup import warm_up
from rigbook.storage import read_stream

Sample = namedtuple("Sample", ["x", "flag"])

FIRST_POLL = """
import sys, tempfile
from collections import namedtuple
from rigbook.collectors import Accumulator
from rigbook.collectors.recording import StreamRecorder
from rigbook.collectors.warmup import warm_up
if sys.argv[1] == "warm":
    warm_up()
Sample = namedtuple("Sample", ["x", "flag"])
acc = Accumulator(name="tail", t0=0.0, recording=True)
recorder = StreamRecorder([acc], tempfile.mkdtemp())
for i in range(10):
    acc.append(float(i), Sample(float(i), i % 2 == 0))
before = set(sys.modules)
recorder.poll()
recorder.flush()
recorder.close()
print(sorted(set(sys.modules) - before))
"""


@pytest.mark.parametrize("warm", ["warm", "cold"])
def test_the_first_poll_of_a_recording_imports_nothing(warm):
    result = subprocess.run([sys.executable, "-c", FIRST_POLL, warm], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_warm_up_in_a_background_thread_then_record(tmp_path):
    thread = threading.Thread(target=warm_up)
    thread.start()
    acc = Accumulator(name="tail", t0=0.0, recording=True)
    for i in range(5):
        acc.append(float(i), Sample(float(i), i % 2 == 0))
    thread.join(60)
    assert not thread.is_alive()
    warm_up()  # again: nothing changes
    with StreamRecorder([acc], tmp_path, include_held=True):
        pass
    table = read_stream(tmp_path / "streams" / "tail.arrows")
    assert table.column("x").to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert table.column("flag").to_pylist() == [True, False, True, False, True]
