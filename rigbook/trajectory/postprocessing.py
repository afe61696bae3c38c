"""Post-processing and pipelines: what runs after the runs, and what a pipeline asks to run.

pypet lets a script hand the environment a *post-processing* function,
``postproc(traj, results, *args, **kwargs)``, called in the parent process
once every run is done, with ``results`` the ``(run index, returned value)``
pairs of the runs so far. It may add results to the trajectory, and it may
ask for more runs: by calling ``traj.f_expand`` itself, by returning a dict
for ``f_expand``, or by returning a tuple of up to five items::

    (expansion dict, run args, run kwargs, postproc args, postproc kwargs)

where each later item (unless None) replaces what the next runs (or the next
post-processing) get. The environment then runs the new runs and calls the
post-processing again, until it no longer enlarges the trajectory.

A *pipeline* function, ``pipeline(traj)``, defines a whole experiment: it adds
and explores parameters and returns what to run, either ``runfunc``,
``(runfunc, args)``, ``(runfunc, args, kwargs)``, or two such tuples, the
second for the post-processing: ``((runfunc, args, kwargs), (postproc, args,
kwargs))``.
"""

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

@dataclass
class Step:
    """A function with the extra arguments it gets after the trajectory (and results)."""

    func: object
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, entry, role):
        """A step from ``func`` or a tuple ``(func[, args[, kwargs]])``; ``role`` names it in errors."""
        if callable(entry):
            return cls(entry)
        if not isinstance(entry, (tuple, list)) or not 1 <= len(entry) <= 3 or not callable(entry[0]):
            raise TypeError(
                f"the {role} must be a function or a tuple (function, args, kwargs) of at most 3 items, "
                f"not {entry!r}"
            )
        args = tuple(entry[1]) if len(entry) > 1 else ()
        kwargs = dict(entry[2]) if len(entry) > 2 else {}
        return cls(entry[0], args, kwargs)


def parse_pipeline_result(result):
    """The run step and the post-processing step (or None) a pipeline function returned.

    Raises
    ------
    RuntimeError
        If the pipeline returned None: there is nothing to run.
    TypeError
        If what it returned is neither a run step nor two steps.
    """
    if result is None:
        raise RuntimeError(
            "the pipeline function returned None: return the run function, "
            "(runfunc, args, kwargs) or ((runfunc, args, kwargs), (postproc, args, kwargs))"
        )
    two_steps = (isinstance(result, (tuple, list)) and len(result) == 2
                 and all(isinstance(part, (tuple, list)) for part in result))
    if two_steps:
        run_part, postproc_part = result
        postproc = Step.parse(postproc_part, "post-processing step of the pipeline") if postproc_part else None
        return Step.parse(run_part, "run step of the pipeline"), postproc
    return Step.parse(result, "run step of the pipeline"), None


@dataclass
class Expansion:
    """What one post-processing call asks for next: how many runs it added, new run arguments (or None)."""

    new_runs: int = 0
    run_args: object = None
    run_kwargs: object = None


class PostProcessing:
    """The post-processing function an environment calls after its runs.

    Parameters
    ----------
    func : callable
        ``func(traj, results, *args, **kwargs)``.
    args, kwargs
        Passed after the trajectory and results.
    """

    def __init__(self, func, args=(), kwargs=None):
        if not callable(func):
            raise TypeError(f"the post-processing function must be callable, not {type(func).__name__}")
        self.func = func
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})

    @classmethod
    def from_step(cls, step):
        """The post-processing a pipeline returned as a :class:`Step`."""
        return cls(step.func, step.args, step.kwargs)

    def __call__(self, traj, results):
        """Call the function; expand the trajectory as it asks; say how.

        Returns
        -------
        Expansion
            How many runs were added (by ``f_expand`` inside the function or
            from what it returned) and any new arguments it returned.
        """
        length = len(traj)
        returned = self.func(traj, list(results), *self.args, **self.kwargs)
        expansion = Expansion()
        explore = None
        if isinstance(returned, dict):
            explore = returned
        elif isinstance(returned, tuple) and returned:
            explore, run_args, run_kwargs, postproc_args, postproc_kwargs = (returned + (None,) * 5)[:5]
            expansion.run_args, expansion.run_kwargs = run_args, run_kwargs
            if postproc_args is not None:
                self.args = tuple(postproc_args)
            if postproc_kwargs is not None:
                self.kwargs = dict(postproc_kwargs)
        elif returned is not None:
            # pypet ignores (and logs) any other return value: it is documented to be lost.
            logger.error("The post-processing function returned %r, which is neither None, a dict for "
                         "f_expand nor a tuple; it is ignored", returned)
        if explore:
            traj.f_expand(explore)
        expansion.new_runs = len(traj) - length
        return expansion
