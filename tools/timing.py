"""Timing on a shared machine, and what the device is: the building blocks of every benchmark measurement."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; a CPU has nothing to wait for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(
    fn: Callable[[], object], device: torch.device, repeats: int = 5, warmup: int = 1, min_seconds: float = 0.0
) -> float:
    """The shortest wall-clock time in seconds of at least ``repeats`` calls of ``fn`` after ``warmup`` calls.

    Calls go on until ``min_seconds`` have passed as well: on a shared host the load drifts over seconds, and the
    best call of a longer window is the one least disturbed by other tenants.
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    best = float("inf")
    window_start = time.perf_counter()
    calls = 0
    while calls < repeats or time.perf_counter() - window_start < min_seconds:
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
        calls += 1
    return best


def describe_device(device: torch.device) -> str:
    """The device in words: GPU name, or CPU model, vector extension torch uses, bf16 support and threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    from desed_task.inference.precision import native_bf16

    # oneDNN's own bf16 check is true on any AVX-512 CPU, emulated or not; the CPU flags tell them apart.
    bf16 = "native bf16" if native_bf16(device)[0] else "no native bf16 (emulated)"
    return f"{model}, {torch.backends.cpu.get_cpu_capability()}, {bf16}, {torch.get_num_threads()} threads"


def matmul_gflops(
    device: torch.device, sizes: tuple[int, ...] = (2048, 3072, 4096), repeats: int = 3, min_seconds: float = 0.0
) -> float:
    """The device's practical float32 limit: the best GFLOP/s of square GEMMs of the given sizes."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        seconds = best_time(lambda: torch.mm(a, b), device, repeats=repeats, min_seconds=min_seconds)
        best = max(best, 2 * n**3 / seconds / 1e9)
    return best
