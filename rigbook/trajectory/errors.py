"""Errors of the trajectory package (pypet's names)."""


class NotUniqueNodeError(AttributeError):
    """A name given to the tree matches more than one node at the same depth.

    Subclasses AttributeError so ``hasattr`` and natural naming behave as in pypet.
    """


class NoSuchServiceError(TypeError):
    """The storage service does not understand a message or the data given with it."""


class DataNotInStorageError(IOError):
    """Data to be loaded cannot be found on disk."""


class ParameterLockedException(TypeError):
    """A locked parameter was asked to change its value."""


class PresettingError(RuntimeError):
    """A preset parameter was never added to the trajectory."""


class VersionMismatchError(TypeError):
    """The file was written by an incompatible major format version (use ``force=True``)."""


class TooManyGroupsError(TypeError):
    """Kept for pypet compatibility; Rigbook never raises it."""


class GitDiffError(RuntimeError):
    """Kept for pypet compatibility (the environment's git checks)."""
