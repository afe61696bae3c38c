"""One trial in memory: its attributes and the arrays it accumulates."""

import numpy as np

from rigbook.storage.ids import validate_id

_MIN_CAPACITY = 16


class Array:
    """Samples accumulated during a trial, joined along ``stack_axis``.

    :meth:`stack` copies each block into a buffer that grows geometrically,
    so stacking costs amortized constant time per sample however many
    blocks a trial collects.

    Parameters
    ----------
    stack_axis : int
        The axis along which blocks are joined; 1 (columns) suits
        channels x samples data. One-dimensional blocks are joined end to
        end whatever the axis.

    Examples
    --------
    >>> a = Array(stack_axis=1)
    >>> a.stack(np.zeros((2, 3)))
    >>> a.stack(np.ones((2, 1)))
    >>> a.data.shape
    (2, 4)
    """

    def __init__(self, stack_axis=1):
        if isinstance(stack_axis, bool) or not isinstance(stack_axis, (int, np.integer)):
            raise TypeError(f"stack_axis must be an int, got {stack_axis!r}")
        self.stack_axis = int(stack_axis)
        self.clear()

    def clear(self):
        """Forget every stacked sample."""
        self._buffer = None  # the samples, with the stack axis moved to the front
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
        if block.dtype.kind in "OUSV":
            raise TypeError(f"Array holds numeric samples, got dtype {block.dtype}")
        axis = 0 if block.ndim == 1 else self.stack_axis
        if not -block.ndim <= axis < block.ndim:
            raise ValueError(
                f"cannot stack a block of shape {block.shape} along axis {self.stack_axis}"
            )
        axis %= block.ndim
        moved = np.moveaxis(block, axis, 0)
        if self._buffer is None:
            capacity = max(_MIN_CAPACITY, moved.shape[0])
            self._buffer = np.empty((capacity,) + moved.shape[1:], dtype=moved.dtype)
            self._axis = axis
        elif moved.shape[1:] != self._buffer.shape[1:] or block.ndim != len(self._shape()):
            raise ValueError(
                f"cannot stack a block of shape {block.shape} onto samples of shape "
                f"{self._shape()} along axis {self._axis}"
            )
        needed = self._length + moved.shape[0]
        dtype = np.result_type(self._buffer.dtype, moved.dtype)
        if needed > self._buffer.shape[0] or dtype != self._buffer.dtype:
            capacity = max(needed, 2 * self._buffer.shape[0])
            grown = np.empty((capacity,) + self._buffer.shape[1:], dtype=dtype)
            grown[: self._length] = self._buffer[: self._length]
            self._buffer = grown
        self._buffer[self._length : needed] = moved
        self._length = needed

    def _shape(self):
        shape = list(self._buffer.shape)
        shape[0] = self._length
        shape.insert(self._axis, shape.pop(0))
        return tuple(shape)

    @property
    def data(self):
        """The stacked samples as one array, or None if nothing was stacked."""
        if self._buffer is None:
            return None
        return np.moveaxis(self._buffer[: self._length], 0, self._axis)

    def __repr__(self):
        shape = None if self._buffer is None else self._shape()
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

    def add_array(self, name, stack_axis=1):
        """Create the array ``name`` for this trial and return it.

        Raises
        ------
        ValueError
            If ``name`` is not a valid ID (it becomes a file name).
        """
        validate_id(name, "array name")
        array = Array(stack_axis=stack_axis)
        self.arrays[name] = array
        return array

    def __repr__(self):
        return f"Trial(attrs={self.attrs!r}, arrays={list(self.arrays)})"
