"""Replace a file all at once: readers see the old file or the new one, never half of one."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, fsync=True):
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    The temporary file lives in the same folder (so ``os.replace`` is atomic)
    and its name starts with a dot (so listings skip it). If the block
    raises, the temporary file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or Path
        The file to create or replace.
    fsync : bool
        Flush the new file to disk before the rename, so that a power cut
        leaves either the old or the new content.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w", fsync=True, **open_kwargs):
    """Open a temporary file beside ``path`` and move it onto ``path`` on success.

    ``mode`` is ``"w"`` or ``"wb"``; other keywords go to :func:`open`.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path, fsync=False) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
