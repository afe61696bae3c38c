"""Bound what a power cut can lose: fsync appended files in the background.

Appends reach the OS at once (a killed process loses nothing already
written), but only ``fsync`` puts them on the disk. Calling it after every
trial would cost a disk round trip per trial, so appenders mark their file
dirty and one daemon thread syncs every dirty file at most
:data:`SYNC_INTERVAL` seconds after it was marked. A failed fsync is kept and
raised by the appender's next write, never swallowed.
"""

import errno
import logging
import os
import threading

logger = logging.getLogger(__name__)

#: Longest delay, in seconds, between marking a file dirty and its fsync
#: starting (the guarantee is 0.5 s; the margin covers the fsync itself).
SYNC_INTERVAL = 0.2


class SyncedFile:
    """An open file descriptor the background syncer keeps on disk.

    Parameters
    ----------
    fd : int
        The descriptor; the caller keeps owning it and must call
        :meth:`release` before closing it.
    name : str
        What the file is, for error messages.
    folder : str or Path, optional
        The folder the file was just created in: fsynced together with the
        file's first sync, so that the new name survives a power cut
        without the creator waiting for a disk round trip.
    """

    def __init__(self, fd, name, folder=None):
        self.fd = fd
        self.name = name
        self._folder = folder
        self.error = None
        self._dirty = False
        self._lock = threading.Lock()
        _syncer().add(self)

    def mark_dirty(self):
        """Ask for an fsync within :data:`SYNC_INTERVAL` seconds."""
        if not self._dirty:
            self._dirty = True
            _syncer().wake()

    def raise_error(self):
        """Raise (once) the error of a failed background fsync."""
        error, self.error = self.error, None
        if error is not None:
            raise error

    def sync_now(self):
        """fsync at once if anything was written since the last sync."""
        with self._lock:
            if self.fd is None or not self._dirty:
                return
            self._dirty = False
            os.fsync(self.fd)
            if self._folder is not None:
                fsync_folder(self._folder)
                self._folder = None

    def release(self, sync=True):
        """Stop syncing this descriptor (optionally after a last fsync)."""
        try:
            if sync:
                self.sync_now()
        finally:
            with self._lock:
                self.fd = None
            _syncer().discard(self)

    def _background_sync(self):
        try:
            self.sync_now()
        except OSError as error:
            logger.error("fsync of %s failed: %s", self.name, error)
            self.error = error


class _Syncer:
    def __init__(self):
        self._files = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def add(self, synced_file):
        with self._lock:
            self._files.add(synced_file)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="rigbook-fsync", daemon=True
                )
                self._thread.start()

    def discard(self, synced_file):
        with self._lock:
            self._files.discard(synced_file)

    def wake(self):
        self._wake.set()

    def _run(self):
        idle = threading.Event()
        while True:
            self._wake.wait()
            # Rate-limit: collect the writes of the next interval into one fsync.
            idle.wait(SYNC_INTERVAL)
            self._wake.clear()
            with self._lock:
                files = list(self._files)
            for synced_file in files:
                synced_file._background_sync()


def fsync_folder(folder):
    """fsync a folder, so that a file just created, renamed or deleted in it survives a power cut.

    A no-op where folders cannot be opened (Windows); the file's own fsync
    is the caller's job.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except (PermissionError, IsADirectoryError):  # Windows: folders cannot be opened
        return
    except FileNotFoundError:
        return  # moved or removed since (a task moved aside): nothing left to make durable there
    try:
        os.fsync(fd)
    except OSError as error:
        # Some file systems (network mounts...) refuse fsync on folders.
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


_SYNCER = None
_SYNCER_LOCK = threading.Lock()


def _syncer():
    global _SYNCER
    with _SYNCER_LOCK:
        if _SYNCER is None:
            _SYNCER = _Syncer()
        return _SYNCER


def _forget_syncer_after_fork():
    # A forked child has no syncer thread; give it a fresh one on first use.
    global _SYNCER, _SYNCER_LOCK
    _SYNCER = None
    _SYNCER_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_syncer_after_fork)
