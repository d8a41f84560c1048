"""One instance per port: starting the app again replaces the one already serving that port.

The running instance's pid is kept in `<data dir>/webui-<port>.pid`. A new start stops that process
(SIGTERM, then SIGKILL after a grace period), which frees its port and any GPU memory it held, and
waits until the port can be bound before serving.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

STOP_GRACE_SECONDS = 10.0
PORT_WAIT_SECONDS = 15.0


def pid_file(data_dir: Path, port: int) -> Path:
    return data_dir / f"webui-{port}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) still answers kill(0) but holds nothing.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _is_webui(pid: int) -> bool:
    """Only ever stop a process that is this app (pids are reused after a crash or a reboot)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    started_as_module = any(a == b"-m" and b == b"webui" for a, b in zip(args, args[1:], strict=False))
    return started_as_module or any(arg.endswith(b"face-fusion-webui") for arg in args)


def port_is_free(host: str, port: int) -> bool:
    bind_host = "" if host in ("0.0.0.0", "") else host
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bind_host, port))
        except OSError:
            return False
    return True


def stop_previous(path: Path) -> int | None:
    """Stop the instance recorded in `path`; returns its pid, or None when none was running."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid == os.getpid() or not _alive(pid) or not _is_webui(pid):
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return pid


def wait_for_port(host: str, port: int, timeout: float = PORT_WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not port_is_free(host, port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def claim(path: Path) -> None:
    """Record this process as the instance for the port (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


def release(path: Path) -> None:
    """Remove the pid file if it still names this process (a newer instance may have replaced it)."""
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text().strip()) == os.getpid():
            path.unlink()
