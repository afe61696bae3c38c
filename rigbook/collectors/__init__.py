"""Live data in memory and session metadata. No Qt: signals are psygnal signals."""

from rigbook.collectors.data_collector import DataCollector, RestoreReport  # noqa: E402
from rigbook.collectors.params import Param, Parametrized  # noqa: E402
