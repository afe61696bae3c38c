"""SparseParameter and SparseResult: scipy.sparse matrices (csr, csc, bsr, dia) as leaves.

A matrix is written as its component arrays (``data``, ``indices``,
``indptr`` or ``offsets``) plus its format and shape, each an item named
``<name>__spsp__<part>``, so the file holds plain arrays. scipy is needed
only when such a leaf is used (``pip install rigbook[sparse]``).
"""

import numpy as np

from rigbook.trajectory.objecttable import ObjectTable
from rigbook.trajectory.parameter import Parameter, range_values
from rigbook.trajectory.result import Result

SPARSE_FORMATS = ("csr", "csc", "bsr", "dia")
_MARK = "__spsp__"


def _scipy_sparse():
    try:
        import scipy.sparse
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("sparse leaves need scipy: pip install scipy (or rigbook[sparse])") from error
    return scipy.sparse


def is_supported_sparse(value):
    """Whether ``value`` is a scipy.sparse matrix or array in one of :data:`SPARSE_FORMATS`."""
    module = type(value).__module__
    if not module.startswith("scipy.sparse"):
        return False
    return getattr(value, "format", None) in SPARSE_FORMATS


def sparse_to_items(name, matrix):
    """The plain items that describe ``matrix`` (see the module docstring)."""
    prefix = name + _MARK
    items = {
        prefix + "format": matrix.format,
        prefix + "shape": tuple(int(n) for n in matrix.shape),
        # scipy has matrices (csr_matrix) and arrays (csr_array); give back the same kind.
        prefix + "kind": "array" if type(matrix).__name__.endswith("_array") else "matrix",
        prefix + "data": np.asarray(matrix.data),
    }
    if matrix.format == "dia":
        items[prefix + "offsets"] = np.asarray(matrix.offsets)
    else:
        items[prefix + "indices"] = np.asarray(matrix.indices)
        items[prefix + "indptr"] = np.asarray(matrix.indptr)
    return items


def items_to_sparse(name, items):
    """Rebuild the matrix ``name`` from the items :func:`sparse_to_items` wrote."""
    sp = _scipy_sparse()
    prefix = name + _MARK
    fmt = str(items[prefix + "format"])
    if fmt not in SPARSE_FORMATS:
        raise ValueError(f"sparse item {name!r} has unknown format {fmt!r}")
    cls = getattr(sp, f"{fmt}_{items.get(prefix + 'kind', 'matrix')}")
    shape = tuple(items[prefix + "shape"])
    if fmt == "dia":
        return cls((items[prefix + "data"], items[prefix + "offsets"]), shape=shape)
    return cls((items[prefix + "data"], items[prefix + "indices"], items[prefix + "indptr"]), shape=shape)


def _sparse_names(items):
    """Names of the sparse matrices among stored items, in order."""
    names = []
    for key in items:
        name, mark, part = key.partition(_MARK)
        if mark and part == "format" and name not in names:
            names.append(name)
    return names


def _same_matrix(a, b):
    return a.format == b.format and a.shape == b.shape and (a != b).nnz == 0


class SparseParameter(Parameter):
    """A parameter whose value may be a scipy.sparse matrix (csr, csc, bsr or dia), explorable.

    Every value of an exploration has the default's format and dtype.
    """

    def f_supports(self, data):
        return is_supported_sparse(data) or super().f_supports(data)

    def _check_value(self, data):
        if not is_supported_sparse(data):
            super()._check_value(data)

    def _values_of_same_type(self, a, b):
        if is_supported_sparse(a) or is_supported_sparse(b):
            return (is_supported_sparse(a) and is_supported_sparse(b) and type(a) is type(b)
                    and a.dtype == b.dtype)
        return super()._values_of_same_type(a, b)

    def _equal_values(self, a, b):
        if is_supported_sparse(a) or is_supported_sparse(b):
            return self._values_of_same_type(a, b) and _same_matrix(a, b)
        return super()._equal_values(a, b)

    def _store(self):
        if not is_supported_sparse(self._default):
            return super()._store()
        store_dict = sparse_to_items("data", self._default)
        if self._explored_range:
            # Each distinct matrix once; the range column lists which one each run uses.
            position = {}
            indices = []
            for value in self._explored_range:
                key = id(value)
                if key not in position:
                    position[key] = len(position)
                    store_dict.update(sparse_to_items(f"xspm{position[key]}", value))
                indices.append(position[key])
            store_dict["explored_data"] = ObjectTable(data={"data": indices})
        return store_dict

    def _load(self, load_dict):
        if "data" + _MARK + "format" not in load_dict:
            super()._load(load_dict)
            return
        self._default = self._data = items_to_sparse("data", load_dict)
        if "explored_data" in load_dict:
            matrices = {}
            explored = []
            for i in range_values(load_dict["explored_data"]):
                i = int(i)
                if i not in matrices:
                    matrices[i] = items_to_sparse(f"xspm{i}", load_dict)
                explored.append(matrices[i])
            self._explored_range = explored
            self._explored = True


class SparseResult(Result):
    """A result whose items may also be scipy.sparse matrices (csr, csc, bsr or dia)."""

    def f_set_single(self, name, item):
        if _MARK in str(name):
            raise AttributeError(f"item name {name!r} of {self._full_name!r} contains {_MARK!r}, "
                                 "which marks the parts of stored sparse matrices")
        super().f_set_single(name, item)

    def _check_item(self, name, item):
        if not is_supported_sparse(item):
            super()._check_item(name, item)

    def _store(self):
        store_dict = {}
        for name, item in self._data.items():
            if is_supported_sparse(item):
                store_dict.update(sparse_to_items(name, item))
            else:
                store_dict[name] = item
        return store_dict

    def _load(self, load_dict):
        sparse_names = _sparse_names(load_dict)
        for name in sparse_names:
            self._data[name] = items_to_sparse(name, load_dict)
        for key, value in load_dict.items():
            if _MARK not in key:
                self._data[key] = value
