"""Warm up recording: the imports and first-time setup a StreamRecorder and its writers need.

Call :func:`warm_up` once before recording (at start-up, or in a background
thread before Record is enabled), so that the first
:meth:`rigbook.collectors.recording.StreamRecorder.poll` of a recording costs
what later ones do. Nothing in the recording path imports pandas any more
(see :mod:`rigbook.storage.arrow_columns`); what is left to initialise is the
Arrow IPC writer.
"""

__all__ = ["warm_up"]


def warm_up():
    """Import and initialise what recording needs, so the first poll of a recording does not block.

    Idempotent and thread-safe: it may run in a background thread. It costs
    about a millisecond once :mod:`rigbook.collectors` is imported (that import
    brings numpy and pyarrow).
    """
    import numpy as np
    import pyarrow as pa

    from rigbook.collectors.recording import StreamRecorder  # noqa: F401  (the recorder's module and imports)
    from rigbook.storage import StreamWriter  # noqa: F401  (the writers' module and its imports)
    from rigbook.storage.arrow_columns import record_batch

    # A batch of each column kind written to an in-memory stream: the Arrow IPC writer
    # initialises itself on first use.
    batch = record_batch({"t": np.zeros(1), "n": np.zeros(1, np.int64), "b": np.zeros(1, bool)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
