"""Launch behaviour: starting again replaces the running instance; --share offline keeps serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from webui_helpers import answers, free_port, start_server, stop_server

from webui import instance

pytestmark = pytest.mark.slow


def test_starting_again_replaces_the_running_instance(tmp_path: Path) -> None:
    port = free_port()
    first = start_server(tmp_path, port)
    second = None
    try:
        pid_path = instance.pid_file(tmp_path, port)
        assert int(pid_path.read_text()) == first.process.pid
        second = start_server(tmp_path, port)
        # The first instance was stopped (its port freed) and the second one now serves the page.
        assert first.process.wait(timeout=30) is not None
        assert answers(second.url)
        assert int(pid_path.read_text()) == second.process.pid
        assert f"Stopped the previous instance (pid {first.process.pid})" in second.log()
    finally:
        stop_server(first)
        if second is not None:
            stop_server(second)
    assert not instance.pid_file(tmp_path, port).exists()  # removed on a clean stop


def test_share_without_network_keeps_serving_locally(tmp_path: Path) -> None:
    server = start_server(tmp_path, free_port(), "--share", "--auth", "user:secret")
    try:
        deadline = time.monotonic() + 30  # the share attempt ends right after launch: wait for its line
        while "Public link" not in server.log() and "serving locally only" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        assert "Public link" in server.log() or "No public link could be made" in server.log()
        assert server.process.poll() is None
        assert answers(server.url)  # the login page is served
    finally:
        stop_server(server)


def test_a_port_held_by_another_program_is_reported(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not instance.port_is_free("127.0.0.1", port)
        assert not instance.wait_for_port("127.0.0.1", port, timeout=0.5)
    assert instance.port_is_free("127.0.0.1", port)


def test_pid_file_of_another_program_is_never_signalled(tmp_path: Path) -> None:
    path = instance.pid_file(tmp_path, 1234)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path.write_text(f"{other.pid}\n")  # alive, but not the web UI
        assert instance.stop_previous(path) is None
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(timeout=10)
    instance.claim(path)
    assert int(path.read_text()) == os.getpid()
    instance.release(path)
    assert not path.exists()
