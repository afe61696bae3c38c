"""numpy columns to Arrow without pandas.

``pyarrow.array()`` asks whether pandas is installed the first time it sees
an object, which imports pandas: 150-700 ms that would fall on the first poll
of a recording. Numeric and bool columns (all an accumulator holds) are
wrapped here from their buffers instead (no copy except bools, which Arrow
packs to bits); other dtypes go through ``pyarrow.array`` (which turns NaT
into null, for instance).
"""

import numpy as np
import pyarrow as pa

__all__ = ["numpy_to_arrow", "record_batch"]


def numpy_to_arrow(values):
    """A 1-D numpy array as a ``pyarrow.Array`` of the matching type.

    The Arrow array shares the memory of ``values`` (except for bools): do
    not modify ``values`` afterwards.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"a column must be 1-D, got shape {values.shape}")
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))  # Arrow holds native byte order only
    kind = values.dtype.kind
    if kind == "b":
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    if kind in "iuf":
        return pa.Array.from_buffers(
            pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(np.ascontiguousarray(values))]
        )
    return pa.array(values, type=pa.from_numpy_dtype(values.dtype))


def record_batch(columns):
    """A ``pyarrow.RecordBatch`` of ``{name: 1-D numpy array}`` (see :func:`numpy_to_arrow`)."""
    return pa.RecordBatch.from_arrays([numpy_to_arrow(v) for v in columns.values()], names=list(columns))
