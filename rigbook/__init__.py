"""Rigbook: acquisition app for lab rigs.

Importing :mod:`rigbook` must not import Qt; the Qt application lives in
:mod:`rigbook.app` and :mod:`rigbook.widgets`.
"""

__version__ = "0.1.0"
