"""Rigbook: acquisition app for lab rigs.

Importing :mod:`rigbook` must not import Qt; the Qt application lives in
:mod:`rigbook.app` and :mod:`rigbook.widgets`. ``rigbook.open_session`` is
imported on first use, so that ``import rigbook`` stays light.
"""

__version__ = "0.1.0"


def __getattr__(name):
    if name == "open_session":
        from rigbook.storage.session_reader import open_session

        return open_session
    raise AttributeError(f"module 'rigbook' has no attribute {name!r}")
