"""Keep a long-running server's memory flat: glibc's malloc gives each worker thread its own arena and
keeps freed blocks, so a burst of concurrent requests left the process ~30% larger for good
(benchmarks/load.py). Fewer arenas and a trim after each fusion return that memory to the system.
Both are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt() parameter number
ARENAS = 2


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap malloc arenas (call at start-up, before the server's threads exist); True if applied."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, count))


def release_free_memory() -> None:
    """Hand freed heap memory back to the system (a few ms; called after each fusion)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
