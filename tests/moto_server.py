"""A real HTTP S3 endpoint for tests: moto's ThreadedMotoServer on 127.0.0.1, restartable on the same port."""

from __future__ import annotations

import socket
import urllib.request
from types import TracebackType

from moto.server import ThreadedMotoServer

REGION = "us-east-1"
# moto accepts any credentials; passing these explicitly keeps tests away from real ones in the environment.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"


class MotoS3Server:
    """Start/stop moto on 127.0.0.1; the first start picks a free port and every restart reuses it.

    Usable as a context manager or from a fixture:

        with MotoS3Server() as s3:
            store = S3BlobStore("bucket", s3.region, s3.endpoint_url, s3.access_key_id, s3.secret_access_key)
            s3.stop()   # the endpoint now refuses connections
            s3.start()  # back on the same port

    moto keeps its data in process-wide state, so buckets and objects survive a restart and are shared
    with every other server or mock in the process: use distinct bucket names, or reset().
    """

    region = REGION
    access_key_id = ACCESS_KEY_ID
    secret_access_key = SECRET_ACCESS_KEY

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: ThreadedMotoServer | None = None
        self._silent: socket.socket | None = None

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the port is chosen on the first start()")
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._silent is not None:
            self._silent.close()
            self._silent = None
        if self._server is not None:
            return
        if self._port:
            # ThreadedMotoServer.start() waits forever if its thread cannot bind, so fail loudly first.
            _check_port_free(self._port)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        server.start()
        self._port = server.get_host_and_port()[1]
        self._server = server

    def stop(self) -> None:
        """Shut the server down and close its socket: connections are refused until start()."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None

    def hang(self) -> None:
        """Stop the server and listen on its port without ever answering: connections open, requests wait, until
        start()."""
        self.stop()
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", self.port))
        silent.listen(64)
        self._silent = silent

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset endpoint clears its process-wide state)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass

    def __enter__(self) -> MotoS3Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        if self._silent is not None:
            self._silent.close()
            self._silent = None


def _check_port_free(port: int) -> None:
    # Same options as the server's own bind (SO_REUSEADDR), so TIME_WAIT leftovers do not count as busy.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
