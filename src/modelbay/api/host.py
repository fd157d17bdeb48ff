"""Hosting a :class:`modelbay.server.Server` over HTTP: ``serve(server)`` is what
``modelbay serve`` runs, and what a server started from Python runs.

One worker: uvicorn in this process, over the server object given. More: N worker
processes, each handed its settings explicitly (never through environment variables)
and each accepting on its OWN listening socket, bound here with ``SO_REUSEPORT`` to
the same address: the kernel spreads new connections over the sockets by a hash of
each connection. Why not uvicorn's workers: they share one listening socket, and the
accept goes to whichever worker the kernel wakes first; serving all-MiniLM-L6-v2 at 16
keep-alive connections, one run had every connection on one worker while the other
idled (1.0 core used of 2, p99 2.8 s). uvicorn's supervisor hands every worker the same
sockets, so this module keeps a small one of its own: it starts the workers, starts
another when one dies (the new one takes over the dead one's socket, so connections
waiting in its queue are still answered), and on SIGINT or SIGTERM stops them all,
each with uvicorn's graceful shutdown, then kills what is left after the grace time.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from modelbay.errors import ConfigError
from modelbay.server import Server
from modelbay.settings import Settings

__all__ = ["check_free", "listen", "serve"]

log = logging.getLogger("modelbay.serve")

STARTUP_FAILURE = 3  # a worker's exit code when its server could not start (as uvicorn's)
GRACE_S = 10.0  # how long workers get to finish what is in flight when the server stops
BACKLOG = 2048


def listen(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    """A listening TCP socket on ``host:port``; with ``reuse_port``, one of a group that the
    kernel balances new connections over."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot bind {host!r}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use (another server?): stop what listens there, "
                "or choose another port (--port, MODELBAY_PORT)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def check_free(host: str, port: int) -> None:
    """Raise :class:`ConfigError` if something listens on ``host:port`` already. The check
    binds without ``SO_REUSEPORT``: the workers' own sockets have it, and so would another
    modelbay server's, which the kernel would otherwise let this one share the port with
    (each getting a part of the connections)."""
    listen(host, port, reuse_port=False).close()


def _config(server: Server) -> Any:
    import uvicorn

    from modelbay.api.app import create_app
    from modelbay.api.protocol import InferenceProtocol

    s = server.settings
    return uvicorn.Config(
        create_app(server),
        http=InferenceProtocol,  # inference below ASGI
        host=s.host,
        port=s.port,
        log_level=s.log_level,
        access_log=False,
        ssl_certfile=str(s.ssl_certfile) if s.ssl_certfile else None,
        ssl_keyfile=str(s.ssl_keyfile) if s.ssl_keyfile else None,
        timeout_graceful_shutdown=int(GRACE_S) - 2,
    )


def _preload() -> None:
    """A worker imports the model libraries (ONNX Runtime; skops, which brings scikit-learn)
    before it takes requests: ``import modelbay`` leaves them out so that the CLI starts
    fast, and the first request for a model, or the first upload, should not pay for them
    (on a loaded machine that took longer than a client's 5 s timeout)."""
    import onnxruntime  # noqa: F401
    import skops.io  # noqa: F401


def _run(server: Server, sockets: list[socket.socket] | None) -> bool:
    import uvicorn

    _preload()
    host = uvicorn.Server(_config(server))
    host.run(sockets=sockets)
    return bool(host.started)


def _worker(settings: Settings, sock: socket.socket) -> None:
    """A worker process: its own Server over the settings it was handed, on its socket."""
    _end_with_parent()
    if not _run(Server(settings), [sock]):
        sys.exit(STARTUP_FAILURE)


def _end_with_parent() -> None:
    """Linux: this process gets SIGTERM when the supervisor dies, however it dies (a killed
    supervisor would otherwise leave its workers serving)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1  # <sys/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def serve(server: Server, on_listening: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM: in this process with one worker, else in
    ``server.workers`` processes (each over its own socket; see the module's text).

    The ports are bound first, and ``on_listening`` is called once they listen (what
    ``modelbay serve`` prints its start-up lines in): a port in use is a
    :class:`ConfigError` naming it, before anything is said or started."""
    s = server.settings
    if s.grpc_port:
        check_free(s.grpc_host, s.grpc_port)  # each worker binds it as it starts
    workers = server.workers
    if workers == 1:
        sockets = [listen(s.host, s.port, reuse_port=False)]
    else:
        check_free(s.host, s.port)
        sockets = [listen(s.host, s.port) for _ in range(workers)]
    try:
        if on_listening is not None:
            on_listening()
        if workers == 1:
            if not _run(server, sockets):
                raise ConfigError("the server could not start; its log above says why")
            return
        Workers(server.for_workers(), sockets).run()
    finally:
        for sock in sockets:
            sock.close()


class Workers:
    """``Workers(settings, sockets).run()``: one worker process a socket, kept running."""

    def __init__(self, settings: Settings, sockets: list[socket.socket]) -> None:
        self.settings = settings
        self.sockets = sockets
        self.stopping = threading.Event()
        self._spawn = multiprocessing.get_context("spawn")

    def _start(self, i: int) -> BaseProcess:
        process = self._spawn.Process(
            target=_worker, args=(self.settings, self.sockets[i]), name=f"modelbay-worker-{i}"
        )
        process.start()
        return process

    def run(self) -> None:
        previous = {
            sig: signal.signal(sig, lambda *_: self.stopping.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        processes: list[BaseProcess] = []
        failed = False
        try:
            processes = [self._start(i) for i in range(len(self.sockets))]
            while not self.stopping.wait(0.5):
                for i, process in enumerate(processes):
                    if process.exitcode is None:
                        continue
                    if process.exitcode == STARTUP_FAILURE:
                        log.error("a worker could not start (its log says why); stopping")
                        failed = True
                        self.stopping.set()
                        break
                    log.warning(
                        "worker %d (pid %s) ended with exit code %s; starting another",
                        i,
                        process.pid,
                        process.exitcode,
                    )
                    processes[i] = self._start(i)
        finally:
            _stop(processes)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed:
            raise ConfigError("a server worker could not start; its log above says why")


def _stop(processes: list[BaseProcess]) -> None:
    """SIGTERM to each worker (uvicorn's graceful shutdown), SIGKILL past the grace time."""
    for process in processes:
        if process.exitcode is None:
            process.terminate()
    deadline = time.monotonic() + GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            process.kill()
            process.join()
