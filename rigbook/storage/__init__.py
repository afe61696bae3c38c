"""Everything on disk: session tree, stream logs, table exports, hdf5 helpers, zip, config store. No Qt."""

from rigbook.storage.atomic import atomic_open, atomic_path
from rigbook.storage.config_store import ConfigStore, config_dir, config_path
from rigbook.storage.ids import validate_id
from rigbook.storage.tables import FORMATS, read_table, write_table

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
]
