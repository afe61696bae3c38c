"""Append-only columnar storage for accumulators, grown in chunks.

Rows are stored column by column in chunks: appending never copies the rows
already held (no re-concatenation of the history), and the unused tail of the
last chunk is kept small relative to what is held (each new chunk holds about
1/16 of the rows already held, within fixed bounds), so memory stays close to
the raw size of the data. Dropping old rows drops whole chunks.

Large chunks of one dtype are :class:`~rigbook.collectors.resident.MappedBlock`
memory, made resident ahead of the rows being written: a fast stream spent
more time faulting fresh pages in than copying its data.

A store that keeps a bounded window (see :meth:`ColumnStore.drop_before`)
reuses the chunks it drops for the next rows: memory it already touched,
and a resident set that stays flat however long the stream runs.

Rows are addressed by their *absolute* index: the number of rows appended
before them since the store was created. Trimming never renumbers rows.
"""

import numpy as np

from rigbook.collectors.resident import mapped_block

MIN_CHUNK_ROWS = 64
MAX_CHUNK_ROWS = 1 << 18
#: chunks of at least this many bytes are mapped and populated ahead of writing
MAPPED_CHUNK_BYTES = 1 << 20


class _Chunk:
    """One allocation: ``cap`` rows of every column, the first ``n`` filled."""

    __slots__ = ("block", "cols", "n", "cap", "first_row", "mapped")

    def reuse(self, first_row):
        """Empty this chunk to hold rows from ``first_row`` on (its memory stays resident)."""
        self.n = 0
        self.first_row = first_row
        return self

    def __init__(self, dtypes, uniform, cap, first_row):
        self.cap = cap
        self.n = 0
        self.first_row = first_row
        self.mapped = None
        if uniform:
            # One 2-D allocation per chunk: every column is a contiguous row of
            # it, and a range of rows of all columns is a single (strided) view.
            if len(dtypes) * cap * dtypes[0].itemsize >= MAPPED_CHUNK_BYTES:
                self.mapped = mapped_block(len(dtypes), cap, dtypes[0])
            if self.mapped is not None:
                self.block = self.mapped.array
            else:
                self.block = np.empty((len(dtypes), cap), dtype=dtypes[0])
            self.cols = list(self.block)
        else:
            self.block = None
            self.cols = [np.empty(cap, dtype=dtype) for dtype in dtypes]

    @property
    def nbytes(self):
        if self.block is not None:
            return self.block.nbytes
        return sum(col.nbytes for col in self.cols)


class ColumnStore:
    """Chunked column storage with absolute row addressing.

    Parameters
    ----------
    dtypes : sequence of numpy dtypes
        One per column, in order.
    """

    def __init__(self, dtypes):
        self.dtypes = [np.dtype(d) for d in dtypes]
        if not self.dtypes:
            raise ValueError("a column store needs at least one column")
        self.uniform = all(d == self.dtypes[0] for d in self.dtypes)
        self._chunks = []
        self._spare = []  # chunks dropped by drop_before, kept for reuse
        #: absolute index of the first row still held
        self.first_row = 0
        #: absolute index one past the last row (rows appended since creation)
        self.end_row = 0

    @property
    def n_columns(self):
        return len(self.dtypes)

    @property
    def n_rows(self):
        """Number of rows held."""
        return self.end_row - self.first_row

    @property
    def nbytes(self):
        """Bytes allocated for the column data, including unused chunk space and spare chunks."""
        return sum(chunk.nbytes for chunk in self._chunks) + sum(chunk.nbytes for chunk in self._spare)

    @property
    def raw_nbytes(self):
        """Bytes the held rows take in plain numpy arrays, without slack."""
        return self.n_rows * sum(d.itemsize for d in self.dtypes)

    # -- appending -----------------------------------------------------------

    def _writable_chunk(self, incoming):
        """The chunk to write into; a new one takes all ``incoming`` rows if they are more than its share."""
        if self._chunks and self._chunks[-1].n < self._chunks[-1].cap:
            return self._chunks[-1]
        # A block bigger than the usual growth step gets a chunk of its own
        # size: it is filled at once (no slack), and a block never ends up
        # scattered over many small chunks.
        cap = min(max(self.n_rows // 16, MIN_CHUNK_ROWS, incoming), MAX_CHUNK_ROWS)
        chunk = None
        while self._spare and chunk is None:
            spare = self._spare.pop()
            if cap // 2 <= spare.cap <= 2 * cap:
                chunk = spare.reuse(self.end_row)
        if chunk is None:
            chunk = _Chunk(self.dtypes, self.uniform, cap, self.end_row)
        self._chunks.append(chunk)
        return chunk

    def append_rows(self, rows):
        """Append a 2-D array of shape (k, n_columns), one row per sample."""
        k = len(rows)
        done = 0
        while done < k:
            chunk = self._writable_chunk(k - done)
            m = min(k - done, chunk.cap - chunk.n)
            if chunk.mapped is not None and chunk.n + m > chunk.mapped.resident:
                chunk.mapped.ensure(chunk.n + m)
            part = rows[done : done + m]
            if chunk.block is not None:
                chunk.block[:, chunk.n : chunk.n + m] = part.T
            else:
                for j, col in enumerate(chunk.cols):
                    col[chunk.n : chunk.n + m] = part[:, j]
            chunk.n += m
            done += m
            self.end_row += m

    def append_columns(self, columns):
        """Append columns: a 2-D array (n_columns, k), or equal-length 1-D arrays."""
        k = len(columns[0])
        stacked = isinstance(columns, np.ndarray)
        done = 0
        while done < k:
            chunk = self._writable_chunk(k - done)
            m = min(k - done, chunk.cap - chunk.n)
            if chunk.mapped is not None and chunk.n + m > chunk.mapped.resident:
                chunk.mapped.ensure(chunk.n + m)
            if stacked and chunk.block is not None:
                chunk.block[:, chunk.n : chunk.n + m] = columns[:, done : done + m]
            else:
                for col, values in zip(chunk.cols, columns):
                    col[chunk.n : chunk.n + m] = values[done : done + m]
            chunk.n += m
            done += m
            self.end_row += m

    # -- dropping ------------------------------------------------------------

    def keep_last(self, n):
        """Drop all but the last ``n`` rows (whole chunks are released)."""
        n = max(0, min(n, self.n_rows))
        self.first_row = self.end_row - n
        while self._chunks and self._chunks[0].first_row + self._chunks[0].n <= self.first_row:
            self._chunks.pop(0)
        if not self._chunks:
            self.first_row = self.end_row

    def drop_before(self, row, time):
        """Drop the oldest chunks whose rows all lie before ``row`` and before ``time`` (column 0).

        The newest chunk always stays. Dropped chunks are kept (at most two)
        for the rows to come. Returns the number of rows dropped.
        """
        chunks = self._chunks
        dropped = 0
        while len(chunks) > 1:
            chunk = chunks[0]
            end = chunk.first_row + chunk.n
            if end > row or not chunk.cols[0][chunk.n - 1] < time:
                break
            chunks.pop(0)
            dropped += end - max(chunk.first_row, self.first_row)
            self.first_row = end
            if len(self._spare) < 2:
                self._spare.append(chunk)
        return dropped

    def clear(self):
        self._chunks = []
        self.first_row = self.end_row

    # -- reading -------------------------------------------------------------

    def segments(self, start, stop):
        """``(chunk, lo, hi)`` pieces covering absolute rows [start, stop)."""
        start = max(start, self.first_row)
        stop = min(stop, self.end_row)
        pieces = []
        if start >= stop:
            return pieces
        # Recent rows are what is asked for most: search from the end.
        for chunk in reversed(self._chunks):
            c0 = chunk.first_row
            c1 = c0 + chunk.n
            if c1 <= start:
                break
            if c0 >= stop:
                continue
            pieces.append((chunk, max(start, c0) - c0, min(stop, c1) - c0))
        pieces.reverse()
        return pieces

    def column(self, j, start=None, stop=None):
        """Column ``j`` over absolute rows [start, stop): a view if they lie in one chunk."""
        start = self.first_row if start is None else start
        stop = self.end_row if stop is None else stop
        pieces = self.segments(start, stop)
        if not pieces:
            return np.empty(0, dtype=self.dtypes[j])
        if len(pieces) == 1:
            chunk, lo, hi = pieces[0]
            return chunk.cols[j][lo:hi]
        return np.concatenate([chunk.cols[j][lo:hi] for chunk, lo, hi in pieces])

    def column_pieces(self, j, start=None, stop=None):
        """Column ``j`` over absolute rows [start, stop) as a list of views, one per chunk."""
        start = self.first_row if start is None else start
        stop = self.end_row if stop is None else stop
        return [chunk.cols[j][lo:hi] for chunk, lo, hi in self.segments(start, stop)]

    def matrix(self, start=None, stop=None):
        """Rows [start, stop) as an (N, n_columns) array; a view when possible.

        A view needs a uniform dtype and the rows inside one chunk; otherwise
        only the requested rows are copied (as float64 if dtypes differ).
        """
        start = self.first_row if start is None else start
        stop = self.end_row if stop is None else stop
        pieces = self.segments(start, stop)
        if self.uniform:
            if len(pieces) == 1:
                chunk, lo, hi = pieces[0]
                return chunk.block[:, lo:hi].T
            if not pieces:
                return np.empty((0, self.n_columns), dtype=self.dtypes[0])
            return np.concatenate([chunk.block[:, lo:hi].T for chunk, lo, hi in pieces])
        n = sum(hi - lo for _, lo, hi in pieces)
        out = np.empty((n, self.n_columns), dtype=np.float64)
        row = 0
        for chunk, lo, hi in pieces:
            for j, col in enumerate(chunk.cols):
                out[row : row + hi - lo, j] = col[lo:hi]
            row += hi - lo
        return out

    def row(self, index):
        """The values of absolute row ``index`` as a tuple of Python scalars."""
        pieces = self.segments(index, index + 1)
        if not pieces:
            raise IndexError(f"row {index} is not held (held rows: {self.first_row}..{self.end_row - 1})")
        chunk, lo, _ = pieces[0]
        return tuple(col[lo].item() for col in chunk.cols)

    def search_time(self, threshold):
        """Absolute index of the first held row whose column 0 is > ``threshold``.

        Column 0 must be sorted over the held rows.
        """
        for chunk in reversed(self._chunks):
            lo = max(self.first_row - chunk.first_row, 0)
            t = chunk.cols[0][lo : chunk.n]
            if len(t) and t[0] <= threshold:
                return chunk.first_row + lo + int(np.searchsorted(t, threshold, side="right"))
        return self.first_row
