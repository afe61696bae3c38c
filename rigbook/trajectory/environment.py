"""The Environment: run a function over every run of a trajectory, and keep what it stores.

>>> env = Environment(trajectory="Multiplication", filename="hdf5/example.hdf5")  # doctest: +SKIP
>>> traj = env.trajectory
>>> traj.f_add_parameter("x", 1); traj.f_add_parameter("y", 1)
>>> traj.f_explore(cartesian_product({"x": [1, 2, 3, 4], "y": [6, 7, 8]}))
>>> env.run(multiply)            # [(0, None), (1, None), ...]

Every run: the trajectory becomes that run (``f_set_crun``), ``func(traj,
*args, **kwargs)`` is called, its new results and derived parameters are
stored, and the run is marked completed with its timing. Runs go one after
the other in this process, on a pool of ``ncores`` processes
(``multiproc=True``) with one of the wrap modes LOCK, QUEUE, PIPE or LOCAL, or
on any ``concurrent.futures.Executor`` (a ``dask.distributed`` client's
executor) with LOCAL. In every mode exactly one process writes to the file at
a time, and a failing run does not stop the others: :meth:`Environment.run`
raises an :class:`~rigbook.trajectory.runner.ExplorationError` at the end
listing them. With ``resumable=True`` an interrupted exploration (a crash,
SIGKILL, a power cut) goes on with :meth:`Environment.resume`.

After the runs, a post-processing function (:meth:`Environment.add_postprocessing`)
may expand the trajectory, which runs the new runs and post-processes again;
:meth:`Environment.pipeline` lets one function set up the whole experiment
(see :mod:`rigbook.trajectory.postprocessing`). With ``use_pool=False`` every
run gets a new forked process instead of a pool worker.
"""

import logging
import multiprocessing
import os
import shutil
import time
from pathlib import Path

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.envlogging import DEFAULT_LOGGING, LogSetup, StdoutRedirect
from rigbook.trajectory.envoptions import take_pypet_options
from rigbook.trajectory.multiproccontext import MultiprocContext  # noqa: F401  (pypet scripts import it from here)
from rigbook.trajectory.postprocessing import PostProcessing, parse_pipeline_result
from rigbook.trajectory.processperrun import process_per_run
from rigbook.trajectory.provenance import environment_identity, git_commit, platform_info, versions
from rigbook.trajectory.resume import ResumeState, rebuild_from_journal, runs_with_data, unreadable_reason
from rigbook.trajectory.runmodes import RunJob
from rigbook.trajectory.runner import ExplorationError, RunEngine, process_pool
from rigbook.trajectory.wrapmodes import WRAP_MODES, InProcessMode, ModeSettings, wrap_mode_class

logger = logging.getLogger(__name__)

_SERVICE_OPTIONS = (
    "file_title", "overwrite_file", "encoding", "complevel", "complib", "shuffle", "fletcher32",
    "pandas_format", "purge_duplicate_comments", "summary_tables", "small_overview_tables",
    "large_overview_tables", "results_per_run", "derived_parameters_per_run", "display_time",
)


def _pool_context():
    # fork keeps functions defined in scripts and tests usable in workers;
    # elsewhere the platform's default start method is the only choice.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


class Environment:
    """Runs a function over every run of a trajectory and stores what it produces.

    Parameters
    ----------
    trajectory : str or Trajectory
        A name for a new trajectory, or a trajectory to use.
    add_time : bool
        Append the creation time to a new trajectory's name.
    comment : str
        Comment of a new trajectory.
    dynamic_imports, dynamically_imported_classes
        Custom parameter or result classes a new trajectory needs.
    filename : str, optional
        The HDF5 file (pypet's default ``./hdf5/<trajectory name>.hdf5``).
    automatic_storing : bool
        Store the trajectory before the runs, each run's new data after it,
        and the trajectory again at the end.
    log_config : 'DEFAULT', None, dict or path
        ``'DEFAULT'``: INFO to the console and everything to a file under
        ``log_folder``; ``None``: configure no logging; a dict for
        ``logging.config.dictConfig`` or an ``.ini`` file.
    log_stdout : bool
        Send what is printed to the log instead of the console: from the
        environment's creation until :meth:`disable_logging` here, and in
        every run.
    log_folder : str, optional
        Where the default log files go (``logs`` beside the HDF5 file).
    log_level : int
        Level of the default log handlers.
    report_progress : bool
        Show a tqdm progress bar on the console.
    multiproc : bool
        Run on a pool of ``ncores`` worker processes.
    ncores : int
        Worker processes; 0 means one per core.
    use_pool : bool
        With ``multiproc``: ``True`` runs on a pool of ``ncores`` processes
        (each run's inputs are pickled to reach them); ``False`` forks a new
        process for every run, ``ncores`` at a time, so inputs need not be
        picklable and a run's memory is freed with its process (only what
        the run function returns is pickled).
    freeze_input : bool
        Hand the trajectory, function and arguments to each worker once,
        instead of with every run.
    wrap_mode : str
        ``'LOCK'`` (default with ``multiproc``), ``'QUEUE'``, ``'PIPE'``,
        ``'NETLOCK'``, ``'NETQUEUE'`` or ``'LOCAL'`` (default and only
        choice with ``executor``); see :mod:`rigbook.trajectory.runmodes`.
    url : str, optional
        NETLOCK / NETQUEUE: where the lock server or the writer listens,
        e.g. ``'tcp://192.168.1.5:7777'`` so that workers on other machines
        reach it. Default: this machine only (``tcp://127.0.0.1``) on
        ``port``.
    port : int, optional
        NETLOCK / NETQUEUE: the port on this machine when ``url`` is not
        given; a free one is chosen by default.
    timeout : float, optional
        NETLOCK: a lock held longer than this many seconds is freed (its
        holder died); see :class:`~rigbook.trajectory.netlock.TimeOutLockerServer`.
    queue_maxsize : int
        Bound of the QUEUE mode's queue (-1: unbounded).
    gc_interval : int, optional
        Collect garbage every this many stores in the writer.
    clean_up_runs : bool
        In this process, remove each run's results from memory once stored.
    executor : concurrent.futures.Executor, optional
        Run on this executor (e.g. ``distributed.Client(...).get_executor()``).
    graceful_exit : bool
        On Ctrl+C, let running runs finish and be stored, start no new ones.
    resumable : bool
        Keep what :meth:`resume` needs in ``resume_folder``.
    resume_folder : str, optional
        Where (``resume`` beside the HDF5 file by default). Older pypet
        scripts' ``continuable`` / ``continue_folder`` mean the same.
    delete_resume : bool
        Remove the resume files once every run completed.
    storage_service : class or object, optional
        Another storage service (class or instance) than HDF5StorageService.
    git_repository : str, optional
        A folder of the user's code repository (the script's folder by
        default); its commit is recorded, never changed.
    lazy_debug : bool
        Accepted for pypet scripts; has no effect.
    keep_file_open : bool
        Keep the HDF5 file open from the first run to the last (one process
        or LOCAL mode). ``False`` opens and closes it for every store, as
        the reference system does; only useful as a baseline.
    wildcard_functions : dict, optional
        Extra wildcards of a new trajectory (see :mod:`~rigbook.trajectory.wildcards`).
    port, timeout
        Address and lock timeout of the NETLOCK / NETQUEUE wrap modes.
    **kwargs
        pypet's keywords for features Rigbook lacks, at their defaults (see
        :mod:`~rigbook.trajectory.envoptions`), pypet's deprecated names,
        trajectory properties (``v_with_links=False`` or ``with_links=False``),
        and HDF5StorageService options: ``file_title``, ``overwrite_file``,
        ``encoding``, ``complevel``, ``complib``, ``shuffle``, ``fletcher32``,
        ``pandas_format``, ``purge_duplicate_comments``, ``summary_tables``,
        ``small_overview_tables``, ``large_overview_tables``,
        ``results_per_run``, ``derived_parameters_per_run``, ``display_time``.
    """

    def __init__(self, trajectory="trajectory", add_time=False, comment="", dynamic_imports=None,
                 dynamically_imported_classes=None, filename=None, automatic_storing=True,
                 log_config=DEFAULT_LOGGING, log_stdout=False, log_folder=None, log_level=logging.INFO,
                 report_progress=True, multiproc=False, ncores=1, use_pool=True, freeze_input=False,
                 wrap_mode=None, queue_maxsize=-1, gc_interval=None, clean_up_runs=True, executor=None,
                 url=None, port=None, timeout=None,
                 graceful_exit=False, resumable=False, resume_folder=None, delete_resume=True,
                 storage_service=None, git_repository=None, keep_file_open=True, lazy_debug=False,
                 wildcard_functions=None, **kwargs):
        renamed = take_pypet_options(kwargs)
        resumable = renamed.get("resumable", resumable)
        resume_folder = renamed.get("resume_folder", resume_folder)
        delete_resume = renamed.get("delete_resume", delete_resume)
        freeze_input = renamed.get("freeze_input", freeze_input)
        storage_service = renamed.get("storage_service", storage_service)
        properties = {key: kwargs.pop(key) for key in list(kwargs)
                      if key not in _SERVICE_OPTIONS and _is_trajectory_property(key)}
        unknown = set(kwargs) - set(_SERVICE_OPTIONS)
        if unknown:
            raise TypeError(f"Environment() got unexpected keyword arguments {sorted(unknown)}")
        if ncores == 0 and not isinstance(ncores, bool):
            ncores = os.cpu_count() or 1  # pypet: 0 means every core
        if isinstance(ncores, bool) or not isinstance(ncores, int) or ncores < 1:
            raise ValueError(f"ncores must be a positive integer or 0 (all cores), not {ncores!r}")
        network = wrap_mode in (pc.WRAP_MODE_NETLOCK, pc.WRAP_MODE_NETQUEUE)
        for name, value in (("url", url), ("port", port), ("timeout", timeout)):
            if value is not None and not network:
                # pypet's defaults pass; a value would silently do nothing in another mode.
                raise ValueError(f"{name}={value!r} is only used by the NETLOCK and NETQUEUE wrap modes, "
                                 f"not {wrap_mode!r}")
        if isinstance(port, str) and url is None:
            url, port = port, None  # pypet also takes the whole address as port='tcp://host:port'
        #: Where NETLOCK / NETQUEUE serve (a port number or a tcp:// URL), and their lock timeout.
        self._port = port
        self._timeout = timeout
        self._executor = executor
        self._multiproc = bool(multiproc) or executor is not None
        self._wrap_mode = self._check_wrap_mode(wrap_mode)
        self._url = self._check_url(url, port)
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
        self._lock_timeout = timeout
        self._ncores = ncores
        self._use_pool = use_pool
        self._freeze_input = bool(freeze_input)
        self._queue_maxsize = queue_maxsize
        self._gc_interval = gc_interval
        self._clean_up_runs = clean_up_runs
        self._automatic_storing = bool(automatic_storing)
        self._log_stdout = bool(log_stdout)
        self._report_progress = bool(report_progress)
        self._graceful_exit = bool(graceful_exit)
        self._resumable = bool(resumable)
        self._delete_resume = bool(delete_resume)
        self._keep_file_open = bool(keep_file_open)
        self._timestamp = time.time()
        self.summary = None
        #: Where resume() moved a damaged HDF5 file it rebuilt (None if it did not).
        self.rebuilt_from = None
        self._running = False
        self._postprocessing = None

        self._traj = self._make_trajectory(trajectory, add_time, comment, dynamic_imports,
                                           dynamically_imported_classes, filename, storage_service, kwargs,
                                           wildcard_functions)
        self._traj.f_set_properties(**properties)
        self._name, self._hexsha = environment_identity(self._traj.v_name, self._timestamp)
        self._traj.__dict__["_environment_name"] = self._name
        self._traj.__dict__["_environment_hexsha"] = self._hexsha
        data_folder = Path(self._traj.v_filename).parent if getattr(self._traj, "v_filename", None) else Path.cwd()
        self._resume_folder = Path(resume_folder) if resume_folder is not None else data_folder / "resume"
        self._logs = LogSetup(log_config, log_folder or data_folder / "logs", self._traj.v_name,
                               self._name, log_level)
        self._add_config(git_repository)
        self._stdout = StdoutRedirect(self._log_stdout)
        logger.info("Environment %s created for trajectory %s", self._name, self._traj.v_name)

    # ------------------------------------------------------------ setup

    def _check_wrap_mode(self, wrap_mode):
        """The mode class for ``wrap_mode`` (LOCAL with an executor, LOCK otherwise by default)."""
        executor = self._executor is not None
        if wrap_mode is None:
            wrap_mode = pc.WRAP_MODE_LOCAL if executor else pc.WRAP_MODE_LOCK
        elif wrap_mode == pc.WRAP_MODE_NONE:
            if self._multiproc:
                others = "', '".join(name for name in WRAP_MODES if name != pc.WRAP_MODE_NONE)
                raise NotImplementedError(
                    f"wrap_mode 'NONE' (workers writing the file unprotected) is not available in Rigbook; "
                    f"use '{others}'")
            wrap_mode = pc.WRAP_MODE_LOCK  # pypet's value for one process: nothing to wrap
        return wrap_mode_class(wrap_mode, executor=executor)

    @staticmethod
    def _check_url(url, port):
        """The NETLOCK / NETQUEUE URL: ``url``, or loopback on ``port``, or None (loopback, any port)."""
        if url is not None and port is not None:
            raise ValueError(f"give url ({url!r}) or port ({port!r}), not both")
        if port is not None:
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"port must be an integer from 1 to 65535, not {port!r}")
            return f"tcp://127.0.0.1:{port}"
        if url is not None and (not isinstance(url, str) or "://" not in url):
            raise ValueError(f"url must be a ZeroMQ address such as 'tcp://127.0.0.1:7777', not {url!r}")
        return url

    def _make_trajectory(self, trajectory, add_time, comment, dynamic_imports, dynamically_imported_classes,
                         filename, storage_service, service_options, wildcard_functions=None):
        from rigbook.trajectory.trajectory import Trajectory

        if isinstance(trajectory, str):
            traj = Trajectory(trajectory, add_time=add_time, comment=comment,
                              dynamically_imported_classes=dynamically_imported_classes,
                              dynamic_imports=dynamic_imports, wildcard_functions=wildcard_functions)
        elif isinstance(trajectory, Trajectory):
            traj = trajectory
        else:
            raise TypeError(f"trajectory must be a name or a Trajectory, not {type(trajectory).__name__}")
        if storage_service is None and (filename is not None or traj.v_storage_service is None):
            from rigbook.trajectory.storageservice import HDF5StorageService

            storage_service = HDF5StorageService
        if isinstance(storage_service, type):
            storage_service = storage_service(filename=filename, trajectory=traj, **service_options)
        if storage_service is not None:
            traj.v_storage_service = storage_service
        return traj

    def _add_config(self, git_repository):
        traj = self._traj
        if f"config.environment.{self._name}" in traj._flat:
            # A second environment for this trajectory within the same second.
            self._name = f"{self._name}_{self._hexsha[:7]}"
            traj.__dict__["_environment_name"] = self._name
        prefix = f"environment.{self._name}"
        settings = {
            "name": self._name,
            "hexsha": self._hexsha,
            "trajectory": traj.v_name,
            "timestamp": self._timestamp,
            "automatic_storing": self._automatic_storing,
            "multiproc": self._multiproc,
            "ncores": self._ncores,
            "use_pool": bool(self._use_pool),
            "wrap_mode": self._wrap_mode.wrap_mode if self._multiproc else pc.WRAP_MODE_NONE,
            "freeze_input": self._freeze_input,
            "executor": type(self._executor).__name__ if self._executor is not None else "",
            "resumable": self._resumable,
            "graceful_exit": self._graceful_exit,
            "log_stdout": self._log_stdout,
        }
        settings.update(platform_info())
        for key, value in settings.items():
            traj.f_add_config(f"{prefix}.{key}", value)
        for package, version in versions().items():
            traj.f_add_config(f"{prefix}.versions.{package}", version)
        commit = git_commit(git_repository)
        if commit is not None and f"config.git.commit_{commit['short_hexsha']}" not in traj._flat:
            group = f"git.commit_{commit['short_hexsha']}"
            for key in ("hexsha", "message", "committed_date", "dirty", "repository"):
                traj.f_add_config(f"{group}.{key}", commit[key])
        self.git_commit = commit

    # ------------------------------------------------------------ properties

    @property
    def trajectory(self):
        """The trajectory this environment runs."""
        return self._traj

    v_trajectory = trajectory
    v_traj = trajectory
    traj = trajectory

    @property
    def name(self):
        """Name of the environment (``environment_<time>``)."""
        return self._name

    v_name = name

    @property
    def hexsha(self):
        """SHA-1 identifying this environment."""
        return self._hexsha

    v_hexsha = hexsha

    @property
    def timestamp(self):
        """When the environment was created (``time.time()``)."""
        return self._timestamp

    v_timestamp = timestamp

    @property
    def v_time(self):
        """When the environment was created, formatted as pypet does (``2026_11_21_11h04m28s``)."""
        from rigbook.trajectory.trajectory import format_time

        return format_time(self._timestamp)

    @property
    def resume_folder(self):
        """Where resumable explorations keep their state."""
        return self._resume_folder

    @property
    def log_file(self):
        """The default log file, or None."""
        return self._logs.log_file

    def disable_logging(self):
        """Remove the log handlers this environment added, close its log files, print to the console again."""
        self._stdout.restore()
        self._logs.remove()

    f_disable_logging = disable_logging

    # ------------------------------------------------------------ running

    def run(self, func, *args, **kwargs):
        """Run ``func(traj, *args, **kwargs)`` for every run of the trajectory.

        Runs that are already completed (an earlier ``run`` before
        ``f_expand``) are not run again.

        Returns
        -------
        list of (int, object)
            ``(run index, returned value)`` for every run done, by index.

        Raises
        ------
        ExplorationError
            At the end, if any run failed or did not finish; every other run
            is stored, and ``error.summary`` holds their results and the
            failed runs' tracebacks.
        """
        return self._execute(func, args, kwargs)

    f_run = run

    def run_map(self, func, *iter_args, **iter_kwargs):
        """Run ``func(traj, *[a[i] for a in iter_args], **{k: v[i]})`` for every run ``i`` (pypet's signature).

        Every positional and keyword argument is an iterable with one value per run.
        """
        iter_args, iter_kwargs = self._per_run_arguments(iter_args, iter_kwargs)
        return self._execute(func, (), {}, iter_args, iter_kwargs)

    def _per_run_arguments(self, iter_args, iter_kwargs):
        length = len(self._traj)
        iter_args = [list(sequence) for sequence in (iter_args or [])]
        iter_kwargs = {key: list(sequence) for key, sequence in (iter_kwargs or {}).items()}
        for what, sequence in [(f"iter_args[{i}]", s) for i, s in enumerate(iter_args)] + list(iter_kwargs.items()):
            if len(sequence) != length:
                raise ValueError(f"run_map: {what} has {len(sequence)} values but the trajectory has {length} runs")
        return iter_args, iter_kwargs

    f_run_map = run_map

    def add_postprocessing(self, postproc, *args, **kwargs):
        """Call ``postproc(traj, results, *args, **kwargs)`` after the runs of every exploration.

        ``results`` are the ``(run index, returned value)`` pairs of all runs
        done so far. The function runs in this process; what it adds to the
        trajectory is stored with it. If it enlarges the trajectory (calling
        ``traj.f_expand`` or returning a dict for it, see
        :mod:`rigbook.trajectory.postprocessing`), the new runs are done and it
        is called again.
        """
        self._postprocessing = PostProcessing(postproc, args, kwargs)

    f_add_postprocessing = add_postprocessing
    add_postproc = add_postprocessing

    def pipeline(self, pipeline):
        """Run a whole experiment: ``pipeline(traj)`` fills the trajectory and returns what to run.

        It returns ``runfunc``, ``(runfunc, args, kwargs)`` or
        ``((runfunc, args, kwargs), (postproc, args, kwargs))``; the runs are
        done as by :meth:`run`, then the post-processing.

        Returns
        -------
        list of (int, object)
            ``(run index, returned value)`` of every run, by index.
        """
        run_step = self._prepare_pipeline(pipeline)
        return self._execute(run_step.func, run_step.args, run_step.kwargs)

    f_pipeline = pipeline

    def pipeline_map(self, pipeline):
        """As :meth:`pipeline`, but the run step's args and kwargs hold one value per run (as :meth:`run_map`)."""
        run_step = self._prepare_pipeline(pipeline)
        iter_args, iter_kwargs = self._per_run_arguments(run_step.args, run_step.kwargs)
        return self._execute(run_step.func, (), {}, iter_args, iter_kwargs)

    f_pipeline_map = pipeline_map

    def _prepare_pipeline(self, pipeline):
        if not callable(pipeline):
            raise TypeError(f"the pipeline must be callable, not {type(pipeline).__name__}")
        run_step, postproc_step = parse_pipeline_result(pipeline(self._traj))
        if postproc_step is not None:
            self._postprocessing = PostProcessing.from_step(postproc_step)
        return run_step

    def resume(self, trajectory_name=None, resume_folder=None, allow_pickle=False):
        """Run every run an interrupted exploration did not complete.

        Parameters
        ----------
        trajectory_name : str, optional
            The trajectory to resume; this environment's by default.
        resume_folder : str, optional
            Where its resume files are; this environment's by default.
        allow_pickle : bool
            Unpickle resume files this user's Rigbook did not sign (see
            :mod:`rigbook.trajectory.trust`); only for folders you trust.

        Returns
        -------
        list of (int, object)
            ``(run index, returned value)`` of the runs done now.
        """
        name = trajectory_name or self._traj.v_name
        state = ResumeState(resume_folder or self._resume_folder, name, allow_pickle=allow_pickle).load()
        recipe = state.read_recipe()
        traj = recipe["trajectory"]
        service = self._traj.v_storage_service
        same_file = (service is not None and recipe["filename"] is not None
                     and os.path.abspath(str(getattr(service, "filename", "") or "")) == os.path.abspath(recipe["filename"]))
        if not same_file:
            from rigbook.trajectory.storageservice import HDF5StorageService

            service = HDF5StorageService(filename=recipe["filename"], trajectory=traj)
        traj.v_storage_service = service
        damage = unreadable_reason(service.filename)
        if damage is None:
            # The file knows which runs completed before the interruption; the pickled recipe does not.
            traj.f_load(name=traj.v_name, load_all=pc.LOAD_NOTHING)
            # Runs stored (wholly or in part) but not listed as completed replace what they left.
            overwrite = runs_with_data(service.filename, traj.v_name) & set(state.missing())
        else:
            # A kill in the middle of a write can leave an HDF5 file unreadable: start it again.
            self.rebuilt_from = rebuild_from_journal(traj, service, state, damage)
            overwrite = set()
        self._traj = traj
        self._resume_folder = state.folder.parent
        logger.info("Resuming %s: %d of %d runs to do", name, len(state.missing()), state.total)
        return self._execute(recipe["func"], recipe["args"], recipe["kwargs"], recipe["iter_args"],
                             recipe["iter_kwargs"], resume_state=state, overwrite_runs=overwrite)

    f_continue = resume

    def _make_mode(self, service, context, resumable):
        settings = ModeSettings(self._traj.v_name, flush=resumable, keep_open=self._keep_file_open,
                                gc_interval=self._gc_interval, queue_maxsize=self._queue_maxsize,
                                url=self._url, timeout=self._lock_timeout)
        mode_class = self._wrap_mode if self._multiproc else InProcessMode
        return mode_class(service, context, settings)

    def _execute(self, func, args, kwargs, iter_args=None, iter_kwargs=None, resume_state=None,
                 overwrite_runs=frozenset()):
        if self._running:
            raise RuntimeError("this environment is already running an exploration")
        if not callable(func):
            raise TypeError(f"the run function must be callable, not {type(func).__name__}")
        traj = self._traj
        service = traj.v_storage_service
        if service is None:
            raise ValueError("the trajectory has no storage service: give the Environment a filename")
        self._running = True
        try:
            if resume_state is None:
                traj._prepare_experiment()
                traj.f_lock_parameters()
                traj.f_store()
                # As in pypet, running again (after f_expand) only does the runs not completed yet.
                indices = [idx for idx in range(len(traj)) if not traj.f_is_completed(idx)]
                if self._resumable:
                    resume_state = ResumeState(self._resume_folder, traj.v_name)
                    self._write_resume_recipe(resume_state, func, args, kwargs, iter_args, iter_kwargs)
                    resume_state.start(total=len(traj), completed=set(range(len(traj))) - set(indices))
            else:
                indices = resume_state.missing()
            summary = self._run_indices(traj, service, func, args, kwargs, iter_args, iter_kwargs,
                                        indices, resume_state, overwrite_runs)
            try:
                self._postprocess(traj, service, func, args, kwargs, iter_args, iter_kwargs, summary, resume_state)
            finally:
                # Whatever post-processing added is kept, even if it failed half way.
                if self._automatic_storing:
                    traj.f_store()
        finally:
            self._running = False
            if resume_state is not None:
                resume_state.close()
        self.summary = summary
        logger.info("Exploration %s: %s", traj.v_name, summary.describe())
        if resume_state is not None and self._delete_resume and not resume_state.missing():
            shutil.rmtree(resume_state.folder, ignore_errors=True)
        if not summary.ok:
            raise ExplorationError(summary)
        return summary.results

    def _postprocess(self, traj, service, func, args, kwargs, iter_args, iter_kwargs, summary, resume_state):
        """Post-process; while that expands the trajectory, do the new runs (into ``summary``) and again."""
        expanded = False
        while summary.ok and self._postprocessing is not None:
            logger.info("Post-processing %s after %d runs", traj.v_name, len(summary.results))
            first_new = len(traj)
            expansion = self._postprocessing(traj, summary.results)
            if not expansion.new_runs:
                break
            logger.info("Post-processing added %d runs to %s", expansion.new_runs, traj.v_name)
            expanded = True
            args, kwargs, iter_args, iter_kwargs = self._arguments_after(
                expansion, first_new, len(traj), args, kwargs, iter_args, iter_kwargs)
            traj.f_store()
            if resume_state is not None:
                logger.warning("Resuming an exploration that post-processing expanded may not work")
                self._write_resume_recipe(resume_state, func, args, kwargs, iter_args, iter_kwargs)
                resume_state.total = len(traj)
            summary.extend(self._run_indices(traj, service, func, args, kwargs, iter_args, iter_kwargs,
                                             range(first_new, len(traj)), resume_state, frozenset()))
        name = f"environment.{self._name}.postproc_expand"
        if expanded and f"config.{name}" not in traj._flat:
            traj.f_add_config(name, True, comment="Added if the trajectory was expanded by post-processing")

    def _write_resume_recipe(self, resume_state, func, args, kwargs, iter_args, iter_kwargs):
        resume_state.write_recipe({
            "trajectory": self._traj, "func": func, "args": args, "kwargs": kwargs,
            "iter_args": iter_args, "iter_kwargs": iter_kwargs,
            "filename": getattr(self._traj, "v_filename", None),
        })

    @staticmethod
    def _arguments_after(expansion, first_new, length, args, kwargs, iter_args, iter_kwargs):
        """The run arguments for runs ``first_new`` on, after a post-processing call."""
        mapped = iter_args is not None or iter_kwargs is not None
        if not mapped:
            if expansion.run_args is not None:
                args = tuple(expansion.run_args)
            if expansion.run_kwargs is not None:
                kwargs = dict(expansion.run_kwargs)
            return args, kwargs, iter_args, iter_kwargs
        # Per-run values are looked up by run index; new ones start at the first new run.
        padding = [None] * first_new
        if expansion.run_args is not None:
            iter_args = [padding + list(sequence) for sequence in expansion.run_args]
        if expansion.run_kwargs is not None:
            iter_kwargs = {key: padding + list(sequence) for key, sequence in expansion.run_kwargs.items()}
        sequences = list(iter_args or []) + list((iter_kwargs or {}).values())
        if any(len(sequence) != length for sequence in sequences):
            raise ValueError(
                f"post-processing expanded the trajectory to {length} runs, but the per-run arguments do not "
                f"have one value for each of the {length - first_new} new runs: return them as the second "
                "and third items of its tuple")
        return args, kwargs, iter_args, iter_kwargs

    def _run_indices(self, traj, service, func, args, kwargs, iter_args, iter_kwargs, indices, resume_state,
                     overwrite_runs):
        context = _pool_context()
        mode = self._make_mode(service, context, resume_state is not None)
        pooled = self._multiproc
        if pooled:
            # Workers get their storage from the mode, never a copy of the parent's open service.
            traj.v_storage_service = None
        job = RunJob(traj, func, args, kwargs, iter_args, iter_kwargs,
                     mode=type(mode) if pooled else None, automatic_storing=self._automatic_storing,
                     clean_up_runs=self._clean_up_runs, log_stdout=self._log_stdout,
                     overwrite_runs=overwrite_runs, journal=resume_state is not None)
        completed_info = []

        def on_outcome(outcome):
            status = mode.on_outcome(outcome)
            payload = outcome.payload or {}
            if outcome.ok and payload.get("journal") is not None:
                # Before the checkpoint lists the run: the file could be rebuilt from this.
                resume_state.append_run(outcome.idx, payload["journal"])
            info = payload.get("run_information")
            if info is not None and outcome.ok:
                completed_info.append(info)
            return status

        def start_mode(executor=None):
            if executor is not None and mode.opens_file_in_parent:
                # A fork pool starts its workers at the first task; let them fork now, before the
                # file is open, or they would keep its descriptor (and HDF5's lock on it).
                executor.submit(int).result()
            mode.start()

        try:
            engine_options = dict(progress=self._report_progress, description=traj.v_name,
                                  graceful_exit=self._graceful_exit, resume_state=resume_state)
            if not pooled:
                start_mode()
                summary = RunEngine(job, **engine_options).run(indices, on_outcome, mode.poll)
            elif self._executor is not None:
                start_mode(self._executor)
                summary = RunEngine(job, executor=self._executor, **engine_options).run(indices, on_outcome, mode.poll)
            else:
                frozen = self._freeze_input
                if not mode.opens_file_in_parent:
                    # The writer process starts before the pool, so workers never hold its pipes' ends.
                    start_mode()
                processes = process_pool if self._use_pool else process_per_run
                if not self._use_pool:
                    # More in flight would only wait for a free process.
                    engine_options["max_in_flight"] = self._ncores
                with processes(self._ncores, job=job if frozen else None, context=context,
                               initializer=mode.pool_initializer, initargs=mode.pool_initargs) as pool:
                    if mode.opens_file_in_parent:
                        start_mode(pool)
                    if hasattr(mode, "stop_senders"):
                        mode.stop_senders = lambda: pool.shutdown(wait=True)
                    summary = RunEngine(job, executor=pool, frozen=frozen, **engine_options).run(
                        indices, on_outcome, mode.poll)
            mode.after_runs()
        finally:
            mode.close()
            traj.v_storage_service = service
            traj.f_restore_default()
        completed = set(summary.completed)
        for info in completed_info:
            if int(info["idx"]) in completed:
                traj._update_run_information(info)
        for idx in list(summary.failed) + list(summary.lost):
            # In this process the run marked itself completed before its storing failed.
            traj.f_get_run_information(idx, copy=False)["completed"] = 0
        return summary

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # pypet: leaving the with-block closes the environment's log files.
        self.disable_logging()
        return False

    def __repr__(self):
        return f"<Environment {self._name} for {self._traj!r}>"


def _is_trajectory_property(key):
    """Whether ``key`` (with or without ``v_``) is a settable trajectory property (pypet passes those on)."""
    from rigbook.trajectory.trajectory import Trajectory

    prop = getattr(Trajectory, key if key.startswith("v_") else "v_" + key, None)
    return isinstance(prop, property) and prop.fset is not None
