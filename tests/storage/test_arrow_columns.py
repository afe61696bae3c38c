"""numpy columns to Arrow without pandas: the same arrays pyarrow.array makes."""

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rigbook.storage.arrow_columns import numpy_to_arrow, record_batch

DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "M8[ns]", "M8[us]", "m8[ms]", ">f8", "<U3"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DTYPES).flatmap(lambda d: hnp.arrays(np.dtype(d), hnp.array_shapes(max_dims=1, max_side=40))),
       st.integers(1, 3))
def test_same_array_as_pyarrow_makes(values, step):
    values = values[::step]  # strided views too
    native = values.astype(values.dtype.newbyteorder("="))  # pyarrow.array refuses byte-swapped arrays
    expected = pa.array(native, type=pa.from_numpy_dtype(native.dtype))
    got = numpy_to_arrow(values)
    assert got.type == expected.type and got.null_count == expected.null_count
    if values.dtype.kind == "f":  # NaN: compare the bits
        assert got.to_numpy().tobytes() == expected.to_numpy().tobytes()
    else:
        assert got.equals(expected)


def test_nan_and_bools_keep_their_values():
    got = numpy_to_arrow(np.array([np.nan, -0.0, np.inf]))
    assert np.array_equal(got.to_numpy(), [np.nan, -0.0, np.inf], equal_nan=True)
    assert np.signbit(got.to_numpy()[1])
    bools = np.array([True, False, True, True, False, False, False, False, True])
    assert numpy_to_arrow(bools).to_pylist() == bools.tolist()


def test_record_batch_keeps_names_and_order():
    batch = record_batch({"t": np.arange(3.0), "n": np.arange(3), "ok": np.ones(3, bool)})
    assert batch.schema.names == ["t", "n", "ok"]
    assert batch.schema.types == [pa.float64(), pa.int64(), pa.bool_()]
    assert batch.column(1).to_pylist() == [0, 1, 2]


def test_a_2d_array_is_refused():
    with pytest.raises(ValueError, match="1-D"):
        numpy_to_arrow(np.zeros((2, 2)))


def test_no_pandas_import():
    code = (
        "import sys, numpy as np\n"
        "from rigbook.storage.arrow_columns import record_batch\n"
        "record_batch({'t': np.arange(3.0), 'b': np.ones(3, bool), 'n': np.zeros(3, '>i4')})\n"
        "print('pandas' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
