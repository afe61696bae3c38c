"""A lock shared over the network (``WRAP_MODE_NETLOCK``), served over ZeroMQ.

A :class:`LockerServer` keeps a table of named locks; any number of
:class:`LockerClient` objects, in any process on any machine that reaches
the server's URL, acquire and release them. A client that asks for a lock
someone holds gets no answer until the lock is free, so waiting costs
neither polling nor sleeping. :class:`TimeOutLockerServer` frees a lock its
holder kept longer than ``timeout`` seconds (the holder died, its machine
went away); :class:`ForkAwareLockerClient` notices that it was copied into a
forked process and opens a connection of its own there.

Workers on another machine
--------------------------
The server binds the URL it is given: ``tcp://127.0.0.1`` (the default)
is reachable from this machine only; to serve other machines give the
address of a network interface, e.g. ``url='tcp://192.168.1.5:7777'`` (or
``tcp://0.0.0.0:7777`` for every interface, with clients connecting to the
machine's address). A worker elsewhere then stores into the shared file (on
a file system both machines see) under the same lock::

    lock = ForkAwareLockerClient("tcp://192.168.1.5:7777")
    traj.v_storage_service = LockWrapper(HDF5StorageService(filename=shared_file), lock)

The server trusts whoever can reach it (lock names and client names are the
only thing it reads, never pickles): bind it on networks you trust.

Requires ``pyzmq`` (``pip install rigbook[net]``).
"""

import collections
import logging
import os
import socket as socket_module
import time
import uuid

logger = logging.getLogger(__name__)

DEFAULT_LOCK_NAME = "_DEFAULT_"
DEFAULT_URL = "tcp://127.0.0.1"

# Requests (client -> server) and answers (server -> client), one word each.
PING, ACQUIRE, RELEASE, DONE = b"PING", b"ACQUIRE", b"RELEASE", b"DONE"
PONG, GO, RELEASED, EXPIRED, STOPPED, BYE, ERROR = (
    b"PONG", b"GO", b"RELEASED", b"EXPIRED", b"STOPPED", b"BYE", b"ERROR")


class LockExpiredError(RuntimeError):
    """A lock was released by a client that no longer held it: its time ran out (TimeOutLockerServer).

    Whatever the client did under the lock may have overlapped another holder's work.
    """


class LockServerError(RuntimeError):
    """The lock server refused a request or stopped while a client waited."""


def _zmq():
    try:
        import zmq
    except ImportError as exc:  # an optional dependency: say which extra brings it
        raise ImportError("network locks and queues need pyzmq: pip install 'rigbook[net]'") from exc
    return zmq


def split_envelope(frames):
    """``(envelope, body)`` of a message a ROUTER socket received: the routing frames up to the empty one."""
    delimiter = frames.index(b"") if b"" in frames else 0
    return frames[:delimiter + 1], frames[delimiter + 1:]


def _has_port(url):
    return ":" in url.rsplit("/", 1)[-1]


def bind(zmq_socket, url):
    """Bind ``zmq_socket`` to ``url``; a URL without a port gets a free one. Returns the bound URL.

    pypet's default ``'tcp://'`` (no host) means this machine only: ``tcp://127.0.0.1``.
    """
    if url == "tcp://":
        url = DEFAULT_URL
    if url.startswith("tcp://") and not _has_port(url):
        zmq_socket.bind_to_random_port(url)
    else:
        zmq_socket.bind(url)
    endpoint = zmq_socket.getsockopt(_zmq().LAST_ENDPOINT)
    return endpoint.decode() if isinstance(endpoint, bytes) else endpoint


class LockerServer:
    """Serve named locks to :class:`LockerClient` objects until one sends ``DONE``.

    Parameters
    ----------
    url : str
        Where to listen, e.g. ``'tcp://127.0.0.1:7777'``; without a port a
        free one is chosen (its URL is :attr:`url` once :meth:`run` bound it).
        pypet's default ``'tcp://'`` means this machine only, any free port.
    """

    def __init__(self, url="tcp://"):
        self.url = url
        self._holders = {}
        self._waiting = collections.defaultdict(collections.deque)
        self._socket = None

    # -- what subclasses refine
    def _granted(self, lock_name, client_id):
        """A lock was just given to ``client_id``."""

    def _poll_timeout_ms(self):
        """How long to wait for a request before :meth:`_tick` (None: forever)."""
        return None

    def _tick(self):
        """Called after every wait: time-dependent work."""

    def _release_refused(self, lock_name, client_id):
        """Answer to a release by a client that does not hold the lock."""
        holder = self._holders.get(lock_name)
        return ERROR, f"lock {lock_name!r} is not held by {client_id!r} (holder: {holder!r})".encode()

    # -- the table
    def _reply(self, envelope, answer, detail=b""):
        self._socket.send_multipart(envelope + [answer, detail])

    def _grant(self, lock_name, envelope, client_id):
        self._holders[lock_name] = client_id
        self._granted(lock_name, client_id)
        self._reply(envelope, GO)

    def _free(self, lock_name):
        """Free a lock and hand it to the first client waiting for it."""
        self._holders.pop(lock_name, None)
        queue = self._waiting.get(lock_name)
        if queue:
            envelope, client_id = queue.popleft()
            self._grant(lock_name, envelope, client_id)

    def _handle(self, envelope, command, lock_name, client_id):
        """Answer one request; return False to stop serving."""
        if command == PING:
            self._reply(envelope, PONG)
        elif command == ACQUIRE:
            holder = self._holders.get(lock_name)
            if holder is None:
                self._grant(lock_name, envelope, client_id)
            elif holder == client_id:
                self._reply(envelope, ERROR, f"{client_id!r} already holds lock {lock_name!r}".encode())
            else:
                self._waiting[lock_name].append((envelope, client_id))
        elif command == RELEASE:
            if self._holders.get(lock_name) == client_id:
                self._reply(envelope, RELEASED)
                self._free(lock_name)
            else:
                self._reply(envelope, *self._release_refused(lock_name, client_id))
        elif command == DONE:
            self._reply(envelope, BYE)
            return False
        else:
            self._reply(envelope, ERROR, b"unknown request " + command[:40])
        return True

    def run(self, on_ready=None):
        """Bind, then answer requests until a client sends ``DONE``.

        Parameters
        ----------
        on_ready : callable, optional
            Called with the bound URL once clients can connect.
        """
        zmq = _zmq()
        context = zmq.Context()
        self._socket = context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 1000)
        try:
            self.url = bind(self._socket, self.url)
            logger.info("Lock server listening on %s", self.url)
            if on_ready is not None:
                on_ready(self.url)
            poller = zmq.Poller()
            poller.register(self._socket, zmq.POLLIN)
            serving = True
            while serving:
                if poller.poll(self._poll_timeout_ms()):
                    envelope, body = split_envelope(self._socket.recv_multipart())
                    if len(body) != 3:
                        logger.warning("Lock server ignored a malformed request of %d frames", len(body))
                        continue
                    command, lock_name, client_id = body
                    serving = self._handle(envelope, command, lock_name.decode(errors="replace"),
                                           client_id.decode(errors="replace"))
                self._tick()
            for queue in self._waiting.values():
                for envelope, _ in queue:
                    self._reply(envelope, STOPPED)
        finally:
            self._socket.close()
            context.term()
            self._socket = None
            logger.info("Lock server on %s stopped", self.url)


class TimeOutLockerServer(LockerServer):
    """A :class:`LockerServer` whose locks are freed ``timeout`` seconds after they were given.

    A lock whose holder died (killed, its machine lost) is therefore free again
    after at most ``timeout`` seconds. A holder releasing a lock after that gets
    a :class:`LockExpiredError`. Choose ``timeout`` longer than any store takes.

    Parameters
    ----------
    url : str
        As for :class:`LockerServer`.
    timeout : float
        Seconds a client may hold a lock.
    """

    def __init__(self, url, timeout):
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        super().__init__(url)
        self.timeout = float(timeout)
        self._deadlines = {}
        self._expired = set()

    def _granted(self, lock_name, client_id):
        self._deadlines[lock_name] = time.monotonic() + self.timeout
        self._expired.discard((lock_name, client_id))

    def _poll_timeout_ms(self):
        if not self._deadlines:
            return None
        return max(0, int((min(self._deadlines.values()) - time.monotonic()) * 1000) + 1)

    def _tick(self):
        now = time.monotonic()
        for lock_name, deadline in list(self._deadlines.items()):
            if deadline <= now and lock_name in self._holders:
                client_id = self._holders[lock_name]
                logger.warning("Lock %r held by %s for over %.3g s: freed", lock_name, client_id, self.timeout)
                self._expired.add((lock_name, client_id))
                del self._deadlines[lock_name]
                self._free(lock_name)
            elif lock_name not in self._holders:
                del self._deadlines[lock_name]

    def _handle(self, envelope, command, lock_name, client_id):
        if command == RELEASE and self._holders.get(lock_name) == client_id:
            self._deadlines.pop(lock_name, None)
        return super()._handle(envelope, command, lock_name, client_id)

    def _release_refused(self, lock_name, client_id):
        if (lock_name, client_id) in self._expired:
            self._expired.discard((lock_name, client_id))
            return EXPIRED, f"lock {lock_name!r} was freed after {self.timeout:g} s".encode()
        return super()._release_refused(lock_name, client_id)


class LockerClient:
    """A lock whose state lives in a :class:`LockerServer`; use like ``multiprocessing.Lock``.

    Parameters
    ----------
    url : str
        The server's URL with its port, e.g. ``'tcp://127.0.0.1:7777'``
        (the default ``'tcp://'`` is pypet's, and must be replaced).
    lock_name : str
        Which of the server's locks this client acquires.
    connect_timeout : float
        Seconds :meth:`start` waits for the server to answer its ping.

    Notes
    -----
    The connection is not pickled: a client handed to another process
    connects again there when first used. A client copied into a *forked*
    process must not use its parent's connection: use
    :class:`ForkAwareLockerClient` where that can happen.
    """

    def __init__(self, url="tcp://", lock_name=DEFAULT_LOCK_NAME, connect_timeout=30.0):
        self.url = url
        self.lock_name = lock_name
        self.connect_timeout = float(connect_timeout)
        self._context = None
        self._socket = None
        self._client_id = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_context=None, _socket=None, _client_id=None)
        return state

    @property
    def client_id(self):
        """How the server knows this client: host, process and a random part."""
        if self._client_id is None:
            self._client_id = f"{socket_module.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        return self._client_id

    def start(self, test_connection=True):
        """Connect to the server (nothing if connected); with ``test_connection``, ping it first.

        Raises
        ------
        ConnectionError
            If the server does not answer within ``connect_timeout`` seconds.
        """
        if self._socket is not None:
            return
        if self.url.startswith("tcp://") and not _has_port(self.url):
            raise ValueError(f"a lock client needs the server's URL with its port, e.g. 'tcp://127.0.0.1:7777', "
                             f"not {self.url!r} (LockerServer.url has it once the server runs)")
        zmq = _zmq()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.REQ)
        # After a timed-out request the socket may send again; late answers are dropped.
        self._socket.setsockopt(zmq.REQ_RELAXED, 1)
        self._socket.setsockopt(zmq.REQ_CORRELATE, 1)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(self.url)
        if test_connection:
            self.test_ping()

    def _request(self, command, timeout=None):
        self.start(test_connection=False)
        self._socket.send_multipart([command, self.lock_name.encode(), self.client_id.encode()])
        if timeout is not None and not self._socket.poll(int(timeout * 1000)):
            raise ConnectionError(f"the lock server at {self.url} did not answer within {timeout:g} s")
        answer, detail = self._socket.recv_multipart()
        return answer, detail.decode(errors="replace")

    def test_ping(self):
        """Check that the server answers (within ``connect_timeout``)."""
        answer, detail = self._request(PING, self.connect_timeout)
        if answer != PONG:
            raise LockServerError(f"the lock server at {self.url} answered {answer!r} to a ping: {detail}")

    def acquire(self, blocking=True, timeout=-1):
        """Wait until the server gives this client the lock; returns True.

        Only blocking acquisition is possible (a request the server answers
        late would leave it thinking this client holds the lock).

        Raises
        ------
        LockServerError
            If the server refuses (this client holds the lock already) or stops.
        """
        if not blocking or timeout not in (-1, None):
            raise NotImplementedError("a network lock can only be acquired blocking, without timeout")
        answer, detail = self._request(ACQUIRE)
        if answer == GO:
            return True
        if answer == STOPPED:
            raise LockServerError(f"the lock server at {self.url} stopped while {self.lock_name!r} was awaited")
        raise LockServerError(f"the lock server at {self.url} refused {self.lock_name!r}: {detail}")

    def release(self):
        """Give the lock back.

        Raises
        ------
        LockExpiredError
            If a :class:`TimeOutLockerServer` had freed it already.
        LockServerError
            If this client did not hold the lock.
        """
        answer, detail = self._request(RELEASE)
        if answer == RELEASED:
            return
        if answer == EXPIRED:
            raise LockExpiredError(f"{self.lock_name!r} at {self.url}: {detail}")
        raise LockServerError(f"the lock server at {self.url} refused to release {self.lock_name!r}: {detail}")

    def send_done(self):
        """Tell the server to stop (clients still waiting are told it stopped)."""
        answer, detail = self._request(DONE, self.connect_timeout)
        if answer != BYE:
            raise LockServerError(f"the lock server at {self.url} answered {answer!r} to DONE: {detail}")

    def finalize(self):
        """Close the connection (a later request opens a new one)."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._context.term()
        self._socket = self._context = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return f"<{type(self).__name__} {self.lock_name!r} at {self.url}>"


class ForkAwareLockerClient(LockerClient):
    """A :class:`LockerClient` that opens a connection of its own after being forked.

    ZeroMQ connections cannot be shared with a forked child; this client
    remembers which process opened its connection and, used in another one,
    leaves the inherited connection alone and starts a new one (under a new
    client name, so the server never confuses parent and child).
    """

    def __init__(self, url="tcp://", lock_name=DEFAULT_LOCK_NAME, connect_timeout=30.0):
        super().__init__(url, lock_name, connect_timeout)
        self._pid = None

    def __getstate__(self):
        state = super().__getstate__()
        state["_pid"] = None
        return state

    def _forked(self):
        return self._pid is not None and self._pid != os.getpid()

    def start(self, test_connection=True):
        """Connect (again, if this is a forked copy); see :meth:`LockerClient.start`."""
        if self._forked():
            # The parent's sockets belong to the parent: drop them unclosed.
            self._socket = self._context = self._client_id = None
        if self._socket is None:
            self._pid = os.getpid()
        super().start(test_connection)

    def _request(self, command, timeout=None):
        if self._forked():
            self.start(test_connection=False)
        return super()._request(command, timeout)


def report_listening(ready_connection, url):
    """Tell the process waiting in :func:`wait_until_listening` that ``url`` is bound."""
    ready_connection.send(("listening", url))


def report_failure(ready_connection, exc):
    """Tell the process waiting in :func:`wait_until_listening` why binding failed."""
    try:
        ready_connection.send(("failed", f"{type(exc).__name__}: {exc}"))
    except OSError:
        pass  # nobody waits any more


def wait_until_listening(ready, timeout, what, url):
    """The bound URL reported by a server process, or an error saying why it did not listen.

    Raises
    ------
    TimeoutError
        If nothing was reported within ``timeout`` seconds.
    OSError
        If the server could not bind ``url`` (the port is taken...) or died first.
    """
    if not ready.poll(timeout):
        raise TimeoutError(f"{what} did not start listening on {url} within {timeout:g} s")
    try:
        status, detail = ready.recv()
    except EOFError:
        raise OSError(f"{what} stopped before listening on {url}") from None
    if status != "listening":
        raise OSError(f"{what} could not listen on {url}: {detail}")
    return detail


def _serve(server, ready_connection):
    try:
        server.run(on_ready=lambda url: report_listening(ready_connection, url))
    except Exception as exc:
        report_failure(ready_connection, exc)
        raise
    finally:
        ready_connection.close()


class LockerServerProcess:
    """Run a :class:`LockerServer` in a process of its own; the Environment's NETLOCK helper.

    Parameters
    ----------
    server : LockerServer
        The server to run.
    context : multiprocessing context
        How to start the process.
    """

    def __init__(self, server, context):
        self._server = server
        self._ready, ready_sender = context.Pipe(duplex=False)
        self.process = context.Process(target=_serve, args=(server, ready_sender), name="rigbook-lock-server",
                                       daemon=True)
        self._ready_sender = ready_sender
        self.url = None

    def start(self, timeout=30.0):
        """Start the server and return its URL once it listens.

        Raises
        ------
        OSError
            If it cannot listen on its URL (the port is taken...).
        TimeoutError
            If it does not listen within ``timeout`` seconds.
        """
        self.process.start()
        self._ready_sender.close()
        try:
            self.url = wait_until_listening(self._ready, timeout, "the lock server", self._server.url)
        except OSError:  # TimeoutError too
            self.process.terminate()
            self.process.join()
            raise
        return self.url

    def stop(self, timeout=10.0):
        """Tell the server to stop and wait for it (terminate it if it does not within ``timeout``)."""
        if self.process.is_alive() and self.url is not None:
            client = LockerClient(self.url, connect_timeout=timeout)
            try:
                client.send_done()
            except ConnectionError:
                logger.warning("The lock server at %s did not answer DONE; terminating it", self.url)
            finally:
                client.finalize()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
