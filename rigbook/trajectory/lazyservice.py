"""A storage service that stores and loads nothing (for debugging)."""


class LazyStorageService:
    """Accepts every store and load request and does nothing."""

    multiproc_safe = True
    is_open = False

    def __init__(self, *args, **kwargs):
        pass

    def store(self, *args, **kwargs):
        """Do nothing."""

    def load(self, *args, **kwargs):
        """Do nothing."""
