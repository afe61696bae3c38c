"""Parameter explorations (the pypet trajectory API) stored in HDF5. No Qt."""

# --- trajectory core (issue 6) ---
from rigbook.trajectory import pypetconstants  # noqa: F401
from rigbook.trajectory.annotations import Annotations  # noqa: F401
from rigbook.trajectory.errors import (  # noqa: F401
    DataNotInStorageError,
    NoSuchServiceError,
    NotUniqueNodeError,
    ParameterLockedException,
    PresettingError,
    TooManyGroupsError,
    VersionMismatchError,
)
from rigbook.trajectory.naturalnaming import (  # noqa: F401
    ConfigGroup,
    DerivedParameterGroup,
    NNGroupNode,
    ParameterGroup,
    ResultGroup,
)
from rigbook.trajectory.node import NNLeaf, NNTreeNode  # noqa: F401
from rigbook.trajectory.objecttable import ObjectTable  # noqa: F401
from rigbook.trajectory.parameter import ArrayParameter, BaseParameter, Parameter, PickleParameter  # noqa: F401
from rigbook.trajectory.pypetconstants import (  # noqa: F401
    LOAD_DATA,
    LOAD_NOTHING,
    LOAD_SKELETON,
    OVERWRITE_DATA,
    STORE_DATA,
    STORE_DATA_SKIPPING,
    STORE_NOTHING,
    UPDATE_DATA,
    UPDATE_SKELETON,
)
from rigbook.trajectory.result import BaseResult, PickleResult, Result  # noqa: F401
from rigbook.trajectory.runs import cartesian_product  # noqa: F401
from rigbook.trajectory.sparse import SparseParameter, SparseResult  # noqa: F401
from rigbook.trajectory.lazyservice import LazyStorageService  # noqa: F401
from rigbook.trajectory.storageservice import HDF5StorageService  # noqa: F401
from rigbook.trajectory.trajectory import SingleRun, Trajectory, load_trajectory  # noqa: F401
# --- end trajectory core ---

# --- running explorations (issue 7) ---
from rigbook.trajectory.environment import Environment  # noqa: F401,E402
from rigbook.trajectory.multiproccontext import MultiprocContext  # noqa: F401,E402
from rigbook.trajectory.progressbar import progressbar  # noqa: F401,E402
from rigbook.trajectory.runner import ExplorationError, RunSummary  # noqa: F401,E402
from rigbook.trajectory.wrappers import (  # noqa: F401,E402
    LockWrapper,
    PipeStorageServiceSender,
    PipeStorageServiceWriter,
    QueueStorageServiceSender,
    QueueStorageServiceWriter,
    ReferenceStore,
    ReferenceWrapper,
    StorageWriterError,
    StorageWriterProcess,
)
from rigbook.trajectory.netlock import (  # noqa: F401,E402  (pyzmq is imported on first use)
    ForkAwareLockerClient,
    LockerClient,
    LockerServer,
    TimeOutLockerServer,
)
from rigbook.trajectory.netqueue import NetQueueStorageServiceSender, NetQueueStorageServiceWriter  # noqa: F401,E402
from rigbook.trajectory.trust import UntrustedPickleError  # noqa: F401,E402
# --- end running explorations ---
