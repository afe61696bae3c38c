"""One trial in memory: its attributes and the arrays it accumulates."""

import numpy as np

from rigbook.storage.ids import validate_id

_MIN_CAPACITY = 16
_VALID_NAMES = set()  # array names already checked: trials reuse the same few


def array_labels(fields=None, time_field=None, units=None, description=None):
    """Check an array's labels; return them as a JSON-able dict (only those given).

    Raises
    ------
    TypeError, ValueError
        A label of the wrong type, or a ``time_field`` / unit naming no field.
    """
    labels = {}
    if fields is not None:
        if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
            raise TypeError(f"fields must be a list of str, got {fields!r}")
        if len(set(fields)) != len(fields):
            raise ValueError(f"fields must be distinct, got {list(fields)!r}")
        labels["fields"] = list(fields)
    if time_field is not None:
        if time_field not in labels.get("fields", ()):
            raise ValueError(f"time_field {time_field!r} is not one of the fields {fields!r}")
        labels["time_field"] = time_field
    if units is not None:
        if not isinstance(units, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in units.items()
        ):
            raise TypeError(f"units must be a dict of field -> unit text, got {units!r}")
        unknown = sorted(set(units) - set(labels.get("fields", units)))
        if unknown:
            raise ValueError(f"units given for {unknown}, which are not among the fields {fields!r}")
        labels["units"] = dict(units)
    if description is not None:
        labels["description"] = str(description)
    return labels


class Array:
    """Samples accumulated during a trial, joined along ``stack_axis``.

    :meth:`stack` copies each block into a buffer that grows geometrically,
    so stacking costs amortized constant time per sample however many
    blocks a trial collects.

    Parameters
    ----------
    data : array_like, optional
        A first block, stacked at once (as AxoPy's ``Array(data=...)``).
    stack_axis : int
        The axis along which blocks are joined; 1 (columns) suits
        channels x samples data. One-dimensional blocks are joined end to
        end whatever the axis.
    fields : list of str, optional
        What each row is (for a 2-D array, the labels of axis 0 when
        stacking columns, of axis 1 when stacking rows), e.g.
        ``["t", "x", "y"]``.
    time_field : str, optional
        Which of ``fields`` is time (in seconds from the recording's start).
    units : dict of str to str, optional
        Unit per field (``{"t": "s", "x": "mm"}``).
    description : str, optional
        What the array holds.

    The labels are written as attributes of ``<name>.hdf5`` by
    :class:`TaskWriter`; they are checked here so that a bad label fails
    where it is given.

    Examples
    --------
    >>> a = Array(stack_axis=1)
    >>> a.stack(np.zeros((2, 3)))
    >>> a.stack(np.ones((2, 1)))
    >>> a.data.shape
    (2, 4)
    """

    def __init__(self, data=None, stack_axis=1, *, fields=None, time_field=None, units=None,
                 description=None):
        if isinstance(stack_axis, bool) or not isinstance(stack_axis, (int, np.integer)):
            raise TypeError(f"stack_axis must be an int, got {stack_axis!r}")
        self.stack_axis = int(stack_axis)
        self.labels = array_labels(fields, time_field, units, description)
        self.clear()
        if data is not None:
            self.stack(data)

    def clear(self):
        """Forget every stacked sample."""
        if getattr(self, "_buffer", None) is not None:
            # Trials tend to repeat their length: start the next one at this size.
            self._capacity_hint = self._length
        else:
            self._capacity_hint = _MIN_CAPACITY
        self._buffer = None  # samples in place; the stack axis has spare capacity at its end
        self._length = 0
        self._axis = None

    def stack(self, data):
        """Append a block of samples.

        Parameters
        ----------
        data : array_like
            A block with the same shape as the previous ones except along
            the stack axis.

        Raises
        ------
        ValueError
            If the block's shape does not fit the blocks stacked before, or
            the stack axis does not exist in it.
        """
        block = np.asarray(data)
        if block.ndim == 0:
            block = block.reshape(1)
        if block.dtype.kind not in "biufc":
            raise TypeError(f"Array holds numeric samples, got dtype {block.dtype}")
        buffer = self._buffer
        if buffer is None:
            self._start(block)
            return
        axis = self._axis
        shape = block.shape
        if len(shape) != buffer.ndim or shape[:axis] != buffer.shape[:axis] or shape[axis + 1 :] != buffer.shape[axis + 1 :]:
            raise ValueError(
                f"cannot stack a block of shape {shape} onto samples of shape "
                f"{self.data.shape} along axis {axis}"
            )
        start = self._length
        end = start + shape[axis]
        if end > buffer.shape[axis] or block.dtype != buffer.dtype:
            buffer = self._grow(end, np.result_type(buffer.dtype, block.dtype))
        buffer[self._index(start, end)] = block
        self._length = end

    def _start(self, block):
        axis = 0 if block.ndim == 1 else self.stack_axis
        if not -block.ndim <= axis < block.ndim:
            raise ValueError(
                f"cannot stack a block of shape {block.shape} along axis {self.stack_axis}"
            )
        self._axis = axis % block.ndim
        self._buffer = np.empty(block.shape, dtype=block.dtype)
        self._length = 0
        self._grow(max(self._capacity_hint, block.shape[self._axis]), block.dtype)
        end = block.shape[self._axis]
        self._buffer[self._index(0, end)] = block
        self._length = end

    def _index(self, start, end):
        return (slice(None),) * self._axis + (slice(start, end),)

    def _grow(self, needed, dtype):
        old = self._buffer
        shape = list(old.shape)
        shape[self._axis] = max(needed, 2 * old.shape[self._axis])
        grown = np.empty(shape, dtype=dtype)
        grown[self._index(0, self._length)] = old[self._index(0, self._length)]
        self._buffer = grown
        return grown

    @property
    def data(self):
        """The stacked samples as one array, or None if nothing was stacked."""
        if self._buffer is None:
            return None
        return self._buffer[self._index(0, self._length)]

    def __repr__(self):
        shape = None if self._buffer is None else self.data.shape
        return f"Array(stack_axis={self.stack_axis}, shape={shape})"


class Trial:
    """A trial's attributes (one row of ``trials.csv``) and its arrays.

    Parameters
    ----------
    attrs : dict, optional
        Attribute name -> value (int, float, bool, str or None); usually
        at least ``block`` and ``trial``.

    Attributes
    ----------
    attrs : dict
        The attributes, written as one row by :meth:`TaskWriter.write`.
    arrays : dict
        Array name -> :class:`Array`; each becomes one dataset of
        ``<name>.hdf5``.
    """

    def __init__(self, attrs=None):
        self.attrs = {} if attrs is None else attrs
        self.arrays = {}

    def add_array(self, name, data=None, stack_axis=1, **labels):
        """Create the array ``name`` for this trial and return it.

        ``data``, ``stack_axis`` and the labels (``fields``, ``time_field``,
        ``units``, ``description``) go to :class:`Array`.

        Raises
        ------
        ValueError
            If ``name`` is not a valid ID (it becomes a file name).
        """
        if name not in _VALID_NAMES:
            validate_id(name, "array name")
            if len(_VALID_NAMES) < 4096:
                _VALID_NAMES.add(name)
        array = Array(data, stack_axis=stack_axis, **labels)
        self.arrays[name] = array
        return array

    def __repr__(self):
        return f"Trial(attrs={self.attrs!r}, arrays={list(self.arrays)})"
