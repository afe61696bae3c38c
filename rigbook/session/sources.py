"""Sources: functions that run in their own process (or thread) and feed a queue.

A source is a module-level function ``source(queue, stop_event, **options)``
(module level so that it can be started with the ``spawn`` method). It sends
timestamped samples through ``queue`` (a
:class:`rigbook.collectors.NamedTupleQueue`), stamping them with
``time.monotonic()``, until ``stop_event`` is set. :class:`SourceProcess`
starts and stops it.

The demo rig's sources are here too: :func:`simulated_tracker` (a swimming
larva: tail angle, x, y, heading) and :func:`simulated_camera` (frame-rate
reports of a camera with a goal frame rate).
"""

import logging
import math
import multiprocessing
import os
import signal
import threading
import time

import numpy as np

logger = logging.getLogger(__name__)

TRACKER_FIELDS = ("tail_angle", "x", "y", "heading")

#: How long a source process gets to finish before it is terminated, in seconds.
STOP_TIMEOUT_S = 3.0


def _mp_context():
    # Qt is running in the parent: forking it is unsafe, so sources are spawned.
    return multiprocessing.get_context("spawn")


class SourceProcess:
    """Run a source function in its own (spawned) process.

    Parameters
    ----------
    name : str
        Name of the source (used in messages and the process name).
    target : callable
        Module-level function ``target(queue, stop_event, **options)``.
    queue : rigbook.collectors.NamedTupleQueue
        Where the source sends its samples.
    options : dict, optional
        Keyword arguments for ``target``.

    A source that raises sends its error back before its process ends:
    :meth:`last_error` says what it was.
    """

    def __init__(self, name, target, queue, options=None):
        self.name = name
        self.target = target
        self.queue = queue
        self.options = dict(options or {})
        context = _mp_context()
        self.stop_event = context.Event()
        self._errors, child_end = context.Pipe(duplex=False)
        self._last_error = None
        self.process = context.Process(
            target=_run_source,
            args=(target, queue, self.stop_event, os.getpid(), self.options, child_end),
            name=f"rigbook-source-{name}", daemon=True,
        )

    def start(self):
        self.process.start()
        logger.info("source %s started (pid %s)", self.name, self.process.pid)

    @property
    def alive(self):
        return self.process.is_alive()

    @property
    def exitcode(self):
        return self.process.exitcode

    def last_error(self):
        """The error the source raised (``"RuntimeError: camera unplugged"``), or None."""
        try:
            while self._errors.poll():
                self._last_error = self._errors.recv()
        except (EOFError, OSError):
            pass
        return self._last_error

    def request_stop(self):
        """Ask the source to stop (returns at once)."""
        self.stop_event.set()

    def stop(self, timeout=STOP_TIMEOUT_S, drain=None):
        """Ask the source to stop, wait for it, terminate it if it does not.

        Parameters
        ----------
        drain : callable, optional
            Called while waiting: a process cannot exit while its queue's
            pipe is full, so the consumer must keep reading until it is gone.
        """
        self.stop_event.set()
        if self.process.pid is None:
            return
        deadline = time.monotonic() + timeout
        while self.process.is_alive() and time.monotonic() < deadline:
            if drain is not None:
                drain()
            self.process.join(0.02)
        if self.process.is_alive():
            logger.warning("source %s did not stop within %.1f s; terminating it", self.name, timeout)
            self.process.terminate()
            self.process.join(timeout)
        self.last_error()
        self._errors.close()


class SourceThread:
    """Run a source function in a thread of this process (``Source(..., in_process=True)``).

    For sources that do little work (replaying a file, a test's fake
    device): they start at once, without a new Python process. The
    interface is :class:`SourceProcess`'s.
    """

    def __init__(self, name, target, queue, options=None):
        self.name = name
        self.target = target
        self.queue = queue
        self.options = dict(options or {})
        self.stop_event = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"rigbook-source-{name}", daemon=True)

    def _run(self):
        try:
            self.target(self.queue, self.stop_event, **self.options)
        except BaseException as error:  # noqa: BLE001 - reported by last_error(), as a process's would be
            self._error = _error_text(error)
            logger.error("source %s failed: %s", self.name, self._error)
        finally:
            flush = getattr(self.queue, "flush", None)
            if flush is not None:
                try:
                    flush()
                except (OSError, ValueError):
                    pass

    def start(self):
        self._thread.start()

    @property
    def alive(self):
        return self._thread.is_alive()

    @property
    def exitcode(self):
        if self._thread.ident is None or self._thread.is_alive():
            return None
        return 1 if self._error else 0

    def last_error(self):
        return self._error

    def request_stop(self):
        self.stop_event.set()

    def stop(self, timeout=STOP_TIMEOUT_S, drain=None):
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            if drain is not None:
                drain()
            self._thread.join(0.02)
        if self._thread.is_alive():
            logger.warning("source %s (a thread) did not stop within %.1f s; left running", self.name, timeout)


def _error_text(error):
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 500 else text[:497] + "..."


def _run_source(target, queue, stop_event, parent_pid, options, errors=None):
    """Run ``target`` in the source process; stop it if the app's process goes away."""
    # Ctrl+C in the terminal reaches the whole process group: the app decides
    # when sources stop (after saving), not the keyboard. SIGTERM and SIGHUP
    # (a closed terminal) too: the app finishes the session and stops them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):  # (POSIX only: Windows has no SIGHUP, and its SIGTERM is not sent)
        if hasattr(signal, name) and os.name == "posix":
            signal.signal(getattr(signal, name), signal.SIG_IGN)

    def watch_parent():
        # A killed app cannot set the stop event, so leave when the parent is gone.
        # This thread must never touch stop_event: a daemon thread that dies
        # holding the event's process-shared lock would hang the app's stop().
        while True:
            time.sleep(0.5)
            if not _parent_alive(parent_pid):
                logger.warning("the app (pid %s) is gone; source stops", parent_pid)
                os._exit(0)

    threading.Thread(target=watch_parent, name="rigbook-parent-watch", daemon=True).start()
    try:
        target(queue, stop_event, **options)
    except BaseException as error:
        if errors is not None:
            try:
                errors.send(_error_text(error))
            except OSError:
                pass
        raise


def _parent_alive(parent_pid):
    if os.name == "posix":
        return os.getppid() == parent_pid
    # Elsewhere multiprocessing knows the parent by a handle it can wait on
    # (os.kill(pid, 0) would terminate the parent on Windows).
    parent = multiprocessing.parent_process()
    return parent is None or parent.is_alive()


def start_source(source, queue):
    """Start ``source`` (a :class:`rigbook.session.rig.Source`) feeding ``queue``; return its runner."""
    runner_class = SourceThread if source.in_process else SourceProcess
    runner = runner_class(source.name, source.target, queue, source.options)
    runner.start()
    return runner


def _paced_blocks(rate, stop_event, block_s=0.01):
    """Yield ``(start_index, timestamps)`` blocks paced to ``rate`` Hz of monotonic time."""
    start = time.monotonic()
    sent = 0
    while not stop_event.is_set():
        due = int((time.monotonic() - start) * rate)
        if due > sent:
            idx = np.arange(sent, due)
            yield sent, start + idx / rate
            sent = due
        stop_event.wait(block_s)


def simulated_tracker(queue, stop_event, rate=500.0, bout_rate=1.2, seed=None, block_s=0.01):
    """A larva swimming in bouts: tail angle (rad), x, y (mm) and heading (rad).

    Sends blocks of samples (``put_block``) about every ``block_s`` seconds,
    timestamped at ``rate`` Hz. Bouts start at random (``bout_rate`` per
    second); during a bout the tail beats at ~25 Hz and the larva moves
    along its heading.
    """
    rng = np.random.default_rng(seed)
    rate = float(rate)
    x, y, heading = 0.0, 0.0, 0.0
    bout_end = -1.0
    bout_start = -1.0
    bout_amplitude = 0.0
    turn = 0.0
    for _, times in _paced_blocks(rate, stop_event, block_s):
        n = times.size
        tail = np.empty(n)
        xs = np.empty(n)
        ys = np.empty(n)
        hs = np.empty(n)
        for i, t in enumerate(times):
            if t > bout_end and rng.random() < bout_rate / rate:
                bout_start = t
                bout_end = t + rng.uniform(0.12, 0.3)
                bout_amplitude = rng.uniform(0.3, 0.9)
                turn = rng.normal(0.0, 0.4)
            if t <= bout_end:
                phase = t - bout_start
                envelope = math.exp(-phase / 0.15)
                tail[i] = bout_amplitude * envelope * math.sin(2 * math.pi * 25 * phase)
                speed = 20.0 * envelope  # mm/s
                heading += turn * envelope / rate * 6
                x += speed * math.cos(heading) / rate
                y += speed * math.sin(heading) / rate
            else:
                tail[i] = 0.0
            tail[i] += rng.normal(0.0, 0.01)
            # stay inside a 40 mm dish: turn back towards the centre near the rim
            if x * x + y * y > 400.0:
                heading = math.atan2(-y, -x)
            xs[i], ys[i], hs[i] = x, y, heading
        queue.put_block(times, {"tail_angle": tail, "x": xs, "y": ys, "heading": hs})


def simulated_camera(queue, stop_event, goal_fps=100.0, jitter=0.03, report_every_s=0.1, seed=None):
    """Frame-rate reports of a camera aiming at ``goal_fps``.

    Every ``report_every_s`` seconds puts one ``(t, fps)`` pair on ``queue``
    (a multiprocessing queue, as frame-rate sources use): the frame rate
    measured over the last interval. Now and then the simulated camera
    stalls and the rate dips below the goal, as real ones do.
    """
    rng = np.random.default_rng(seed)
    while not stop_event.wait(report_every_s):
        slow = rng.random() < 0.03
        fps = goal_fps * (rng.uniform(0.6, 0.85) if slow else rng.normal(1.0, jitter / 3))
        queue.put((time.monotonic(), float(min(max(fps, 0.0), goal_fps * 1.02))))


def synthetic_stream(queue, stop_event, rate=1000.0, n_fields=10, block_s=0.01, seed=None):
    """``n_fields`` noisy sine waves (``ch0``, ``ch1``, ...) at ``rate`` Hz, sent in blocks.

    For load tests and for trying a rig layout before the hardware is there.
    """
    rng = np.random.default_rng(seed)
    names = [f"ch{i}" for i in range(int(n_fields))]
    freqs = rng.uniform(0.5, 5.0, len(names))
    for _, times in _paced_blocks(float(rate), stop_event, block_s):
        values = {
            name: np.sin(2 * np.pi * f * times) + rng.normal(0.0, 0.1, times.size)
            for name, f in zip(names, freqs)
        }
        queue.put_block(times, values)
