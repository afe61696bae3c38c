"""DataCollector: categorized metadata.json, sessions, provenance."""

import datetime
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rigbook.collectors import DataCollector, Param, Parametrized
from rigbook.collectors.data_collector import CATEGORIES


def make_owner(collector, name, **params):
    return Parametrized(name=name, tree=collector, params=params)


@pytest.fixture
def collector(tmp_path):
    return DataCollector(experiment_code=None)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_full_metadata_round_trip_with_every_category(tmp_path):
    collector = DataCollector(("Rig 2 — room 0.14", "general/rig"), extra_settings={"setup/objective": "20x", "camera_model": "acA1300"})
    gratings = make_owner(collector, "stimulus/protocol/gratings", speed=Param(10.0, limits=[0, 50]), direction=Param("left"))
    make_owner(collector, "camera/settings", exposure=Param(5, limits=[1, 100]), binning=Param((1, 1)))
    make_owner(collector, "behavior/tracking", threshold=Param(0.3))
    gratings.speed = 22
    collector.add_static_data("nacre", "animal/line")
    collector.add_static_data(np.int64(7), "animal_age")
    collector.add_static_data({"image": "screening.png", "score": np.float32(0.75)}, "animal/screening")
    collector.add_static_data(2**45 + 1, "general_db_idx")
    collector.add_static_data({"objective": "16x", "laser_nm": 920, "power": float("nan")}, "imaging/microscope")
    collector.add_static_data(Path("protocols") / "gratings.py", "stimulus/source")
    collector.add_static_data(datetime.datetime(2024, 1, 2, 3, 4, 5), "behavior/naive_time")
    collector.add_static_data("Fütterung um 9 Uhr 🐟", "general/note")
    collector.add_static_data(np.bool_(True), "camera/triggered")

    path = collector.save_json_log(tmp_path / "session")
    assert path == tmp_path / "session" / "metadata.json"
    data = read_json(path)

    assert data["rigbook_format"] == 1
    assert list(data)[1:7] == list(CATEGORIES)
    assert data["general"]["rig"] == "Rig 2 — room 0.14"
    assert data["general"]["db_idx"] == 2**45 + 1
    assert data["general"]["note"] == "Fütterung um 9 Uhr 🐟"
    assert data["setup"] == {"objective": "20x"}
    assert data["animal"] == {"line": "nacre", "age": 7, "screening": {"image": "screening.png", "score": 0.75}}
    assert data["imaging"] == {"microscope": {"objective": "16x", "laser_nm": 920, "power": None}}
    assert data["stimulus"]["protocol"]["gratings"] == {"speed": 22.0, "direction": "left"}
    assert data["stimulus"]["source"] == str(Path("protocols") / "gratings.py")
    assert data["behavior"] == {"tracking": {"threshold": 0.3}, "naive_time": "2024-01-02T03:04:05"}
    assert data["camera"] == {"model": "acA1300", "settings": {"exposure": 5, "binning": [1, 1]}, "triggered": True}

    # the JSON is exactly the clean dict after the conversion rules
    clean = collector.get_clean_dict(eliminate_df=True, convert_datetime=True)
    assert data["animal"] == clean["animal"]
    assert data["stimulus"]["protocol"] == clean["stimulus"]["protocol"]


def test_get_clean_dict_keeps_python_objects_unless_asked(collector):
    when = datetime.datetime(2024, 5, 6, tzinfo=datetime.timezone.utc)
    table = pd.DataFrame({"t": [0.0, 0.1], "x": [1, 2]})
    collector.add_static_data(when, "general/surgery")
    collector.add_static_data(table, "behavior/tail")
    raw = collector.get_clean_dict()
    assert raw["general"]["surgery"] is when
    assert raw["behavior"]["tail"] is table
    converted = collector.get_clean_dict(eliminate_df=True, convert_datetime=True)
    assert converted["general"]["surgery"] == "2024-05-06T00:00:00+00:00"
    assert converted["behavior"]["tail"] == {"file": None, "rows": 2, "columns": ["t", "x"]}
    assert isinstance(converted["general"]["start_time"], str)


def test_tables_are_saved_to_their_own_file_and_referenced(tmp_path, collector):
    log = pd.DataFrame({"t": [0.0, 0.5, 1.0], "stimulus": ["a", "b", np.nan]})
    collector.add_static_data(log, "stimulus/log")
    data = read_json(collector.save_json_log(tmp_path))
    ref = data["stimulus"]["log"]
    assert ref == {"file": "stimulus_log.csv", "rows": 3, "columns": ["t", "stimulus"]}
    back = pd.read_csv(tmp_path / ref["file"])
    assert back["t"].tolist() == [0.0, 0.5, 1.0]
    assert {"path": "stimulus_log.csv", "size": (tmp_path / "stimulus_log.csv").stat().st_size} in data["general"]["files"]


def test_a_table_the_caller_saved_is_referenced_not_rewritten(tmp_path, collector):
    table = pd.DataFrame({"x": [1, 2]})
    (tmp_path / "streams").mkdir()
    saved = tmp_path / "streams" / "tail.parquet"
    table.to_parquet(saved)
    collector.add_static_data(table, "behavior/tail", file=saved)
    data = read_json(collector.save_json_log(tmp_path))
    assert data["behavior"]["tail"]["file"] == "streams/tail.parquet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "streams"]
    with pytest.raises(ValueError, match="only for tables"):
        collector.add_static_data(3, "behavior/x", file=saved)


def test_an_existing_file_is_not_overwritten_by_a_table(tmp_path, collector):
    (tmp_path / "stimulus_log.csv").write_text("user's own file\n")
    collector.add_static_data(pd.DataFrame({"x": [1]}), "stimulus/log")
    data = read_json(collector.save_json_log(tmp_path))
    assert (tmp_path / "stimulus_log.csv").read_text() == "user's own file\n"
    assert data["stimulus"]["log"]["file"] == "stimulus_log_1.csv"


def test_unsupported_static_data_is_refused_when_added_naming_the_key_path(collector):
    with pytest.raises(TypeError, match="'animal/info/bad'"):
        collector.add_static_data({"ok": 1, "bad": {1, 2}}, "animal/info")
    with pytest.raises(TypeError, match="'general/when'"):
        DataCollector(extra_settings={"general_when": datetime.timedelta(1)}, experiment_code=None)
    assert collector.get_clean_dict()["animal"] == {}


def test_unsupported_parameter_value_fails_the_save_and_writes_nothing(tmp_path, collector):
    owner = make_owner(collector, "stimulus/odd", thing=Param(None))
    owner.thing = {1, 2}
    with pytest.raises(TypeError, match="'stimulus/odd/thing'"):
        collector.save_json_log(tmp_path)
    assert not (tmp_path / "metadata.json").exists()


def test_arrow_tables_are_tables_too(tmp_path, collector):
    import pyarrow as pa

    collector.add_static_data({"bouts": pa.table({"t": [0.5, 1.5]}), "n": 2}, "behavior/summary")
    data = read_json(collector.save_json_log(tmp_path))
    ref = data["behavior"]["summary"]["bouts"]
    assert ref == {"file": "behavior_summary_bouts.csv", "rows": 2, "columns": ["t"]}
    assert data["behavior"]["summary"]["n"] == 2
    assert pd.read_csv(tmp_path / ref["file"])["t"].tolist() == [0.5, 1.5]


def test_deserialize_reports_instead_of_swallowing(collector):
    owner = make_owner(collector, "camera/settings", exposure=Param(5, limits=[1, 100]), mode=Param("auto"))
    report = collector.deserialize({"camera": {"settings": {"exposure": 500, "mode": 3, "gain": 2}}})
    assert owner.exposure == 100 and owner.mode == "auto"
    assert [c.path for c in report.clamped] == ["camera/settings/exposure"]
    assert report.skipped_by_path() == {"camera/settings/mode": "type changed", "camera/settings/gain": "unknown path"}


def test_static_data_does_not_leak_into_the_next_session(tmp_path, collector):
    make_owner(collector, "stimulus/protocol", duration=Param(10.0))
    collector.add_static_data("fish-1", "animal/id")
    collector.add_static_data(pd.DataFrame({"x": [1]}), "stimulus/log")
    collector.record_file(tmp_path / "elsewhere.bin")
    first_start = collector.start_time
    first = read_json(collector.save_json_log(tmp_path / "s1"))
    assert first["animal"] == {"id": "fish-1"}

    collector.new_session()
    second = read_json(collector.save_json_log(tmp_path / "s2"))
    assert second["animal"] == {}
    assert "log" not in second["stimulus"]
    assert second["stimulus"]["protocol"] == {"duration": 10.0}  # parameters stay
    assert second["general"]["files"] == []
    assert collector.start_time >= first_start


def test_rig_data_given_at_construction_is_kept_across_sessions(tmp_path):
    collector = DataCollector(("rig-7", "general/rig"), experiment_code=None)
    collector.new_session()
    assert collector.get_clean_dict()["general"]["rig"] == "rig-7"


def test_adding_the_same_name_again_replaces_the_entry(collector):
    collector.add_static_data(1, "animal/age")
    collector.add_static_data(2, "animal/age")
    assert collector.get_clean_dict()["animal"]["age"] == 2


def test_conflicting_names_are_refused_early(collector):
    make_owner(collector, "animal/metadata", age=Param(5))
    with pytest.raises(ValueError, match="animal/metadata/age"):
        collector.add_static_data(6, "animal/metadata/age")
    collector.add_static_data(3, "animal/weight")
    with pytest.raises(ValueError, match="animal/weight"):
        collector.add_static_data({"x": 1}, "animal/weight/x")
    assert collector.get_clean_dict()["animal"] == {"weight": 3, "metadata": {"age": 5}}
    with pytest.raises(ValueError, match="filled by the DataCollector"):
        collector.add_static_data("now", "general/start_time")
    with pytest.raises(ValueError, match="whole category"):
        collector.add_static_data(3, "animal")


def test_owner_names_are_checked(collector):
    with pytest.raises(ValueError, match="owner"):
        Parametrized(name="stimulus//x", tree=collector)
    with pytest.raises(ValueError, match="owner"):
        Parametrized(name="", tree=collector)


def test_provenance_in_general(tmp_path, collector):
    before = time.monotonic()
    collector.new_session()
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "tail.arrows").write_bytes(b"x" * 100)
    (tmp_path / "trials.csv").write_text("a\n1\n")
    (tmp_path / ".replaced").mkdir()
    (tmp_path / ".replaced" / "old.csv").write_text("hidden")
    outside = tmp_path.parent / f"{tmp_path.name}-video.bin"
    outside.write_bytes(b"v" * 10)
    collector.record_file(outside)
    collector.end_session()
    data = read_json(collector.save_json_log(tmp_path))
    general = data["general"]

    start = datetime.datetime.fromisoformat(general["start_time"])
    end = datetime.datetime.fromisoformat(general["end_time"])
    assert start.tzinfo is not None and end.tzinfo is not None and start <= end
    assert before <= general["monotonic_origin"] <= time.monotonic()
    assert general["software"]["rigbook"] == __import__("rigbook").__version__
    assert general["software"]["numpy"] == np.__version__ and general["software"]["python"]
    assert general["platform"]["system"] and general["host"]
    assert general["files"] == [
        {"path": "streams/tail.arrows", "size": 100},
        {"path": "trials.csv", "size": 4},
        {"path": str(outside.resolve()), "size": 10},
    ]


def test_monotonic_origin_can_be_the_accumulators_t0(collector):
    t0 = time.monotonic() - 5.0
    collector.new_session(t0=t0)
    assert collector.monotonic_origin == t0
    age = datetime.datetime.now(datetime.timezone.utc) - collector.start_time
    assert datetime.timedelta(seconds=4) < age < datetime.timedelta(seconds=60)


def test_json_path_instead_of_folder(tmp_path, collector):
    (tmp_path / "unrelated.txt").write_text("not part of the session")
    path = collector.save_json_log(tmp_path / "fish1_meta.json")
    data = read_json(path)
    assert path.name == "fish1_meta.json" and data["general"]["files"] == []


def test_save_writes_metadata_and_config(tmp_path):
    collector = DataCollector(folder_path=tmp_path / "default", experiment_code=None)
    make_owner(collector, "camera/settings", exposure=Param(5, limits=[1, 100]))
    path = collector.save()
    assert path == tmp_path / "default" / "metadata.json" and path.is_file()
    assert collector.config_path.is_file()
    with pytest.raises(ValueError, match="no output path"):
        DataCollector(experiment_code=None).save()


def test_settings_are_saved_even_when_metadata_fails(tmp_path):
    collector = DataCollector(experiment_code=None)
    owner = make_owner(collector, "stimulus/odd", thing=Param(None), speed=Param(1.0))
    owner.thing = {1, 2}
    owner.speed = 3.0
    with pytest.raises(TypeError, match="stimulus/odd/thing"):
        collector.save(tmp_path)
    assert DataCollector(experiment_code=None).get_last_value("stimulus/odd/speed") == 3.0


def test_metadata_write_is_atomic(tmp_path, collector, monkeypatch):
    collector.add_static_data("first", "animal/id")
    path = collector.save_json_log(tmp_path)
    old = path.read_bytes()
    collector.add_static_data("second", "animal/id")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        collector.save_json_log(tmp_path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["metadata.json"]


# -- git provenance ---------------------------------------------------------------------

def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def experiment_repo(tmp_path):
    repo = tmp_path / "experiment"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "lab@example.org")
    git(repo, "config", "user.name", "Lab")
    (repo / "protocol.py").write_text("SPEED = 3\n")
    git(repo, "add", "protocol.py")
    git(repo, "commit", "-q", "-m", "first")
    return repo


def repo_state(repo):
    index = repo / ".git" / "index"
    # The index is read first and git is asked without optional locks, so that
    # taking the snapshot does not itself refresh the index.
    index_bytes, index_mtime = index.read_bytes(), index.stat().st_mtime_ns
    files = sorted(str(p.relative_to(repo)) for p in (repo / ".git").rglob("*"))
    return (
        index_bytes,
        index_mtime,
        files,
        git(repo, "--no-optional-locks", "rev-parse", "HEAD"),
        git(repo, "--no-optional-locks", "status", "--porcelain"),
        git(repo, "--no-optional-locks", "stash", "list"),
    )


def test_git_commit_of_clean_experiment_code_is_recorded_without_changing_the_repo(experiment_repo, tmp_path):
    before = repo_state(experiment_repo)
    collector = DataCollector(experiment_code=experiment_repo / "protocol.py")
    data = read_json(collector.save_json_log(tmp_path / "out"))
    code = data["general"]["experiment_code"]
    assert code["commit"] == before[3].strip()
    assert code["dirty"] is False
    assert Path(code["repository"]).resolve() == experiment_repo.resolve()
    assert repo_state(experiment_repo) == before


def test_dirty_experiment_code_is_flagged_and_left_dirty(experiment_repo, tmp_path):
    (experiment_repo / "protocol.py").write_text("SPEED = 4\n")
    (experiment_repo / "notes.txt").write_text("untracked")
    before = repo_state(experiment_repo)
    collector = DataCollector(experiment_code=experiment_repo)
    code = collector.get_clean_dict()["general"]["experiment_code"]
    assert code["dirty"] is True and code["commit"] == before[3].strip()
    assert repo_state(experiment_repo) == before
    assert (experiment_repo / "protocol.py").read_text() == "SPEED = 4\n"


def test_code_outside_git_records_no_commit(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text("")
    code = DataCollector(experiment_code=script).get_clean_dict()["general"]["experiment_code"]
    assert code == {"path": str(script), "repository": None, "commit": None, "dirty": None}
