"""Storage: subjects, tasks, overwriting, zip export."""

import os
import zipfile

import numpy as np
import pytest

from rigbook.storage import Storage, TaskReader, Trial, makedirs, storage_to_zip

BAD_IDS = ["../x", "a/b", "a\\b", "", ".hidden", "tab\there", "nul\x00", "x" * 129, "é" * 128]


def test_subject_and_task_folders(tmp_path):
    storage = Storage(tmp_path / "data")
    assert (tmp_path / "data").is_dir()
    assert list(storage.task_ids) == []
    storage.subject_id = "p2"
    storage.subject_id = "p1"
    assert (tmp_path / "data" / "p1").is_dir()
    writer = storage.create_task("b_task")
    storage.create_task("a_task").close()
    writer.close()
    assert list(storage.subject_ids) == ["p1", "p2"]
    assert list(storage.task_ids) == ["a_task", "b_task"]
    assert isinstance(storage.require_task("a_task"), TaskReader)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_raise_naming_the_id_and_create_nothing(tmp_path, bad):
    storage = Storage(tmp_path / "data")
    with pytest.raises(ValueError, match="subject ID"):
        storage.subject_id = bad
    storage.subject_id = "ok"
    with pytest.raises(ValueError, match="task ID"):
        storage.create_task(bad)
    with pytest.raises(ValueError, match="task ID"):
        storage.require_task(bad)
    assert sorted(os.listdir(tmp_path / "data")) == ["ok"]
    assert os.listdir(tmp_path / "data" / "ok") == []
    assert sorted(os.listdir(tmp_path)) == ["data"]


def test_dot_folders_are_never_listed(tmp_path):
    storage = Storage(tmp_path)
    (tmp_path / ".replaced").mkdir()
    (tmp_path / "stray.txt").write_text("not a subject")
    storage.subject_id = "s"
    (tmp_path / "s" / ".tmp").mkdir()
    assert list(storage.subject_ids) == ["s"]
    assert list(storage.task_ids) == []


def test_existing_task_needs_allow_overwrite(tmp_path):
    storage = Storage(tmp_path)
    storage.subject_id = "s"
    storage.create_task("t").close()
    with pytest.raises(ValueError, match="'t'.*'s'|'s'.*'t'"):
        storage.create_task("t")


def test_overwrite_moves_the_old_task_aside(tmp_path):
    storage = Storage(tmp_path, allow_overwrite=True)
    storage.subject_id = "s"
    writer = storage.create_task("t")
    writer.write(Trial({"trial": 0, "version": "old"}))
    writer.close()
    writer = storage.create_task("t")
    writer.write(Trial({"trial": 0, "version": "new"}))
    writer.close()
    assert storage.require_task("t").trials["version"].tolist() == ["new"]
    (moved,) = (tmp_path / ".replaced" / "s").iterdir()
    assert moved.name.startswith("t-")
    assert TaskReader(moved).trials["version"].tolist() == ["old"]
    assert list(storage.task_ids) == ["t"]


def test_task_needs_a_subject(tmp_path):
    with pytest.raises(ValueError, match="subject_id"):
        Storage(tmp_path).create_task("t")


def test_require_missing_task_names_subject_and_task(tmp_path):
    storage = Storage(tmp_path)
    storage.subject_id = "mouse7"
    with pytest.raises(ValueError, match="mouse7.*ghost"):
        storage.require_task("ghost")


def test_makedirs(tmp_path):
    makedirs(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    with pytest.raises(FileExistsError):
        makedirs(tmp_path / "a" / "b")
    makedirs(tmp_path / "a" / "b", exist_ok=True)


def build_tree(root):
    storage = Storage(root)
    for subject in ("s1", "s2"):
        storage.subject_id = subject
        writer = storage.create_task("task")
        trial = Trial({"trial": 0, "subject": subject})
        trial.add_array("emg").stack(np.ones((2, 3)))
        writer.write(trial)
        writer.close()
    (root / "s2" / "empty_task").mkdir()
    return storage


def tree_files(root):
    files = {}
    for folder, dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            files[os.path.relpath(path, root.parent).replace(os.sep, "/")] = open(path, "rb").read()
    return files


def test_zip_keeps_the_folders_file_by_file(tmp_path):
    root = tmp_path / "data"
    storage = build_tree(root)
    outfile = storage.to_zip()
    assert outfile == str(tmp_path / "data.zip")
    expected = tree_files(root)
    with zipfile.ZipFile(outfile) as archive:
        names = archive.namelist()
        files = {n: archive.read(n) for n in names if not n.endswith("/")}
        assert "data/s2/empty_task/" in names
    assert files == expected
    assert "data/s1/task/trials.csv" in files and "data/s2/task/emg.hdf5" in files


def test_zip_stores_what_does_not_compress_and_deflates_the_rest(tmp_path):
    root = tmp_path / "data"
    build_tree(root)
    task = root / "s1" / "task"
    rng = np.random.default_rng(1)
    (task / "noise.bin").write_bytes(rng.bytes(3 << 20))  # unknown format, incompressible, several copy pieces
    (task / "big.log").write_text("t=0.001 state=ok\n" * 100_000)  # unknown format, compresses well
    (task / "stream.arrows").write_bytes(bytes(200_000))  # compressible, but a stored format
    (task / "tiny.dat").write_bytes(rng.bytes(100))
    expected = tree_files(root)
    outfile = storage_to_zip(root)
    with zipfile.ZipFile(outfile) as archive:
        assert archive.testzip() is None  # every CRC checks
        files = {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
        methods = {info.filename.rpartition("/")[2]: info.compress_type for info in archive.infolist()}
    assert files == expected
    assert methods["emg.hdf5"] == methods["noise.bin"] == methods["stream.arrows"] == zipfile.ZIP_STORED
    assert methods["big.log"] == methods["trials.csv"] == methods["tiny.dat"] == zipfile.ZIP_DEFLATED


def test_zip_to_a_chosen_file(tmp_path):
    root = tmp_path / "data"
    build_tree(root)
    out = tmp_path / "elsewhere" / "backup.zip"
    out.parent.mkdir()
    assert storage_to_zip(root, out) == str(out)
    with zipfile.ZipFile(out) as archive:
        assert "data/s1/task/trials.csv" in archive.namelist()


def test_zip_inside_the_tree_is_refused(tmp_path):
    root = tmp_path / "data"
    build_tree(root)
    for inside in [root / "x.zip", root / "s1" / "x.zip", root]:
        with pytest.raises(ValueError, match="inside"):
            storage_to_zip(root, inside)
    assert not (root / "x.zip").exists() and not (root / "s1" / "x.zip").exists()


def test_zip_never_follows_links_out_of_the_tree(tmp_path):
    root = tmp_path / "data"
    build_tree(root)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("do not archive")
    os.symlink(secret / "key.txt", root / "s1" / "key_link.txt")
    os.symlink(secret, root / "s1" / "secret_dir")
    os.symlink(root / "s1" / "task" / "trials.csv", root / "s2" / "inside_link.csv")
    outfile = storage_to_zip(root)
    with zipfile.ZipFile(outfile) as archive:
        names = archive.namelist()
        assert not [n for n in names if "key" in n or "secret" in n]
        assert archive.read("data/s2/inside_link.csv") == (root / "s1" / "task" / "trials.csv").read_bytes()


def test_zip_of_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        storage_to_zip(tmp_path / "nope")


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rigbook.storage.ids import is_valid_id  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=140))
def test_any_task_id_is_created_exactly_when_valid(tmp_path_factory, name):
    root = tmp_path_factory.mktemp("ids")
    storage = Storage(root / "data")
    storage.subject_id = "s"
    if is_valid_id(name):
        storage.create_task(name).close()
        assert list(storage.task_ids) == [name]
    else:
        with pytest.raises(ValueError) as info:
            storage.create_task(name)
        assert repr(name)[:40] in str(info.value) or "task ID" in str(info.value)
        assert os.listdir(root / "data" / "s") == []
    assert sorted(os.listdir(root)) == ["data"]


def test_zip_of_a_linked_root_is_named_after_the_link(tmp_path):
    real = tmp_path / "store" / "real_data"
    build_tree(real)
    os.symlink(real, tmp_path / "data")
    outfile = storage_to_zip(tmp_path / "data")
    assert outfile == str(tmp_path / "data.zip")
    with zipfile.ZipFile(outfile) as archive:
        assert "data/s1/task/trials.csv" in archive.namelist()
    with pytest.raises(ValueError, match="inside"):
        storage_to_zip(tmp_path / "data", real / "x.zip")  # inside through the link
