"""What a rig is made of: its sources, its protocols, its estimators, its metadata.

A :class:`Rig` is plain data. The controller builds one accumulator per
source, starts each source in its own process, and builds the protocol,
estimators and metadata owners from the factories given. A user's rig
script makes its own :class:`Rig` and hands it to :func:`rigbook.app.run_app`
(window) or :func:`rigbook.session.record` (headless); Rigbook is not edited.
"""

import dataclasses
from typing import Callable, Optional

from rigbook.storage import validate_id

SOURCE_KINDS = ("stream", "framerate")


@dataclasses.dataclass
class Source:
    """One source process and how its samples are collected.

    Parameters
    ----------
    name : str
        Stream name: the accumulator's name and ``streams/<name>.arrows``.
    target : callable
        Module-level function ``target(queue, stop_event, **options)`` run in
        its own (spawned) process; it calls ``queue.put(t, namedtuple)`` or
        ``queue.put_block(times, values)`` with ``time.monotonic()`` stamps.
    options : dict
        Keyword arguments for ``target`` (must be picklable).
    kind : str
        ``"stream"`` (a QueueDataAccumulator: samples with fields) or
        ``"framerate"`` (a FramerateQueueAccumulator: frame-rate reports).
    goal_rate : float, optional
        The rate (Hz) the source should reach; its gauge turns red below it.
    monitored_headers : list of str, optional
        Fields plotted by default.
    category : str
        metadata.json category the stream belongs to (``behavior``, ``camera``, ...).
    plot : bool
        Whether the window shows a live plot of it.
    units : dict, optional
        Unit of each field (``{"x": "mm", "tail_angle": "rad"}``): shown on the
        plot lanes and written with the data.
    descriptions : dict, optional
        A sentence about each field, written with the data.
    in_process : bool
        Run ``target`` in a thread of the app's process instead of its own
        process: for sources that do little work (replaying a file, a fake
        device in tests).
    """

    name: str
    target: Callable
    options: dict = dataclasses.field(default_factory=dict)
    kind: str = "stream"
    goal_rate: Optional[float] = None
    monitored_headers: Optional[list] = None
    category: str = "behavior"
    plot: bool = True
    units: dict = dataclasses.field(default_factory=dict)
    descriptions: dict = dataclasses.field(default_factory=dict)
    in_process: bool = False

    def __post_init__(self):
        validate_id(self.name, "source")
        for what in ("units", "descriptions"):
            mapping = getattr(self, what)
            if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                        for k, v in mapping.items()):
                raise TypeError(f"source {self.name!r}: {what} must be a dict of field name -> str")
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"source {self.name!r}: kind {self.kind!r} is not one of {', '.join(SOURCE_KINDS)}")
        if not callable(self.target):
            raise TypeError(f"source {self.name!r}: target {self.target!r} is not callable")
        if self.goal_rate is not None and not self.goal_rate > 0:
            raise ValueError(f"source {self.name!r}: goal_rate must be positive, got {self.goal_rate!r}")


@dataclasses.dataclass
class Rig:
    """A rig: sources, protocols, estimators and metadata owners.

    Parameters
    ----------
    name : str
        Shown in the window title and written to ``general/rig`` in metadata.
    sources : list of Source
    protocols : dict
        Protocol name -> factory ``factory(tree)`` returning a
        :class:`rigbook.session.protocol.Protocol` (``tree`` is the DataCollector).
    estimators : list of callables
        Each ``factory(accumulators)`` (a dict name -> accumulator) returns an
        :class:`rigbook.session.estimator.Estimator`.
    metadata : list of callables
        Each ``factory(tree)`` returns a Parametrized whose name starts with
        its metadata category (``general/...``, ``animal/...``); they get an
        editor in the window and are saved, restored and written to metadata.
        A rig without a ``general/...`` owner gets experimenter and notes fields.
    script : str or Path, optional
        The rig's script (set by :func:`load_rig`): metadata.json records its
        path, content hash and git commit.
    """

    name: str
    sources: list
    protocols: dict = dataclasses.field(default_factory=dict)
    estimators: list = dataclasses.field(default_factory=list)
    metadata: list = dataclasses.field(default_factory=list)
    script: Optional[object] = None

    def __post_init__(self):
        names = [s.name for s in self.sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rig {self.name!r}: source name {duplicates[0]!r} is used twice")
        if not self.sources:
            raise ValueError(f"rig {self.name!r} has no sources")
        for name in self.protocols:
            validate_id(name, "protocol")


def load_rig(spec):
    """Load a rig from ``"module:function"`` or ``"path/to/script.py:function"``.

    The function is called without arguments and must return a :class:`Rig`.
    """
    import importlib
    import importlib.util
    import pathlib
    import sys

    if ":" not in spec:
        raise ValueError(f"rig {spec!r}: expected 'module:function' or 'script.py:function'")
    where, _, attr = spec.rpartition(":")
    if where.endswith(".py"):
        path = pathlib.Path(where).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"rig script {path} does not exist")
        # Spawned source processes import the script by this module name.
        sys.path.insert(0, str(path.parent))
        module = importlib.import_module(path.stem)
    else:
        module = importlib.import_module(where)
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"rig {spec!r}: {module.__name__} has no {attr!r}") from None
    rig = factory()
    if not isinstance(rig, Rig):
        raise TypeError(f"rig {spec!r}: {attr}() returned {type(rig).__name__}, not a Rig")
    if rig.script is None:
        rig.script = getattr(module, "__file__", None)
    return rig
