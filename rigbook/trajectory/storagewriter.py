"""The single writer: the one process that touches the file in QUEUE and PIPE mode.

Senders (:mod:`rigbook.trajectory.wrappers`) put store requests on a
``multiprocessing`` queue or pipe; a writer takes them off, stores them with
the real storage service, keeps the file open, flushes it in batches and
answers confirmations. A request that fails is never only logged: it goes
back to the sender that asks for a confirmation, and everything not reported
that way is raised as a :class:`StorageWriterError` when the writer stops.
:class:`StorageWriterProcess` runs a writer in a process of its own and
brings that error back to the parent.

A :class:`StorageWriter` is given its channel (:class:`QueueChannel`,
:class:`PipeChannel`, or the network channel of
:mod:`rigbook.trajectory.netqueue`): the writer decides what to store and
when to flush, the channel only how messages arrive.
"""

import contextlib

import gc
import logging
import multiprocessing
import queue as queue_module
import time
import traceback

from rigbook.trajectory import pypetconstants

logger = logging.getLogger(__name__)

# Kinds of messages on the channel between senders and the writer.
STORE = "STORE"
CONFIRM = "CONFIRM"
DONE = "DONE"


class StorageWriterError(RuntimeError):
    """One or more store requests failed inside a storage writer.

    Attributes
    ----------
    failures : list of StoreFailure
        Every failed request, in the order they failed.
    """

    def __init__(self, failures, message=None):
        self.failures = list(failures)
        if message is None:
            lines = [f"{len(self.failures)} store request(s) failed in the storage writer:"]
            lines += [f"- {failure.summary()}" for failure in self.failures[:10]]
            if len(self.failures) > 10:
                lines.append(f"- ... and {len(self.failures) - 10} more")
            if self.failures:
                lines.append("First traceback:\n" + self.failures[0].traceback)
            message = "\n".join(lines)
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.failures, str(self)))


class StoreFailure:
    """A store request that raised inside a writer (picklable, no live objects).

    Attributes
    ----------
    msg : str
        The storage message, e.g. ``'SINGLE_RUN'``.
    item : str
        A description of the item to store (its full name when it has one).
    tag : object
        The tag of the sender that sent it (the run index in an exploration).
    error : str
        ``'ExceptionType: text'`` of the exception.
    traceback : str
        The formatted traceback from the writer.
    """

    def __init__(self, msg, item, tag, error, traceback_text):
        self.msg = msg
        self.item = item
        self.tag = tag
        self.error = error
        self.traceback = traceback_text

    def summary(self):
        """One line: what was stored, for which tag, and what went wrong."""
        where = "" if self.tag is None else f" (sender tag {self.tag!r})"
        return f"store({self.msg!r}, {self.item}){where}: {self.error}"

    def __repr__(self):
        return f"StoreFailure({self.summary()})"


def describe_item(item):
    """A short, picklable description of an item passed to a storage service."""
    for attribute in ("v_full_name", "v_name"):
        name = getattr(item, attribute, None)
        if isinstance(name, str) and name:
            return name
    text = repr(item)
    return text if len(text) <= 80 else text[:77] + "..."


def _split_request(args, kwargs):
    """Return ``(msg, item)`` of a ``store(msg, item, ...)`` call, for reporting."""
    msg = args[0] if args else kwargs.get("msg")
    item = args[1] if len(args) > 1 else kwargs.get("stuff_to_store", kwargs.get("item"))
    return msg, item


class QueueChannel:
    """Messages from a ``multiprocessing`` queue (``WRAP_MODE_QUEUE``)."""

    def __init__(self, storage_queue):
        self.queue = storage_queue

    def listening(self):
        """Nothing to set up: the queue exists already."""
        return contextlib.nullcontext(self)

    def receive(self, timeout):
        """The next message, or None if none came within ``timeout`` seconds (None: wait)."""
        if timeout is None:
            return self.queue.get()
        try:
            return self.queue.get(timeout=timeout)
        except queue_module.Empty:
            return None

    def has_pending(self):
        """Whether another message is already waiting."""
        try:
            return not self.queue.empty()
        except (NotImplementedError, OSError):
            return False


class PipeChannel:
    """Messages from the receiving end of a ``multiprocessing`` pipe (``WRAP_MODE_PIPE``)."""

    def __init__(self, storage_connection):
        self.conn = storage_connection

    def listening(self):
        """Nothing to set up: the pipe exists already."""
        return contextlib.nullcontext(self)

    def receive(self, timeout):
        """The next message, or None if none came within ``timeout`` seconds (None: wait)."""
        try:
            if timeout is not None and not self.conn.poll(timeout):
                return None
            return self.conn.recv()
        except EOFError:
            # Every sending end is closed: nobody can send DONE any more.
            return (DONE,)

    def has_pending(self):
        """Whether another message is already waiting."""
        return self.conn.poll(0)


class StorageWriter:
    """The single writer: takes requests from its channel, stores them, keeps the file open.

    Parameters
    ----------
    storage_service : object
        The real service; the writer opens its file on the first request,
        keeps it open and closes it when told it is done.
    channel : QueueChannel, PipeChannel or NetQueueChannel
        Where requests arrive: ``listening()`` (a context manager around the
        whole run), ``receive(timeout)`` and ``has_pending()``.
    gc_interval : int, optional
        Run the garbage collector every this many stores.
    reply_queue : queue-like, optional
        Where confirmations ``(token, failures)`` go.
    max_buffer_size : int
        Flush the file at least every this many stores.
    stop_event : multiprocessing.Event, optional
        Another way to stop: once it is set, the writer stops as soon as no
        request arrived for a moment. Unlike ``send_done`` it needs no room
        in the channel, so it works even if a killed sender left the channel
        unusable.
    flush_interval : float
        Flush the file, and answer waiting confirmations, at least this
        often (seconds) while anything is unflushed.
    """

    #: Seconds between looks at the stop event while the channel is idle.
    STOP_CHECK_INTERVAL = 0.1

    def __init__(self, storage_service, channel, gc_interval=None, reply_queue=None, max_buffer_size=1000,
                 stop_event=None, flush_interval=0.5):
        if gc_interval is not None and int(gc_interval) < 1:
            raise ValueError(f"gc_interval must be a positive number of stores or None, not {gc_interval!r}")
        if int(max_buffer_size) < 1:
            raise ValueError(f"max_buffer_size must be at least 1, not {max_buffer_size!r}")
        self._storage_service = storage_service
        self.channel = channel
        self._gc_interval = None if gc_interval is None else int(gc_interval)
        self._reply_queue = reply_queue
        self._max_buffer_size = int(max_buffer_size)
        self._stop_event = stop_event
        if not flush_interval >= 0:
            raise ValueError(f"flush_interval must be a number of seconds >= 0, not {flush_interval!r}")
        self._flush_interval = float(flush_interval)
        self._unflushed = 0
        self._waiting = []
        self._last_flush = time.monotonic()
        self._watch_parent = False
        self._open_key = None
        self._failures = []
        self._failures_by_tag = {}
        self.stored = 0

    @property
    def storage_service(self):
        """The wrapped service."""
        return self._storage_service

    def _file_is_open(self):
        return bool(getattr(self._storage_service, "is_open", False))

    def _open_for(self, kwargs):
        """Open the file for the trajectory named in the request (once; reopen on change)."""
        open_kwargs = {k: kwargs[k] for k in ("trajectory_name", "filename") if k in kwargs}
        key = tuple(sorted(open_kwargs.items()))
        if self._open_key == key and self._file_is_open():
            return
        if self._file_is_open():
            self._storage_service.store(pypetconstants.CLOSE_FILE, None)
        self._storage_service.store(pypetconstants.OPEN_FILE, None, **open_kwargs)
        self._open_key = key

    def _flush(self):
        if self._file_is_open():
            self._storage_service.store(pypetconstants.FLUSH, None)

    def _close(self):
        if self._file_is_open():
            self._storage_service.store(pypetconstants.CLOSE_FILE, None)
        self._open_key = None

    def _record_failure(self, tag, args, kwargs, exc):
        msg, item = _split_request(args, kwargs)
        failure = StoreFailure(
            msg=str(msg),
            item=describe_item(item),
            tag=tag,
            error=f"{type(exc).__name__}: {exc}",
            traceback_text="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        )
        if tag is None or self._reply_queue is None:
            self._failures.append(failure)
        else:
            self._failures_by_tag.setdefault(tag, []).append(failure)

    def _store(self, tag, args, kwargs):
        msg, _ = _split_request(args, kwargs)
        if msg in (pypetconstants.OPEN_FILE, pypetconstants.CLOSE_FILE, pypetconstants.FLUSH):
            # The writer alone decides when its file opens, flushes and closes.
            return
        try:
            self._open_for(kwargs)
            self._storage_service.store(*args, **kwargs)
        except Exception as exc:  # reported to the sender or raised by run(), never dropped
            self._record_failure(tag, args, kwargs, exc)
        self.stored += 1
        if self._gc_interval and self.stored % self._gc_interval == 0:
            gc.collect()

    def _flush_and_confirm(self):
        """Flush the file, then answer every confirmation waiting for it."""
        flush_failure = None
        try:
            self._flush()
        except Exception as exc:  # every waiting sender learns its data may not be on disk
            self._record_failure(None, (pypetconstants.FLUSH, None), {}, exc)
            flush_failure = self._failures.pop()
        for token, tag in self._waiting:
            failures = self._failures_by_tag.pop(tag, []) + ([flush_failure] if flush_failure else [])
            if self._reply_queue is None:
                self._failures.extend(failures)
            else:
                self._reply_queue.put((token, failures))
        if flush_failure is not None and not self._waiting:
            self._failures.append(flush_failure)
        self._waiting = []
        self._unflushed = 0
        self._last_flush = time.monotonic()

    def _flush_due(self):
        return (self._unflushed or self._waiting) and (
            self._unflushed >= self._max_buffer_size
            or time.monotonic() - self._last_flush >= self._flush_interval)

    def _next_timeout(self):
        timeout = None
        if self._unflushed or self._waiting:
            timeout = max(0.0, self._last_flush + self._flush_interval - time.monotonic())
        if self._stop_event is not None or self._watch_parent:
            timeout = self.STOP_CHECK_INTERVAL if timeout is None else min(timeout, self.STOP_CHECK_INTERVAL)
        return timeout

    def _parent_gone(self):
        parent = multiprocessing.parent_process()
        return self._watch_parent and parent is not None and not parent.is_alive()

    def run(self, watch_parent=False):
        """Store requests until told to stop; then flush, answer and close the file.

        The file is flushed (and waiting confirmations answered) at most every
        ``flush_interval`` seconds or every ``max_buffer_size`` stores, never
        per request; while nothing arrives and nothing waits, the writer
        blocks on its channel.

        Parameters
        ----------
        watch_parent : bool
            Also stop (cleanly) when the process that started this one dies,
            e.g. killed with SIGKILL, instead of waiting forever.

        Returns
        -------
        int
            How many store requests were processed.

        Raises
        ------
        StorageWriterError
            If any request failed and was not reported through a confirmation.
        """
        self._watch_parent = watch_parent
        with self.channel.listening():
            return self._serve()

    def _serve(self):
        channel = self.channel
        try:
            while True:
                message = channel.receive(self._next_timeout())
                if message is None:
                    if self._flush_due():
                        self._flush_and_confirm()
                    if self._stop_event is not None and self._stop_event.is_set() and not channel.has_pending():
                        break
                    if self._parent_gone() and not channel.has_pending():
                        # Nobody will tell us to stop: store what arrived, close the file cleanly.
                        logger.warning("The process that started this storage writer is gone; closing the file")
                        break
                    continue
                kind = message[0]
                if kind == DONE:
                    break
                if kind == STORE:
                    _, tag, args, kwargs = message
                    self._store(tag, args, kwargs)
                    self._unflushed += 1
                elif kind == CONFIRM:
                    _, token, tag = message
                    self._waiting.append((token, tag))
                else:
                    raise ValueError(f"storage writer received an unknown message kind {kind!r}")
                if self._flush_due():
                    self._flush_and_confirm()
        except Exception as exc:
            self._record_failure(None, ("<writer loop>", None), {}, exc)
        finally:
            try:
                if self._unflushed or self._waiting:
                    self._flush_and_confirm()
                self._close()
            except Exception as exc:
                self._record_failure(None, (pypetconstants.CLOSE_FILE, None), {}, exc)
        for tag_failures in self._failures_by_tag.values():
            self._failures.extend(tag_failures)
        self._failures_by_tag.clear()
        if self._failures:
            raise StorageWriterError(self._failures)
        return self.stored


class QueueStorageServiceWriter(StorageWriter):
    """Writer side of ``WRAP_MODE_QUEUE``: a :class:`StorageWriter` reading a ``multiprocessing`` queue.

    Parameters
    ----------
    storage_service : object
        The real service.
    storage_queue : multiprocessing.Queue
        The queue the senders put requests on.
    gc_interval, reply_queue, max_buffer_size, stop_event, flush_interval
        See :class:`StorageWriter`.
    """

    def __init__(self, storage_service, storage_queue, gc_interval=None, reply_queue=None, max_buffer_size=1000,
                 stop_event=None, flush_interval=0.5):
        super().__init__(storage_service, QueueChannel(storage_queue), gc_interval, reply_queue, max_buffer_size,
                         stop_event, flush_interval)

    @property
    def queue(self):
        """The queue requests arrive on."""
        return self.channel.queue


class PipeStorageServiceWriter(StorageWriter):
    """Writer side of ``WRAP_MODE_PIPE``: a :class:`StorageWriter` reading a pipe.

    It blocks on the pipe until a request arrives (no sleeping poll loop).

    Parameters
    ----------
    storage_service : object
        The real service.
    storage_connection : multiprocessing.connection.Connection
        The receiving end of the pipe.
    max_buffer_size, gc_interval, reply_queue, stop_event, flush_interval
        See :class:`StorageWriter`.
    """

    def __init__(self, storage_service, storage_connection, max_buffer_size=1000, gc_interval=None, reply_queue=None,
                 stop_event=None, flush_interval=0.5):
        super().__init__(storage_service, PipeChannel(storage_connection), gc_interval, reply_queue,
                         max_buffer_size, stop_event, flush_interval)

    @property
    def conn(self):
        """The receiving end of the pipe."""
        return self.channel.conn


def _writer_process_main(writer, outcome_connection):
    try:
        stored = writer.run(watch_parent=True)
    except StorageWriterError as exc:
        outcome_connection.send(("failed", exc.failures))
    except BaseException as exc:  # the parent must learn why the writer stopped
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        failure = StoreFailure("<writer>", "<writer process>", None, f"{type(exc).__name__}: {exc}", text)
        outcome_connection.send(("failed", [failure]))
    else:
        outcome_connection.send(("ok", stored))
    finally:
        outcome_connection.close()


class StorageWriterProcess:
    """Run a queue or pipe writer in a process of its own and bring back its outcome.

    Parameters
    ----------
    writer : QueueStorageServiceWriter or PipeStorageServiceWriter
        The writer to run.
    context : multiprocessing context, optional
        Which start method to use; the default context by default.

    Examples
    --------
    >>> process = StorageWriterProcess(writer).start()   # doctest: +SKIP
    >>> ...  # senders store
    >>> sender.send_done(); stored = process.join()      # doctest: +SKIP
    """

    def __init__(self, writer, context=None):
        self._context = context or multiprocessing.get_context()
        self._writer = writer
        self._outcome_receiver, outcome_sender = self._context.Pipe(duplex=False)
        self._process = self._context.Process(
            target=_writer_process_main, args=(writer, outcome_sender), name="rigbook-storage-writer", daemon=True
        )
        self._outcome_sender = outcome_sender

    @property
    def process(self):
        """The ``multiprocessing.Process`` running the writer."""
        return self._process

    def start(self):
        """Start the writer process; returns ``self``."""
        self._process.start()
        self._outcome_sender.close()
        return self

    def is_alive(self):
        """Whether the writer process is still running."""
        return self._process.is_alive()

    def join(self, timeout=None):
        """Wait for the writer to stop (after ``send_done``).

        Returns
        -------
        int
            The number of store requests the writer processed.

        Raises
        ------
        StorageWriterError
            If a store failed in the writer or the writer process died.
        TimeoutError
            If the writer did not stop within ``timeout`` seconds.
        """
        outcome = None
        if self._outcome_receiver.poll(timeout):
            try:
                outcome = self._outcome_receiver.recv()
            except EOFError:
                outcome = None
        self._process.join(timeout)
        if self._process.is_alive():
            raise TimeoutError(f"the storage writer process did not stop within {timeout} s")
        if outcome is None:
            raise StorageWriterError(
                [], f"the storage writer process died (exit code {self._process.exitcode}) before reporting; "
                "requests it had not stored yet are lost"
            )
        status, payload = outcome
        if status == "failed":
            raise StorageWriterError(payload)
        return payload
