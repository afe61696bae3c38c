"""Store requests sent over the network to one writer (``WRAP_MODE_NETQUEUE``), over ZeroMQ.

:class:`NetQueueStorageServiceSender` is what a worker stores through: each
``store`` call is pickled, signed and sent to the
:class:`NetQueueStorageServiceWriter`, which answers as soon as it received
the request (so a sender knows its data arrived, and a writer that went
away is an error, not a silent loss) and is the only one that touches the
file. The writer behaves as the QUEUE and PIPE writers do
(:mod:`rigbook.trajectory.storagewriter`): batched flushes, confirmations,
failures raised when it stops.

Every message carries an HMAC of its bytes under this user's key
(:mod:`rigbook.trajectory.trust`); the writer unpickles only messages whose
signature matches, so whoever merely reaches the port cannot make it run
code.

Workers on another machine
--------------------------
Bind the writer to an address the other machine reaches, e.g.
``Environment(..., wrap_mode='NETQUEUE', url='tcp://192.168.1.5:7778')``.
The worker there needs the same signing key: copy ``trust.key`` from the
config folder (``rigbook.trajectory.trust.secret_path()``), or point
``RIGBOOK_CONFIG_DIR`` at a folder holding it, then::

    traj.v_storage_service = NetQueueStorageServiceSender("tcp://192.168.1.5:7778")
    traj.f_store()   # arrives in the writer's file

Requires ``pyzmq`` (``pip install rigbook[net]``).
"""

import contextlib
import logging
import os
import pickle

from rigbook.trajectory import trust
from rigbook.trajectory.netlock import DEFAULT_URL, _zmq, bind, report_failure, report_listening, split_envelope
from rigbook.trajectory.storagewriter import StorageWriter
from rigbook.trajectory.wrappers import _Sender

logger = logging.getLogger(__name__)

RECEIVED = b"RECEIVED"
REFUSED = b"REFUSED"


class NetQueueStorageServiceSender(_Sender):
    """Worker side of ``WRAP_MODE_NETQUEUE``: sends signed store requests to the writer's URL.

    Parameters
    ----------
    url : str
        The writer's URL, e.g. ``'tcp://127.0.0.1:7778'``.
    reply_timeout : float
        Seconds to wait for the writer to acknowledge a request.

    Notes
    -----
    The connection is neither pickled nor inherited: a sender used in
    another process (pickled or forked) connects again there.
    """

    def __init__(self, url, reply_timeout=60.0):
        self.url = url
        self.reply_timeout = float(reply_timeout)
        self._context = None
        self._socket = None
        self._pid = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_context=None, _socket=None, _pid=None)
        return state

    def _connect(self):
        if self._socket is not None and self._pid == os.getpid():
            return
        zmq = _zmq()
        # A forked copy leaves its parent's sockets alone and opens its own.
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.REQ)
        self._socket.setsockopt(zmq.REQ_RELAXED, 1)
        self._socket.setsockopt(zmq.REQ_CORRELATE, 1)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(self.url)
        self._pid = os.getpid()

    def _send(self, message):
        self._connect()
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._socket.send_multipart([trust.digest(payload), payload])
        if not self._socket.poll(int(self.reply_timeout * 1000)):
            raise ConnectionError(
                f"the storage writer at {self.url} did not acknowledge a request within {self.reply_timeout:g} s")
        answer = self._socket.recv()
        if answer == REFUSED:
            raise PermissionError(
                f"the storage writer at {self.url} refused a request: its signing key differs from this "
                f"process's ({trust.secret_path()}); copy the writer's trust.key here")

    def close(self):
        """Close the connection (a later request opens a new one)."""
        if self._socket is not None and self._pid == os.getpid():
            self._socket.close(linger=0)
            self._context.term()
        self._socket = self._context = None


class NetQueueChannel:
    """Signed store requests arriving on a ZeroMQ socket; each is acknowledged on receipt.

    Parameters
    ----------
    url : str
        Where to listen; without a port a free one is chosen.
    ready_connection : multiprocessing.connection.Connection, optional
        Receives the bound URL once senders can connect.
    """

    def __init__(self, url=DEFAULT_URL, ready_connection=None):
        self.url = url
        self.ready_connection = ready_connection
        #: How many requests were refused (unsigned or signed with another key).
        self.refused = 0
        self._socket = None

    @contextlib.contextmanager
    def listening(self):
        """Bind (and report the URL) for the duration of the writer's run."""
        zmq = _zmq()
        context = zmq.Context()
        self._socket = context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 1000)
        try:
            try:
                self.url = bind(self._socket, self.url)
            except Exception as exc:
                if self.ready_connection is not None:
                    report_failure(self.ready_connection, exc)
                raise
            logger.info("Storage writer listening on %s", self.url)
            if self.ready_connection is not None:
                report_listening(self.ready_connection, self.url)
                self.ready_connection.close()
            yield self
        finally:
            self._socket.close()
            context.term()
            self._socket = None

    def receive(self, timeout):
        """The next signed message, or None if none (valid) came within ``timeout`` seconds."""
        if not self._socket.poll(None if timeout is None else int(timeout * 1000)):
            return None
        envelope, body = split_envelope(self._socket.recv_multipart())
        if len(body) != 2 or not trust.verify(body[1], body[0]):
            self.refused += 1
            logger.error("Storage writer at %s refused an unsigned or wrongly signed request", self.url)
            self._socket.send_multipart(envelope + [REFUSED])
            return None
        self._socket.send_multipart(envelope + [RECEIVED])
        return pickle.loads(body[1])

    def has_pending(self):
        """Whether another message is already waiting."""
        return bool(self._socket.poll(0))


class NetQueueStorageServiceWriter(StorageWriter):
    """Writer side of ``WRAP_MODE_NETQUEUE``: a :class:`StorageWriter` listening on a URL.

    Parameters
    ----------
    storage_service : object
        The real service.
    url : str
        Where to listen; without a port a free one is chosen (reported to
        ``ready_connection``).
    gc_interval, reply_queue, max_buffer_size, stop_event, flush_interval
        See :class:`~rigbook.trajectory.storagewriter.StorageWriter`.
    ready_connection : multiprocessing.connection.Connection, optional
        Receives the bound URL once senders can connect.
    """

    def __init__(self, storage_service, url=DEFAULT_URL, gc_interval=None, reply_queue=None, max_buffer_size=1000,
                 stop_event=None, flush_interval=0.5, ready_connection=None):
        super().__init__(storage_service, NetQueueChannel(url, ready_connection), gc_interval, reply_queue,
                         max_buffer_size, stop_event, flush_interval)

    @property
    def url(self):
        """Where the writer listens (the bound URL once running)."""
        return self.channel.url
