"""Where a metadata entry goes: the category conventions of metadata.json.

The first level of metadata.json is fixed: :data:`CATEGORIES` (more may
appear). A name is split into a key path:

* ``"animal/screening/image"`` -> ``["animal", "screening", "image"]``
  (the first level of a ``/`` path is its category; any name may start a new one);
* ``"general_db_idx"`` -> ``["general", "db_idx"]``: a first level of the form
  ``<category>_<rest>``, where ``<category>`` is one of :data:`CATEGORIES`,
  goes to ``[category][rest]`` (``"stimulus_protocol/gratings"`` ->
  ``["stimulus", "protocol", "gratings"]``);
* a single name with no category, such as ``"unspecified_entry"``, goes to
  ``["general", name]``; a bare category name (``"animal"``) is the whole
  category and takes a dict.

Entries are merged into one tree; two entries claiming the same key (or one
claiming a key inside another's non-dict value) is a ValueError naming it.
"""

__all__ = ["CATEGORIES", "MetadataTree", "join_path", "split_name"]

#: The fixed first level of metadata.json, in file order.
CATEGORIES = ("general", "animal", "stimulus", "imaging", "behavior", "camera")


def split_name(name):
    """The key path (a list of strings) of a metadata name; ValueError for an empty or malformed one."""
    if not isinstance(name, str):
        raise TypeError(f"metadata names are strings like 'animal/age', not {type(name).__name__}: {name!r}")
    parts = name.split("/")
    if not name or any(not part for part in parts):
        raise ValueError(f"invalid metadata name {name!r}: use 'category/name' with non-empty parts")
    first = parts[0]
    if first not in CATEGORIES:
        prefix, underscore, rest = first.partition("_")
        if underscore and rest and prefix in CATEGORIES:
            parts = [prefix, rest, *parts[1:]]
    if len(parts) == 1 and parts[0] not in CATEGORIES:
        parts = ["general", parts[0]]
    return parts


def join_path(parts):
    """The ``/``-joined form of a key path."""
    return "/".join(str(p) for p in parts)


def _copy_dicts(value):
    # Only the dict structure is copied: merging must never write into the caller's dicts.
    if isinstance(value, dict):
        return {key: _copy_dicts(item) for key, item in value.items()}
    return value


class MetadataTree:
    """A nested dict being filled from several sources, refusing conflicting keys."""

    def __init__(self):
        self.root = {category: {} for category in CATEGORIES}
        # (key path, value as given, source) of each insert: who owns a key is only looked up on a clash,
        # so building the tree costs no bookkeeping per leaf.
        self._entries = []

    def insert(self, parts, value, source):
        """Put ``value`` at key path ``parts``; dict values merge with what is there.

        Raises
        ------
        ValueError
            If a key is already taken by another entry (the message names the
            key and both sources).
        """
        if len(parts) == 1 and not isinstance(value, dict):
            raise ValueError(
                f"{source}: {parts[0]!r} is a whole category and takes a dict; "
                f"name an entry inside it, such as '{parts[0]}/<name>'"
            )
        node = self.root
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                self._clash(parts[: depth + 1], source)
            node = child
        self._place(node, list(parts), _copy_dicts(value), source)
        self._entries.append((list(parts), value, source))

    def _place(self, node, parts, value, source):
        key = parts[-1]
        if key not in node:
            node[key] = value
            return
        existing = node[key]
        if isinstance(existing, dict) and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                self._place(existing, parts + [sub_key], sub_value, source)
            return
        self._clash(parts, source)

    def _source_of(self, parts):
        # The source that put a value at ``parts``, else one that put something above or below it.
        nearby = None
        for entry_parts, value, source in self._entries:
            depth = len(entry_parts)
            if parts[:depth] == entry_parts:
                node = value
                for part in parts[depth:]:
                    if not isinstance(node, dict) or part not in node:
                        node = _ABSENT
                        break
                    node = node[part]
                if node is _ABSENT:
                    continue
                if not isinstance(node, dict):
                    return source
                nearby = nearby or source
            elif entry_parts[: len(parts)] == parts:
                nearby = nearby or source
        return nearby or "another entry"

    def _clash(self, parts, source):
        path = join_path(parts)
        raise ValueError(f"metadata key {path!r} is given twice: by {self._source_of(list(parts))} and by {source}")


_ABSENT = object()
