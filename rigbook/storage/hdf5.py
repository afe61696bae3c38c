"""Quick access to one dataset at the root of an HDF5 file."""

import os
from pathlib import Path

import numpy as np

from rigbook.storage.atomic import atomic_path


def write_hdf5(filepath, data, dataset="data"):
    """Add one dataset to an HDF5 file, creating the file if needed.

    Parameters
    ----------
    filepath : str or Path
        The file; a new file is written to a temp file and moved into
        place, an existing one gets the dataset added.
    data : array_like or scalar
        Numbers, bools, strings or arrays of them; the dataset's dtype and
        shape follow ``np.asarray(data)``.
    dataset : str
        Name of the dataset at the file's root.

    Raises
    ------
    ValueError
        If the file already has a dataset (or group) named ``dataset``, or
        the name is empty or contains ``/``.
    """
    import h5py

    if not isinstance(dataset, str) or not dataset or "/" in dataset or dataset == ".":
        raise ValueError(f"dataset name must be a non-empty string without '/', got {dataset!r}")
    array = np.asarray(data)
    if array.dtype.kind == "U":
        array = array.astype(object)
        dtype = h5py.string_dtype()
    elif array.dtype.kind == "O":
        if not all(isinstance(v, str) for v in array.flat):
            raise TypeError(f"cannot write {type(data).__name__} data of mixed objects to HDF5")
        dtype = h5py.string_dtype()
    else:
        dtype = array.dtype
    filepath = Path(filepath)
    if not filepath.exists():
        with atomic_path(filepath) as tmp:
            with h5py.File(tmp, "w") as f:
                f.create_dataset(dataset, data=array, dtype=dtype)
        return
    with h5py.File(filepath, "a") as f:
        if dataset in f:
            raise ValueError(f"{filepath} already has a dataset {dataset!r}; it is not overwritten")
        f.create_dataset(dataset, data=array, dtype=dtype)


def read_hdf5(filepath, dataset="data"):
    """Read a whole dataset from the root of an HDF5 file.

    Returns
    -------
    numpy.ndarray or scalar
        The data, as stored (strings come back as ``str``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    KeyError
        If it has no dataset ``dataset``; the message names both.
    """
    import h5py

    if not os.path.exists(filepath):
        raise FileNotFoundError(f"no HDF5 file {filepath}")
    with open_for_reading(filepath) as f:
        node = f.get(dataset)
        if not isinstance(node, h5py.Dataset):
            raise KeyError(f"{filepath} has no dataset {dataset!r}")
        if h5py.check_string_dtype(node.dtype) is not None:
            return node.asstr()[()]
        return node[()]


def open_for_reading(filepath):
    """Open an HDF5 file read-only, even while a writer has it open.

    A file open for writing in this process must be reopened with the same
    locking setting as the writer; one open in another process is locked
    against readers unless locking is skipped. Try the first, then the
    second.
    """
    import h5py

    try:
        return h5py.File(filepath, "r")
    except OSError as first_error:
        try:
            return h5py.File(filepath, "r", locking=False)
        except OSError:
            raise first_error from None
