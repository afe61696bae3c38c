"""Column blocks in mapped memory whose pages are made resident ahead of the writer.

Storing a fast stream writes to memory the process never touched: every
4 KiB page then costs a page fault, and in a virtual machine each fault is a
trip through the hypervisor, which cost more than copying the data itself.
``MADV_POPULATE_WRITE`` (Linux 5.14) makes a whole stretch resident in one
call, about three times cheaper per byte here. The writer calls it a step
ahead of the rows it writes (through ctypes, which releases the GIL while
the kernel works). Where the call is missing, pages fault in as written.
(Populating from a background thread was tried: on two busy cores it lost
to doing it on the writer's thread.)
"""

import ctypes
import logging
import mmap
import os

import numpy as np

log = logging.getLogger(__name__)

#: bytes of each column made resident per call: small enough that one call
#: stays well inside a GUI tick even when fresh pages are slow (0.4 GB/s seen)
POPULATE_STEP_BYTES = 1 << 16
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


def _find_madvise():
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


_madvise = _find_madvise() if hasattr(mmap, "MAP_ANONYMOUS") else None


class MappedBlock:
    """A ``(n_columns, cap)`` array in its own mapping, made resident row-range by row-range.

    Attributes
    ----------
    array : numpy.ndarray
        The block; column ``j`` is ``array[j]``.
    resident : int
        Rows ``[0, resident)`` of every column are resident.
    """

    __slots__ = ("array", "resident", "_map", "_address")

    def __init__(self, n_columns, cap, dtype):
        dtype = np.dtype(dtype)
        # Private: a shared anonymous mapping would be shmem, slower to populate.
        self._map = mmap.mmap(-1, n_columns * cap * dtype.itemsize, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.array = np.frombuffer(self._map, dtype=dtype).reshape(n_columns, cap)
        self._address = self.array.ctypes.data
        self.resident = 0

    def ensure(self, stop):
        """Make rows up to ``stop`` resident (and a step beyond, for the next writes)."""
        global _madvise
        start = self.resident
        if stop <= start or _madvise is None:
            return
        n_columns, cap = self.array.shape
        itemsize = self.array.itemsize
        stop = min(cap, max(stop, start + POPULATE_STEP_BYTES // itemsize))
        page = mmap.PAGESIZE
        column_bytes = cap * itemsize
        for j in range(n_columns):
            lo = (j * column_bytes + start * itemsize) // page * page
            hi = j * column_bytes + stop * itemsize
            if _madvise(self._address + lo, hi - lo, _MADV_POPULATE_WRITE) != 0:
                # Kernel before 5.14 or not Linux: pages fault in as written.
                log.debug("populating pages ahead is not available: %s", os.strerror(ctypes.get_errno()))
                _madvise = None
                self.resident = cap
                return
        self.resident = stop


def mapped_block(n_columns, cap, dtype):
    """A :class:`MappedBlock`, or None where anonymous mappings cannot be populated."""
    if _madvise is None:
        return None
    return MappedBlock(n_columns, cap, dtype)
