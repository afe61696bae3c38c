"""Replace a file all at once: readers see the old file or the new one, never half of one."""

import contextlib
import os
import secrets
from pathlib import Path

from rigbook.storage.durability import fsync_folder

#: Mode asked for every file Rigbook creates; the process umask takes bits
#: away (0644 under umask 022, 0600 under 077), as for any ``open(path, "w")``.
FILE_MODE = 0o666


def _create_temp_beside(path):
    """Create an empty hidden file beside ``path`` honouring the umask; return its path.

    ``tempfile.mkstemp`` always creates 0600 files, which colleagues on a
    shared server cannot read once the file is renamed into place.
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


def check_absent(path, overwrite):
    """Raise FileExistsError naming ``path`` if it exists and ``overwrite`` is false."""
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")


@contextlib.contextmanager
def atomic_path(path, fsync=True, overwrite=True):
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    The temporary file lives in the same folder (so ``os.replace`` is atomic)
    and its name starts with a dot (so listings skip it). It is created with
    the permissions the umask allows, like any new file. If the block
    raises, the temporary file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or Path
        The file to create or replace.
    fsync : bool
        Flush the new file to disk before the rename, and the folder after
        it, so that a power cut leaves either the old or the new content.
    overwrite : bool
        Replace an existing ``path``. When false, FileExistsError naming it
        is raised before the block runs, and again (the new file being
        dropped) if another writer created it meanwhile.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    check_absent(path, overwrite)
    tmp = _create_temp_beside(path)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if fsync:
        fsync_folder(path.parent)


def _publish_new(tmp, path):
    """Move ``tmp`` to ``path`` only if nothing is there (a hard link cannot replace)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
    except OSError:
        # No hard links on this file system (FAT, some network mounts): check, then rename.
        check_absent(path, overwrite=False)
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="w", fsync=True, overwrite=True, **open_kwargs):
    """Open a temporary file beside ``path`` and move it onto ``path`` on success.

    ``mode`` is ``"w"`` or ``"wb"``; other keywords go to :func:`open`.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path, fsync=False, overwrite=overwrite) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    if fsync:
        fsync_folder(Path(path).parent)
