"""Live data in memory and session metadata. No Qt: signals are psygnal signals."""

from rigbook.collectors.data_collector import DataCollector, RestoreReport  # noqa: E402
from rigbook.collectors.params import Param, Parametrized  # noqa: E402
from rigbook.collectors.accumulators import (  # noqa: E402
    Accumulator,
    DataFrameAccumulator,
    RowsTrimmedError,
)
from rigbook.collectors.framerate import FramerateAccumulator, FramerateQueueAccumulator  # noqa: E402
from rigbook.collectors.logs import DynamicLog, EstimatorLog  # noqa: E402
from rigbook.collectors.namedtuplequeue import NamedTupleQueue  # noqa: E402
from rigbook.collectors.queue_accumulator import QueueDataAccumulator  # noqa: E402
from rigbook.collectors.recording import StreamRecorder  # noqa: E402
