"""Strict comparison for round-trip tests: equal values of exactly the same types."""

import math

import numpy as np
import pandas as pd


def assert_same(a, b, path="value"):
    assert type(a) is type(b), f"{path}: {type(a).__name__} came back as {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, f"{path}: dtype {a.dtype} came back as {b.dtype}"
        assert a.shape == b.shape, f"{path}: shape {a.shape} came back as {b.shape}"
        if a.dtype == object:
            for i, (x, y) in enumerate(zip(a.ravel().tolist(), b.ravel().tolist())):
                assert_same(x, y, f"{path}[{i}]")
        else:
            assert a.tobytes() == b.tobytes(), f"{path}: {a!r} came back as {b!r}"
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} came back as {list(b)}"
        for key in a:
            assert_same(key, next(k for k in b if k == key), f"{path} key")
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: length {len(a)} came back as {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b)), f"{path}: {a!r} came back as {b!r}"
    elif isinstance(a, complex):
        assert_same(a.real, b.real, path)
        assert_same(a.imag, b.imag, path)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype, f"{path}: dtype {a.dtype} came back as {b.dtype}"
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f"{path}: {a!r} came back as {b!r}"
    else:
        assert a == b, f"{path}: {a!r} came back as {b!r}"
