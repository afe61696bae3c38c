"""`rigbook inspect` never stops at a bad file: one line names it, the other tasks still show."""

import json
import os

import numpy as np
import pyarrow as pa
import pytest

from rigbook.storage import StreamInfo, TaskWriter, Trial

from rigbook.session.inspection import inspect


def good_task(folder):
    with TaskWriter(folder) as task:
        task.write(Trial({"trial": 0}))
        with task.stream("tracker", metadata=StreamInfo(t0_wall_clock="2026-12-05T10:00:00+00:00",
                                                        units={"x": "mm"})) as log:
            log.append(pa.record_batch({"t": np.arange(4) / 10, "x": np.arange(4.0)}))
    (folder / "metadata.json").write_text(json.dumps({"general": {"status": "complete", "rig": "demo"}}))
    return folder


@pytest.fixture
def root(tmp_path):
    good_task(tmp_path / "a-fish" / "good-1")
    not_json = good_task(tmp_path / "b-fish" / "bad-json")
    (not_json / "metadata.json").write_text("{oops")
    wrong_shape = good_task(tmp_path / "b-fish" / "bad-shape")
    (wrong_shape / "metadata.json").write_text(json.dumps([1, 2]))
    latin = good_task(tmp_path / "b-fish" / "latin1-trials")
    (latin / "trials.csv").write_bytes("trial,\"label\"\n0,\"café\"\n".encode("latin-1"))
    noise = good_task(tmp_path / "b-fish" / "noise-stream")
    (noise / "streams" / "camera.arrows").write_bytes(os.urandom(512))
    good_task(tmp_path / "c-fish" / "good-2")
    return tmp_path


def test_every_bad_file_gets_one_line_and_good_tasks_still_show(root):
    inspection = inspect(root)
    text = inspection.text
    for task in ("good-1", "good-2", "bad-json", "bad-shape", "latin1-trials", "noise-stream"):
        assert f"task {task}" in text
    unreadable = [line for line in inspection.lines if "UNREADABLE" in line]
    assert len(unreadable) == 4, text
    assert any("bad-json" not in line and "metadata.json" in line and "JSON" in line for line in unreadable)
    assert any("metadata.json" in line and "list" in line for line in unreadable)
    assert any("trials.csv" in line for line in unreadable)
    assert any("streams/camera.arrows" in line and "not an Arrow" in line for line in unreadable)
    assert inspection.unreadable
    problem_files = sorted(os.path.relpath(p["file"], root) for p in inspection.problems)
    assert problem_files == [
        "b-fish/bad-json/metadata.json", "b-fish/bad-shape/metadata.json",
        "b-fish/latin1-trials/trials.csv", "b-fish/noise-stream/streams/camera.arrows",
    ]
    # The readable stream of the broken tasks is still described.
    assert text.count("stream tracker: 4 rows") == 6
    assert "fields x [mm]" in text


def test_a_clean_root_is_readable_and_json_able(tmp_path):
    good_task(tmp_path / "fish" / "t")
    inspection = inspect(tmp_path)
    assert not inspection.unreadable
    document = inspection.to_json()
    assert json.loads(json.dumps(document)) == document
    assert document["tasks"][0]["streams"]["tracker"]["units"]["x"] == "mm"


def test_unfinished_session_says_so(tmp_path):
    folder = good_task(tmp_path / "t")
    (folder / "metadata.json").write_text(json.dumps({"general": {"status": "recording"}}))
    writer = TaskWriter(tmp_path / "u")
    trial = Trial({"trial": 0})
    trial.add_array("a", data=np.zeros(3))
    writer.write(trial)
    text = inspect(tmp_path / "u").text
    assert "only in their journal" in text and "a" in text
    assert "UNFINISHED" in inspect(folder).text
    writer.close()


def test_the_command_names_each_bad_file_shows_the_good_tasks_and_exits_non_zero(root):
    import subprocess
    import sys

    text = subprocess.run([sys.executable, "-m", "rigbook", "inspect", str(root)], capture_output=True, text=True,
                          timeout=120)
    assert text.returncode == 1, text.stderr
    assert "task good-1" in text.stdout and "task good-2" in text.stdout
    assert "Traceback" not in text.stderr
    as_json = subprocess.run([sys.executable, "-m", "rigbook", "inspect", "--json", str(root / "a-fish" / "good-1")],
                             capture_output=True, text=True, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    (task,) = json.loads(as_json.stdout)["tasks"]
    assert (task["subject"], task["task"], task["status"]) == ("a-fish", "good-1", "complete")
    assert task["streams"]["tracker"]["rows"] == 4 and task["streams"]["tracker"]["units"]["x"] == "mm"


def test_a_stream_of_hundreds_of_fields_is_summarized_in_one_short_line(tmp_path):
    folder = tmp_path / "probe-fish" / "p1"
    with TaskWriter(folder) as task:
        with task.stream("probe", metadata=StreamInfo(t0_wall_clock="2026-12-05T10:00:00+00:00")) as log:
            log.append(pa.record_batch({"t": np.arange(3) / 10, **{f"ch{i:03d}": np.zeros(3, np.int16)
                                                                    for i in range(384)}}))
    (line,) = [line for line in inspect(folder).text.splitlines() if "stream probe" in line]
    assert "ch000" in line and "... (384 fields)" in line and "ch383" in line and "ch200" not in line
