"""pypet's constant names, so scripts written for pypet find them here.

Messages understood by the storage services, load and store modes, and a few
naming conventions of the trajectory tree.
"""

# Load modes (``f_load(load_parameters=...)`` and friends).
LOAD_NOTHING = 0
LOAD_SKELETON = 1
LOAD_DATA = 2
OVERWRITE_DATA = 3
UPDATE_SKELETON = -1
UPDATE_DATA = -2

# Store modes (``store(TRAJECTORY, traj, store_data=...)``).
STORE_NOTHING = 0
STORE_DATA_SKIPPING = 1
STORE_DATA = 2

# Messages of ``store(msg, ...)`` / ``load(msg, ...)``.
TRAJECTORY = "TRAJECTORY"
SINGLE_RUN = "SINGLE_RUN"
LEAF = "LEAF"
GROUP = "GROUP"
TREE = "TREE"
LIST = "LIST"
MERGE = "MERGE"
PREPARE_MERGE = "PREPARE_MERGE"
BACKUP = "BACKUP"
DELETE = "DELETE"
DELETE_LINK = "DELETE_LINK"
ACCESS_DATA = "ACCESS_DATA"
OPEN_FILE = "OPEN_FILE"
CLOSE_FILE = "CLOSE_FILE"
FLUSH = "FLUSH"
LINK = "LINK"
REMOVE = "REMOVE"

# Tree naming.
RUN_NAME = "run_"
RUN_NAME_DUMMY = "run_ALL"
FORMAT_ZEROS = 8
FORMATTED_RUN_NAME = "run_%08d"
SET_NAME = "run_set_"
FORMATTED_SET_NAME = "run_set_%05d"
SET_NAME_DUMMY = "run_set_ALL"
RUN_NAME_SHORTCUTS = ("crun", "$")

# Short names that natural naming translates.
SHORTCUT_SET = {
    "dpar": "derived_parameters",
    "par": "parameters",
    "conf": "config",
    "res": "results",
}

BRANCHES = ("config", "parameters", "derived_parameters", "results")

# Names the tree refuses for nodes (they would shadow the tree's own API).
TREE_RESERVED = {"f_", "v_", "func", "vars"}

# Wrap modes of the Environment (issue 7 uses them).
WRAP_MODE_QUEUE = "QUEUE"
WRAP_MODE_LOCK = "LOCK"
WRAP_MODE_NONE = "NONE"
WRAP_MODE_PIPE = "PIPE"
WRAP_MODE_LOCAL = "LOCAL"
WRAP_MODE_NETLOCK = "NETLOCK"
WRAP_MODE_NETQUEUE = "NETQUEUE"

# Lengths of human-readable summaries in the overview tables.
HDF5_STRCOL_MAX_VALUE_LENGTH = 64
HDF5_STRCOL_MAX_COMMENT_LENGTH = 256
