"""The embedded AWS emulator: moto's server on a loopback port, in this process."""

from __future__ import annotations

import socket
import threading
import urllib.request
from dataclasses import dataclass, field

from werkzeug.serving import make_server

from .processes import EngineError, PortBusy


class MotoStartError(EngineError):
    pass


def _require_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise PortBusy(f"moto: port {port} on {host} is already in use", port) from None


@dataclass
class MotoServer:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port chosen by the kernel
    _server: object = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "MotoServer":
        # moto's ThreadedMotoServer waits forever when the port is busy; binding here
        # first turns that into an error the caller can report.
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args, **kwargs):  # one line per API call drowns test output
                pass

        if self.port:
            _require_free(self.host, self.port)  # werkzeug would print a banner and sys.exit instead
        app = DomainDispatcherApplication(create_backend_app)
        try:
            self._server = make_server(self.host, self.port, app, threaded=True, request_handler=QuietHandler)
        except SystemExit:
            # werkzeug prints "Address already in use" and calls sys.exit(1) when it cannot bind.
            raise PortBusy(f"moto: port {self.port} on {self.host} is already in use", self.port) from None
        except OSError as exc:
            raise MotoStartError(f"cannot listen on {self.host}:{self.port} for moto ({exc.strerror or exc})") from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        return self

    def reset(self) -> None:
        """Forget every resource (moto's own reset API). Its deadline only guards against a dead
        server: with many accounts' backends in the process (a class of emulated students), the
        reset has been seen to take longer than 5 s on a loaded 2-core machine."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=60).close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
