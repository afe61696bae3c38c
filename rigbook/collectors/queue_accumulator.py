"""QueueDataAccumulator: an accumulator fed by a :class:`NamedTupleQueue`."""

import logging
import queue as queue_module
import time

from rigbook.collectors.accumulators import DataFrameAccumulator
from rigbook.collectors.namedtuplequeue import COLUMNS, ROWS, SCHEMA, NamedTupleQueue

log = logging.getLogger(__name__)


class QueueDataAccumulator(DataFrameAccumulator):
    """Accumulator that drains a :class:`NamedTupleQueue` on :meth:`update_list`.

    Parameters
    ----------
    data_queue : NamedTupleQueue
        Where the samples come from (this accumulator is its only consumer).
    drain_budget : float
        Seconds one :meth:`update_list` call may spend draining (default
        5 ms); what is left waits for the next call, so a flooded stream
        cannot freeze the GUI.
    **kwargs
        As :class:`~rigbook.collectors.Accumulator`.

    Notes
    -----
    A change of sample type in the stream (another namedtuple, other field
    names or dtypes) resets the accumulator: ``sig_acc_resetting``,
    ``sig_acc_reset`` and ``sig_acc_init`` are emitted and the new columns
    start empty. Gaps in the producers' sequence numbers are added to
    :attr:`dropped`.
    """

    def __init__(self, data_queue, drain_budget=0.005, **kwargs):
        if not isinstance(data_queue, NamedTupleQueue):
            raise TypeError(
                f"data_queue must be a rigbook NamedTupleQueue, got {type(data_queue).__name__}"
            )
        super().__init__(**kwargs)
        self.data_queue = data_queue
        self.drain_budget = float(drain_budget)
        # source -> [schema, next expected sequence number]
        self._sources = {}

    def update_list(self):
        """Move every waiting sample into the accumulator, within the time budget.

        Never blocks on an empty queue.

        Returns
        -------
        int
            Number of samples taken in this call.
        """
        deadline = time.perf_counter() + self.drain_budget
        get = self.data_queue.get_message
        taken = 0
        while True:
            try:
                message = get(False)
            except queue_module.Empty:
                break
            taken += self._take(message)
            if time.perf_counter() >= deadline:
                break
        return taken

    def _take(self, message):
        kind, source, seq, payload = message
        state = self._sources.get(source)
        if kind == SCHEMA:
            if state is None:
                self._sources[source] = [payload, seq]
            else:  # keep the count going: a refused put just before is a gap
                state[0] = payload
            self._use_schema(payload)
            return 0
        if state is None:
            log.warning("accumulator %r: data from an unannounced source %s ignored", self.name, source)
            return 0
        schema, expected = state
        if schema != self._schema:
            self._use_schema(schema)
        if seq > expected:
            self.dropped += seq - expected
            log.debug("accumulator %r: %d sample(s) lost before #%d", self.name, seq - expected, seq)
        if kind == ROWS:
            k = len(payload)
            if not payload.flags.writeable:
                payload = payload.copy()
            self._append_rows(payload)
        elif kind == COLUMNS:
            columns = [c if c.flags.writeable else c.copy() for c in payload]
            k = len(columns[0])
            self._append_columns(columns)
        else:
            raise ValueError(f"accumulator {self.name!r}: unknown message kind {kind!r} in the queue")
        state[1] = seq + k
        return k
