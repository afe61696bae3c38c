"""ObjectTable: a pandas DataFrame whose cells keep their Python types.

pypet's custom parameters hand their data to the storage service in such
tables (``store_dict['data'] = ObjectTable(data={'data': [value]})``), so a
class written for pypet finds the same container here. The codec stores an
ObjectTable cell by cell (ints stay ints, not numpy int64) and reads it back
as an ObjectTable.
"""

import numpy as np
import pandas as pd


def object_column(values):
    """A 1-d object array of ``values`` (arrays stay whole cells, never broadcast)."""
    values = list(values)
    column = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        column[i] = value
    return column


class ObjectTable(pd.DataFrame):
    """A DataFrame of dtype ``object``: whatever is put in a cell comes back as that object.

    Parameters
    ----------
    data, index, columns, copy
        As for :class:`pandas.DataFrame`; a dict's lists become object columns.
    """

    def __init__(self, data=None, index=None, columns=None, copy=False):
        if isinstance(data, dict):
            data = {key: object_column(value) if not np.isscalar(value) else value for key, value in data.items()}
        super().__init__(data=data, index=index, columns=columns, dtype=object, copy=copy)

    @property
    def _constructor(self):
        return ObjectTable


def range_values(explored):
    """The list of values of an ``explored_data`` entry (an ObjectTable's ``'data'`` column or a list)."""
    if isinstance(explored, pd.DataFrame):
        return list(explored["data"])
    return list(explored)
