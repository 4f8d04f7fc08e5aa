"""Throughput measurements on the device at hand: matmul limit, inference, one stage-2 step, data loading.

Every timing is the best of several repetitions after a warm-up (the least disturbed run on a shared
machine). The network's FLOPs are counted analytically from the shapes its layers see (convolutions, linear
layers, attention products, GRU gates; 2 FLOPs per multiply-add; element-wise work is not counted), so the
"fraction of the matmul limit" compares the network with the device's best large float32 GEMM.
"""
from __future__ import annotations

import logging
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from desed_task.features import MelFrontend, SEDFrontend
from desed_task.nnet import CRNN, FrameATSTEncoder
from desed_task.nnet.encoders.atst_transformer import Attention

log = logging.getLogger(__name__)

Precision = Literal["32", "bf16-mixed", "16-mixed"]
CLIP_SECONDS = 10.0
SAMPLE_RATE = 16000


def synchronize(device: torch.device) -> None:
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
    bf16 = "native bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "no native bf16"
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


def _gru_flops(gru: nn.GRU, batch: int, steps: int) -> int:
    """3 gates, each an input and a hidden product, per step, layer and direction."""
    directions = 2 if gru.bidirectional else 1
    total = 0
    for layer in range(gru.num_layers):
        n_in = gru.input_size if layer == 0 else gru.hidden_size * directions
        total += directions * batch * steps * 3 * 2 * (n_in + gru.hidden_size) * gru.hidden_size
    return total


def network_flops(net: CRNN, sed_feats: torch.Tensor, encoder_feats: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``net`` on these inputs, counted from the shapes its layers see."""
    counts: list[int] = []

    def hook(module: nn.Module, inputs: tuple, output) -> None:
        x = inputs[0]
        if isinstance(module, nn.Linear):
            counts.append(2 * (x.numel() // module.in_features) * module.in_features * module.out_features)
        elif isinstance(module, nn.Conv2d):
            kernel = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            counts.append(2 * output.numel() * kernel)
        elif isinstance(module, nn.GRU):
            batch, steps = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
            counts.append(_gru_flops(module, batch, steps))
        elif isinstance(module, Attention):
            b, n, d = x.shape
            counts.append(2 * 2 * b * n * n * d)  # q·kᵀ and attention·v over all heads

    kinds = (nn.Linear, nn.Conv2d, nn.GRU, Attention)
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, kinds)]
    try:
        with torch.inference_mode():
            net(sed_feats, encoder_feats)
    finally:
        for handle in handles:
            handle.remove()
    return sum(counts)


def _autocast(device: torch.device, precision: Precision):
    if precision == "32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def inference(
    net: CRNN,
    sed: SEDFrontend,
    encoder_frontend: MelFrontend,
    device: torch.device,
    batch: int,
    repeats: int = 5,
    min_seconds: float = 0.0,
) -> dict[str, float]:
    """Seconds per batch of 10 s clips: the network alone (features given) and end to end (from waveforms)."""
    audio = torch.randn(batch, int(CLIP_SECONDS * SAMPLE_RATE), device=device) * 0.1
    with torch.inference_mode():
        sed_feats, encoder_feats = sed(audio), encoder_frontend(audio)
        network_s = best_time(lambda: net(sed_feats, encoder_feats), device, repeats, min_seconds=min_seconds)
        total_s = best_time(lambda: net(sed(audio), encoder_frontend(audio)), device, repeats,
                            min_seconds=min_seconds)
    return {"network_s": network_s, "end_to_end_s": total_s}


def _peak_memory_mb(device: torch.device) -> float:
    """CUDA: peak allocated tensor memory; CPU: the process's peak resident size (includes Python and torch)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def train_step(
    student: CRNN,
    teacher: CRNN,
    sed: SEDFrontend,
    encoder_frontend: MelFrontend,
    device: torch.device,
    batch: int,
    precision: Precision = "32",
    repeats: int = 1,
) -> dict[str, float]:
    """One stage-2 step (features, student forward/backward and Adam step, teacher forward) in ``precision``.

    Losses are computed in float32 outside autocast, as in training. Returns seconds and peak memory in MB.
    CPUs without native bfloat16 arithmetic emulate it: there bf16 is far slower than float32.
    """
    student.train()
    teacher.train()
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-5)
    audio = torch.randn(batch, int(CLIP_SECONDS * SAMPLE_RATE), device=device) * 0.1
    labels = (torch.rand(batch, 10, 156, device=device) > 0.8).float()

    def step() -> None:
        sed_feats, encoder_feats = sed(audio), encoder_frontend(audio)
        with _autocast(device, precision):
            strong_s, weak_s = student(sed_feats, encoder_feats)
            with torch.no_grad():
                strong_t, weak_t = teacher(sed_feats, encoder_feats)
        strong_s, weak_s = strong_s.float(), weak_s.float()
        loss = F.binary_cross_entropy(strong_s, labels[:, : strong_s.shape[1], : strong_s.shape[2]])
        loss = loss + F.mse_loss(strong_s, strong_t.float()) + F.mse_loss(weak_s, weak_t.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = best_time(step, device, repeats)
    return {"train_step_s": seconds, "peak_memory_mb": _peak_memory_mb(device)}


def data_loading(n_clips: int = 16, num_workers: int = 0, root: Path | None = None) -> float:
    """Clips per second read and collated from the synthetic dataset's unlabeled folder (generated if needed)."""
    from torch.utils.data import DataLoader

    from desed_task.data import DESED_CLASSES, LabelEncoder, UnlabeledSet, collate_clips, make_synthetic_desed

    with tempfile.TemporaryDirectory() if root is None else nullcontext(str(root)) as folder:
        folder = Path(folder)
        if not (folder / "audio").is_dir():
            make_synthetic_desed(folder, preset="tiny", seed=0, progress=False)
        dataset = UnlabeledSet(folder / "audio/train/unlabel_in_domain_16k", LabelEncoder(DESED_CLASSES),
                               "unlabeled")
        loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=num_workers, collate_fn=collate_clips)
        start = time.perf_counter()
        seen = 0
        while seen < n_clips:
            for batch in loader:
                seen += batch["audio"].shape[0]
        return seen / (time.perf_counter() - start)


def run_benchmark(
    device: str | torch.device = "cpu",
    train_batch: int = 1,
    precisions: tuple[Precision, ...] = ("32", "bf16-mixed"),
    inference_batches: tuple[int, int] = (1, 16),
    repeats: int = 10,
    data_clips: int = 16,
    net_factory: Callable[[], CRNN] = lambda: CRNN(FrameATSTEncoder()),
    matmul_sizes: tuple[int, ...] = (2048, 3072, 4096),
    window_seconds: float = 10.0,
) -> dict[str, float]:
    """All measurements on ``device``; keys as written to the benchmark's JSON (see docs/performance.md).

    The matmul limit (each time) and the batch-1 inference timings each take the best call of a window of at
    least ``window_seconds``, so that the limit fraction compares two undisturbed measurements.
    """
    device = torch.device(device)
    results: dict[str, float] = {"threads": float(torch.get_num_threads())}
    per_size = window_seconds / max(1, len(matmul_sizes))
    results["matmul_gflops"] = limit_before = matmul_gflops(device, matmul_sizes, min_seconds=per_size)
    net = net_factory().to(device).eval()
    sed, atst = SEDFrontend().to(device), net.encoder.frontend
    audio = torch.zeros(1, int(CLIP_SECONDS * SAMPLE_RATE), device=device)
    with torch.inference_mode():
        flops = network_flops(net, sed(audio), atst(audio))
    results["network_gflops_per_clip"] = flops / 1e9
    small, large = inference_batches
    bs1 = inference(net, sed, atst, device, small, repeats, min_seconds=window_seconds)
    bs16 = inference(net, sed, atst, device, large, max(2, repeats // 2))
    results["inference_network_s_bs1"] = bs1["network_s"] / small
    results["inference_rtf_bs1"] = bs1["end_to_end_s"] / small / CLIP_SECONDS
    results["inference_clips_per_s_bs1"] = small / bs1["end_to_end_s"]
    results["inference_clips_per_s_bs16"] = large / bs16["end_to_end_s"]
    results["inference_rtf_bs16"] = bs16["end_to_end_s"] / large / CLIP_SECONDS
    # The limit is measured before and after the inference timings and the higher value kept: on a shared host
    # a busy moment lowers one of them, and the fraction must not profit from it.
    results["matmul_gflops"] = max(limit_before, matmul_gflops(device, matmul_sizes, min_seconds=per_size))
    results["inference_limit_fraction_bs1"] = (
        flops / results["inference_network_s_bs1"] / (results["matmul_gflops"] * 1e9)
    )
    results["train_batch"] = float(train_batch)
    for precision in precisions:
        student = net_factory().to(device)
        teacher = net_factory().to(device)
        for param in teacher.parameters():
            param.requires_grad_(False)
        step = train_step(student, teacher, sed, atst, device, train_batch, precision)
        suffix = "" if precision == "32" else "_" + precision.replace("-mixed", "")
        results[f"train_step_s{suffix}"] = step["train_step_s"]
        results[f"peak_memory_mb{suffix}"] = step["peak_memory_mb"]
        del student, teacher
    results["data_clips_per_s"] = data_loading(data_clips)
    return results


def format_table(results: dict[str, float]) -> str:
    """A two-column text table of the results."""
    width = max(len(k) for k in results)
    return "\n".join(f"{key:<{width}}  {value:.4g}" for key, value in results.items())
