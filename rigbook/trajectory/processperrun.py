"""An executor that starts a new process for every task: pypet's ``use_pool=False``.

A pool pickles every task (the trajectory, the run function and its
arguments) to send it to a long-lived worker. With ``use_pool=False`` pypet
instead forks a fresh process for each run, so the run's inputs reach it by
forking, not pickling (objects that cannot be pickled work), and whatever a
run leaves behind in memory goes away with its process. Only the run's
outcome travels back, pickled, over a pipe.

At most ``max_workers`` processes run at once; :meth:`submit` waits for a free
slot, so processes are always started from the submitting thread. A process
that dies before answering fails only its own task, with
:class:`~rigbook.trajectory.runner.RunProcessDied`.
"""

import concurrent.futures
import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import threading

from rigbook.trajectory.runner import RunProcessDied, _initialize_worker

logger = logging.getLogger(__name__)


def _run_task(connection, initializer, initargs, fn, args, kwargs):
    try:
        if initializer is not None:
            initializer(*initargs)
        answer = (True, fn(*args, **kwargs))
    except BaseException as exc:  # everything goes back to the parent; nothing is printed here
        answer = (False, exc)
    try:
        connection.send(answer)
    except Exception as exc:  # the result or the exception does not pickle
        connection.send((False, RuntimeError(f"the run's outcome could not be sent back: {type(exc).__name__}: {exc}")))
    connection.close()


class ProcessPerRunExecutor(concurrent.futures.Executor):
    """Run every submitted call in a process of its own, ``max_workers`` at a time.

    Parameters
    ----------
    max_workers : int
        Processes running at once.
    context : multiprocessing context, optional
        How processes start; ``fork`` (where available) hands them their
        task without pickling it.
    initializer : callable, optional
        ``initializer(*initargs)`` runs first in every process.
    initargs : tuple
    """

    def __init__(self, max_workers, context=None, initializer=None, initargs=()):
        if int(max_workers) < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers!r}")
        self._max_workers = int(max_workers)
        self._context = context or multiprocessing.get_context()
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._running = {}  # reader connection -> (process, future)
        self._numbers = itertools.count(1)
        self._slots = threading.Condition()
        self._shutdown = False
        self._wake_reader, self._wake_writer = self._context.Pipe(duplex=False)
        self._watcher = threading.Thread(target=self._watch, name="rigbook-run-processes", daemon=True)
        self._watcher.start()

    def submit(self, fn, /, *args, **kwargs):
        with self._slots:
            if self._shutdown:
                raise RuntimeError("cannot submit to an executor that was shut down")
            self._slots.wait_for(lambda: len(self._running) < self._max_workers)
            future = concurrent.futures.Future()
            future.set_running_or_notify_cancel()
            reader, writer = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=_run_task, args=(writer, self._initializer, self._initargs, fn, args, kwargs),
                name=f"RunProcess-{next(self._numbers)}", daemon=True)
            process.start()
            writer.close()
            self._running[reader] = (process, future)
            self._wake_writer.send_bytes(b"")
        return future

    def _watch(self):
        while True:
            with self._slots:
                if self._shutdown and not self._running:
                    return
                readers = list(self._running)
                sentinels = {process.sentinel: reader for reader, (process, _) in self._running.items()}
            ready = multiprocessing.connection.wait(readers + list(sentinels) + [self._wake_reader])
            finished = set()
            for item in ready:
                if item is self._wake_reader:
                    self._wake_reader.recv_bytes()
                elif item in sentinels:
                    finished.add(sentinels[item])
                else:
                    finished.add(item)
            for reader in finished:
                self._settle(reader)

    def _settle(self, reader):
        process, future = self._running[reader]
        answer = None
        try:
            if reader.poll():
                answer = reader.recv()
        except (EOFError, OSError):
            answer = None
        if answer is None and process.is_alive():
            return  # its pipe closed early but the process goes on; its sentinel will tell
        process.join()
        reader.close()
        with self._slots:
            del self._running[reader]
            self._slots.notify_all()
        if answer is None:
            future.set_exception(RunProcessDied(
                f"its process ended (exit code {process.exitcode}) before sending back an outcome"))
        elif answer[0]:
            future.set_result(answer[1])
        else:
            future.set_exception(answer[1])

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._slots:
            if self._wake_writer.closed:
                return  # shut down already
            self._shutdown = True
            self._wake_writer.send_bytes(b"")
        if wait:
            self._watcher.join()
            with self._slots:
                self._wake_writer.close()
            self._wake_reader.close()


@contextlib.contextmanager
def process_per_run(ncores, job=None, context=None, initializer=None, initargs=()):
    """Like :func:`~rigbook.trajectory.runner.process_pool`, but a new process for every run."""
    executor = ProcessPerRunExecutor(ncores, context=context, initializer=_initialize_worker,
                                     initargs=(initializer, initargs, job))
    try:
        yield executor
    finally:
        executor.shutdown(wait=True)
