"""Keeping freed memory in the process on CPU runs (glibc's ``mallopt``).

glibc serves each allocation above its mmap threshold (at most 32 MB) with a fresh ``mmap`` and gives it back to
the kernel when freed, and trims the top of the heap once 128 KB or more is free. A CPU training step allocates
and frees the same large buffers (spectrograms, activations) again and again, so every step page-faults its
memory in anew. On hosts where page faults are expensive this cost the front-ends two thirds of their time and a
demo training run about 20 % (docs/performance.md). Asking glibc to serve every allocation from its heap and
never to trim it lets freed buffers be reused; the process keeps its peak memory instead of returning it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (process-wide, for the rest of the process). Returns whether it
    applied: False where the C library is not glibc (macOS, musl), which is then left as it is."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1
    log.debug("glibc keeps freed memory for reuse: %s", applied)
    return applied
