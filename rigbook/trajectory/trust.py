"""Which pickles may be unpickled: only those a trusted Rigbook writer signed.

Unpickling runs code chosen by whoever wrote the bytes, so a file from
someone else must never be unpickled just because one of its leaves says it
is a :class:`~rigbook.trajectory.parameter.PickleParameter`. Every pickle a
Rigbook writer stores is signed: the stored bytes are ``MAGIC`` + an
HMAC-SHA256 of the pickle under a per-user secret + the pickle. On loading,
:func:`loads` unpickles only bytes whose signature matches this user's
secret, unless the caller passed ``allow_pickle=True`` (numpy's convention)
for a file they trust anyway (one written before signatures existed, or by
a colleague).

The secret is 32 random bytes in ``trust.key`` in the user's config folder
(:func:`rigbook.storage.config_store.config_dir`: ``$RIGBOOK_CONFIG_DIR`` or
the platform's user config folder), created on first use, readable and
writable by the user only (0600). Files signed under one account load on
another only with ``allow_pickle=True``, or after copying that key file.

The same secret signs the messages of the NETQUEUE wrap mode
(:mod:`rigbook.trajectory.netqueue`), so a writer only unpickles store
requests from workers that hold the key.
"""

import contextlib
import contextvars
import hashlib
import hmac
import logging
import os
import pickle
import secrets
import stat
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

#: Start of every signed pickle (a pickle itself starts with b"\x80").
MAGIC = b"RBP1"
DIGEST_SIZE = hashlib.sha256().digest_size
SECRET_FILE = "trust.key"
_SECRET_SIZE = 32

_allow_pickle = contextvars.ContextVar("rigbook_allow_pickle", default=False)
_secrets = {}
_secrets_lock = threading.Lock()


class UntrustedPickleError(ValueError):
    """A pickled item was not signed by this user's Rigbook and unpickling it was not allowed.

    Attributes
    ----------
    item : str
        The full name of the item (and part) that was refused.
    """

    def __init__(self, item):
        self.item = item
        super().__init__(
            f"{item!r} holds pickled data that this user's Rigbook did not write; unpickling it could run "
            "code from the file. Load it with allow_pickle=True (e.g. traj.f_load(..., allow_pickle=True) or "
            "load_trajectory(..., allow_pickle=True)) only if you trust the file."
        )

    def __reduce__(self):
        return (type(self), (self.item,))


def secret_path():
    """Where this user's signing key lives (``trust.key`` in the config folder)."""
    from rigbook.storage.config_store import config_dir

    return Path(config_dir()) / SECRET_FILE


def _create_secret(path):
    """Write a new key atomically: whoever links first wins, nobody reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(secrets.token_bytes(_SECRET_SIZE))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        os.unlink(temporary)
    # The key's name must survive a power cut too, or files signed with it stop loading.
    with contextlib.suppress(OSError):  # folders cannot be fsynced everywhere (Windows)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def secret():
    """This user's signing key (created on first use, 0600)."""
    path = secret_path()
    with _secrets_lock:
        key = _secrets.get(path)
        if key is not None:
            return key
        if not path.exists():
            _create_secret(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            logger.warning("%s can be read by other users (mode %o); anyone who reads it can make Rigbook "
                           "unpickle their data: chmod 600 it", path, mode)
        key = path.read_bytes()
        if len(key) != _SECRET_SIZE:
            raise ValueError(f"the signing key {path} is damaged ({len(key)} bytes, not {_SECRET_SIZE}): "
                             "remove it (files signed with it then need allow_pickle=True)")
        _secrets[path] = key
        return key


def digest(data):
    """HMAC-SHA256 of ``data`` under this user's key."""
    return hmac.new(secret(), data, hashlib.sha256).digest()


def verify(data, signature):
    """Whether ``signature`` is :func:`digest` of ``data`` (constant time)."""
    return hmac.compare_digest(digest(data), bytes(signature))


def sign(raw_pickle):
    """The stored form of a pickle written by this Rigbook: magic, signature, pickle."""
    return MAGIC + digest(raw_pickle) + raw_pickle


def dumps(obj, protocol=pickle.HIGHEST_PROTOCOL):
    """Pickle ``obj`` and sign it (see :func:`sign`)."""
    return sign(pickle.dumps(obj, protocol=protocol))


def _split(blob):
    """``(signature, pickle)`` of a signed blob; ``(None, blob)`` for an unsigned one."""
    head = len(MAGIC) + DIGEST_SIZE
    if blob[:len(MAGIC)] == MAGIC and len(blob) > head:
        return blob[len(MAGIC):head], blob[head:]
    return None, blob


def loads(blob, item, allow_pickle=None):
    """Unpickle ``blob`` if this user's Rigbook signed it, or if pickles are allowed.

    Parameters
    ----------
    blob : bytes-like
        What was stored (normally the output of :func:`dumps`).
    item : str
        Full name of the item the bytes belong to, for the error message.
    allow_pickle : bool, optional
        Unpickle even without a valid signature. Default: whatever the
        enclosing :func:`allowing_pickles` says (False outside one).

    Raises
    ------
    UntrustedPickleError
        If the signature is missing or wrong and pickles are not allowed.
    """
    blob = bytes(blob)
    signature, raw = _split(blob)
    if allow_pickle is None:
        allow_pickle = _allow_pickle.get()
    if signature is not None and verify(raw, signature):
        return pickle.loads(raw)
    if not allow_pickle:
        raise UntrustedPickleError(item)
    return pickle.loads(raw)


@contextlib.contextmanager
def allowing_pickles(allow_pickle):
    """Within the block, :func:`loads` unpickles unsigned data too if ``allow_pickle``.

    Storage services wrap a load request in this so that the caller's
    ``allow_pickle=`` reaches every leaf the request loads.
    """
    token = _allow_pickle.set(bool(allow_pickle))
    try:
        yield
    finally:
        _allow_pickle.reset(token)
