"""Archive a storage tree as a ZIP file, folders and all."""

import logging
import os
import shutil
import zipfile
import zlib
from pathlib import Path

from rigbook.storage.atomic import atomic_path

logger = logging.getLogger(__name__)

#: Formats that are compact binary or compressed already: deflating them costs time and saves little
#: (about 6 % on float HDF5), so they are stored as they are.
STORED_SUFFIXES = frozenset(
    ".hdf5 .h5 .he5 .nc .feather .arrow .arrows .parquet .npy .npz .mat .zip .gz .bz2 .xz .zst .7z "
    ".png .jpg .jpeg .tif .tiff .mp4 .avi .mkv .mov .webm".split()
)
#: Files up to this size are deflated without looking (cheap whatever they hold).
SMALL_FILE_BYTES = 64 * 1024
#: Other files are deflated when their first bytes shrink to at most this fraction.
DEFLATE_WHEN_BELOW = 0.8
_SAMPLE_BYTES = 256 * 1024
_COPY_BYTES = 1 << 20
_FAST_LEVEL = 1  # zlib's fastest: on text a little larger than the default level, several times faster


def storage_to_zip(path, outfile=None, overwrite=False):
    """Create a ZIP archive of a data storage tree.

    The archive holds the root folder itself: every path inside it is
    relative to the root's parent (``data/subject/task/trials.csv``), and
    the folder structure, empty folders included, is kept. Symbolic links
    are never followed out of the tree: a link to a file inside the root is
    archived as that file, anything else is skipped (and logged).

    Each file is deflated or stored, whichever pays: binary formats that do
    not compress (:data:`STORED_SUFFIXES`: HDF5, Arrow, Parquet, images...)
    are stored, small files are deflated, and other files are deflated (at
    zlib's fastest level) when a sample of them compresses well. So the
    archive of a store of recorded data costs about what a plain copy does.

    Parameters
    ----------
    path : str or Path
        The root of the storage tree.
    outfile : str or Path, optional
        The archive to create; by default beside the root, named after it
        with ``.zip`` added. It must not lie inside the tree.
    overwrite : bool
        Replace an existing archive; by default it is an error.

    Returns
    -------
    str
        The path of the archive created.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder.
    FileExistsError
        If ``outfile`` exists and ``overwrite`` is false (it is named).
    ValueError
        If ``outfile`` lies inside the tree.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"no storage folder {root}")
    real_root = root.resolve()
    given_root = Path(os.path.abspath(root))  # the name the user knows, even through a link
    if outfile is None:
        outfile = given_root.parent / (given_root.name + ".zip")
    outfile = Path(outfile)
    real_out = outfile.parent.resolve() / outfile.name
    if real_out == real_root or real_root in real_out.parents:
        raise ValueError(
            f"the archive {outfile} would be inside the tree it archives ({root}); "
            "write it outside the storage root"
        )
    top = given_root.name
    with atomic_path(real_out, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for folder, dirnames, filenames in os.walk(real_root, followlinks=False):
                folder = Path(folder)
                relative = folder.relative_to(real_root)
                dirnames.sort()
                for dirname in list(dirnames):
                    if (folder / dirname).is_symlink():
                        logger.warning("not archiving the linked folder %s", folder / dirname)
                        dirnames.remove(dirname)
                if not filenames and not dirnames:
                    archive.writestr(_arcname(top, relative) + "/", b"")
                for filename in sorted(filenames):
                    source = folder / filename
                    if source.is_symlink():
                        target = source.resolve()
                        if real_root not in target.parents or not target.is_file():
                            logger.warning("not archiving %s: it links outside %s", source, root)
                            continue
                    if not source.is_file():
                        continue
                    _add_file(archive, source, _arcname(top, relative / filename))
    return str(real_out)


def _arcname(top, relative):
    parts = [top] + [p for p in Path(relative).parts if p not in ("", ".")]
    return "/".join(parts)


def _add_file(archive, source, arcname):
    compression = _compression_for(source)
    if compression == zipfile.ZIP_DEFLATED:
        archive.write(source, arcname, compress_type=compression, compresslevel=_FAST_LEVEL)
        return
    # zipfile copies in 8 KiB pieces; large pieces make storing as fast as the disk.
    info = zipfile.ZipInfo.from_file(source, arcname)
    info.compress_type = zipfile.ZIP_STORED
    with open(source, "rb") as src, archive.open(info, "w") as dest:
        shutil.copyfileobj(src, dest, _COPY_BYTES)


def _compression_for(path):
    """ZIP_STORED or ZIP_DEFLATED for one file, by its format or a sample of its bytes."""
    if path.suffix.lower() in STORED_SUFFIXES:
        return zipfile.ZIP_STORED
    if path.stat().st_size <= SMALL_FILE_BYTES:
        return zipfile.ZIP_DEFLATED
    with open(path, "rb") as f:
        sample = f.read(_SAMPLE_BYTES)
    if len(zlib.compress(sample, _FAST_LEVEL)) <= DEFLATE_WHEN_BELOW * len(sample):
        return zipfile.ZIP_DEFLATED
    return zipfile.ZIP_STORED
