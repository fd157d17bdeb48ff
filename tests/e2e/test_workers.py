"""Worker processes: each accepts on its own SO_REUSEPORT socket, so the kernel spreads
keep-alive connections over them (with one shared socket the accept went to whichever
worker woke first, and one worker could hold every connection)."""

from __future__ import annotations

import http.client
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

from modelbay.api.host import listen
from modelbay.errors import ConfigError
from tests.e2e.servers import running_server


def _tcp_inodes(port: int) -> tuple[set[int], dict[int, int]]:
    """Inodes of the listening sockets on ``port``, and of the accepted ones by peer port."""
    listening, accepted = set(), {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
                if int(local.rsplit(":", 1)[1], 16) != port:
                    continue
                if state == "0A":  # LISTEN
                    listening.add(inode)
                elif state == "01":  # ESTABLISHED
                    accepted[int(remote.rsplit(":", 1)[1], 16)] = inode
    return listening, accepted


def _owners(inodes: set[int]) -> dict[int, set[int]]:
    """The processes holding each socket inode."""
    found: dict[int, set[int]] = {i: set() for i in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inode = int(target[8:-1])
                    if inode in found:
                        found[inode].add(int(pid))
        except OSError:  # a process that ended, or one we may not read
            continue
    return found


def test_sixteen_keep_alive_connections_reach_both_workers(tmp_path: Path) -> None:
    with running_server(tmp_path, "--workers", "2") as url:
        port = urlparse(url).port
        assert port is not None
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(16)]
        try:
            for c in connections:
                c.request("GET", "/v2/health/ready")
                response = c.getresponse()
                assert response.status == 200
                response.read()  # the connection stays open (keep-alive)
            listening, accepted = _tcp_inodes(port)
            mine = [accepted[c.sock.getsockname()[1]] for c in connections]
            owners = _owners(set(mine) | listening)
            # every worker accepts on a socket of its own: two listening sockets
            assert len(listening) == 2, listening
            workers = {frozenset(owners[i]) for i in mine}
            assert all(len(w) == 1 for w in workers), workers  # an accepted socket: one process
            answered = {next(iter(w)) for w in workers}
            # the kernel hashes connections over both sockets: both workers answer (all 16 on
            # one worker has a chance of 2 in 65,536)
            assert len(answered) == 2, answered
        finally:
            for c in connections:
                c.close()


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use"):
            listen("127.0.0.1", port)


def test_sockets_of_one_group_share_a_port() -> None:
    first = listen("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        second = listen("127.0.0.1", port)  # SO_REUSEPORT: a second socket on the same port
        second.close()
    finally:
        first.close()
