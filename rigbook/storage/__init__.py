"""Everything on disk: session tree, stream logs, table exports, hdf5 helpers, zip, config store. No Qt."""

from rigbook.storage.atomic import atomic_open, atomic_path
from rigbook.storage.config_store import ConfigStore, config_dir, config_path
from rigbook.storage.ids import validate_id
from rigbook.storage.tables import FORMATS, read_table, write_table
from rigbook.storage.hdf5 import read_hdf5, write_hdf5
from rigbook.storage.store import Storage, makedirs
from rigbook.storage.stream_info import StreamInfo, read_info
from rigbook.storage.streams import StreamWriter, export_stream, read_stream, read_stream_rows
from rigbook.storage.task import TaskReader, TaskWriter
from rigbook.storage.trial import Array, Trial
from rigbook.storage.trials import TrialWriter, read_trials
from rigbook.storage.zip_export import storage_to_zip

__all__ = [
    "FORMATS",
    "atomic_open",
    "atomic_path",
    "ConfigStore",
    "config_dir",
    "config_path",
    "read_table",
    "validate_id",
    "write_table",
    "Array",
    "Storage",
    "StreamInfo",
    "StreamWriter",
    "TaskReader",
    "TaskWriter",
    "Trial",
    "TrialWriter",
    "export_stream",
    "makedirs",
    "read_hdf5",
    "read_info",
    "read_stream",
    "read_stream_rows",
    "read_trials",
    "storage_to_zip",
    "write_hdf5",
]
