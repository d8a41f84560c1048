"""Start the real web UI (`python -m webui`) on 127.0.0.1 for the API, instance and browser tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_server(data_dir: Path, port: int, *extra_args: str, env: dict[str, str] | None = None) -> Server:
    """Start `python -m webui` (with `env` added to the environment) and wait (bounded) until its page
    answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}-{time.monotonic_ns()}.log"
    env = {
        **os.environ,
        **(env or {}),
        "FUSION_DATA_DIR": str(data_dir),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "webui", "--host", "127.0.0.1", "--port", str(port), *extra_args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}/", port, data_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web UI exited with {process.returncode}:\n{server.log()}")
        # The app prints its URL once it serves (a replaced instance may still answer before that).
        if "Face fusion UI: http" in server.log() and answers(server.url):
            return server
        time.sleep(0.25)
    stop_server(server)
    raise RuntimeError(f"the web UI did not answer within {START_TIMEOUT_SECONDS} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


@contextlib.contextmanager
def running_server(data_dir: Path, *extra_args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start_server(data_dir, free_port(), *extra_args, env=env)
    try:
        yield server
    finally:
        stop_server(server)
