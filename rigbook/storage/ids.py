"""The rules every user-given ID (subject, task, stream, array) must follow.

An ID becomes a file or folder name, so it must not be able to escape its
parent folder, hide among Rigbook's own dot-names, or carry characters that
make a path unreadable in a terminal or a file browser.
"""

import unicodedata

MAX_ID_CHARS = 128
MAX_ID_BYTES = 255


def validate_id(value, kind="ID"):
    """Return ``value`` if it is a valid ID, else raise naming it.

    Parameters
    ----------
    value : str
        The ID to check.
    kind : str
        What the ID names (``"subject ID"``, ``"array name"``...), used in the
        error message.

    Returns
    -------
    str
        ``value`` unchanged.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        If ``value`` is empty, longer than 128 characters or 255 UTF-8 bytes,
        contains ``/`` or ``\\``, starts with ``.``, or contains a Unicode
        control, format, surrogate, private-use or unassigned character.
    """
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a string, got {type(value).__name__}: {value!r}")
    problem = _id_problem(value)
    if problem:
        raise ValueError(f"invalid {kind} {value!r}: {problem}")
    return value


def is_valid_id(value):
    """Whether ``value`` would pass :func:`validate_id`."""
    return isinstance(value, str) and _id_problem(value) is None


def _id_problem(value):
    if not value:
        return "it is empty"
    if len(value) > MAX_ID_CHARS:
        return f"it has {len(value)} characters, at most {MAX_ID_CHARS} are allowed"
    try:
        n_bytes = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "it contains a lone surrogate character"
    if n_bytes > MAX_ID_BYTES:
        return f"it takes {n_bytes} bytes in UTF-8, at most {MAX_ID_BYTES} are allowed"
    if "/" in value or "\\" in value:
        return "it must not contain '/' or '\\'"
    if value.startswith("."):
        return "it must not start with '.' (dot-names are reserved for Rigbook)"
    for position, char in enumerate(value):
        if unicodedata.category(char).startswith("C"):
            return f"it contains the control character U+{ord(char):04X} at position {position}"
    return None
