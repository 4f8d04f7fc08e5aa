"""Throughput on the device at hand: matmul limit, inference in both precisions, stage-2 training steps, data
loading and the test stage's scoring (docs/performance.md lists every key of the results).

Timings are the best of several calls after a warm-up (the least disturbed on a shared machine), except the
training steps (median of the timed steps, see ``stage2_step``) and the test-stage scoring (one pass). The
network's FLOPs are counted from the shapes its layers see (``flops.network_flops``), so the "fraction of the
matmul limit" compares the network with the device's best large float32 GEMM.
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import torch

from desed_task.features import MelFrontend, SEDFrontend
from desed_task.nnet import CRNN
from tools import REPO_ROOT
from tools.flops import network_flops
from tools.timing import best_time, describe_device, matmul_gflops, synchronize

__all__ = [
    "best_time",
    "data_loading",
    "describe_device",
    "format_table",
    "inference",
    "matmul_gflops",
    "network_flops",
    "run_benchmark",
    "synchronize",
]

log = logging.getLogger(__name__)

Precision = Literal["32", "bf16-mixed", "16-mixed"]
CLIP_SECONDS = 10.0
SAMPLE_RATE = 16000
TESTS_DATA = REPO_ROOT / "tests" / "data" / "desed_validation"


def suffix(precision: Precision) -> str:
    """Key suffix of a precision: ``""`` for float32, ``"_bf16"`` for bf16-mixed, ``"_16"`` for 16-mixed."""
    return "" if precision == "32" else "_" + precision.replace("-mixed", "")


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
    precision: Precision = "32",
    repeats: int = 5,
    min_seconds: float = 0.0,
) -> dict[str, float]:
    """Seconds per batch of 10 s clips: the network alone (features given) and end to end (from waveforms).

    The network runs under autocast in ``precision``; the front-ends run in float32 outside it, as in training
    and in ``SoundEventDetector``.
    """
    audio = torch.randn(batch, int(CLIP_SECONDS * SAMPLE_RATE), device=device) * 0.1

    def network(sed_feats: torch.Tensor, encoder_feats: torch.Tensor):
        with _autocast(device, precision):
            return net(sed_feats, encoder_feats)

    with torch.inference_mode():
        sed_feats, encoder_feats = sed(audio), encoder_frontend(audio)
        network_s = best_time(lambda: network(sed_feats, encoder_feats), device, repeats, min_seconds=min_seconds)
        total_s = best_time(
            lambda: network(sed(audio), encoder_frontend(audio)), device, repeats, min_seconds=min_seconds
        )
    return {"network_s": network_s, "end_to_end_s": total_s}


def data_loading(n_clips: int = 16, num_workers: int = 0, root: Path | None = None) -> float:
    """Clips per second read and collated from the synthetic dataset's unlabeled folder (generated if needed)."""
    from torch.utils.data import DataLoader

    from desed_task.data import DESED_CLASSES, LabelEncoder, UnlabeledSet, collate_clips, make_synthetic_desed

    with tempfile.TemporaryDirectory() if root is None else nullcontext(str(root)) as folder:
        folder = Path(folder)
        if not (folder / "audio").is_dir():
            make_synthetic_desed(folder, preset="tiny", seed=0, progress=False)
        dataset = UnlabeledSet(folder / "audio/train/unlabel_in_domain_16k", LabelEncoder(DESED_CLASSES), "unlabeled")
        loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=num_workers, collate_fn=collate_clips)
        start = time.perf_counter()
        seen = 0
        while seen < n_clips:
            for batch in loader:
                seen += batch["audio"].shape[0]
        return seen / (time.perf_counter() - start)


def _inference_results(
    results: dict[str, Any],
    net: CRNN,
    device: torch.device,
    precision: Precision,
    batches: tuple[int, int],
    repeats: int,
    window_seconds: float,
) -> None:
    sed, atst = SEDFrontend().to(device), net.encoder.frontend
    small, large = batches
    end = suffix(precision)
    bs1 = inference(net, sed, atst, device, small, precision, repeats, min_seconds=window_seconds)
    bs16 = inference(net, sed, atst, device, large, precision, max(2, repeats // 2))
    results[f"inference_network_s_bs1{end}"] = bs1["network_s"] / small
    results[f"inference_rtf_bs1{end}"] = bs1["end_to_end_s"] / small / CLIP_SECONDS
    results[f"inference_clips_per_s_bs1{end}"] = small / bs1["end_to_end_s"]
    results[f"inference_clips_per_s_bs16{end}"] = large / bs16["end_to_end_s"]
    results[f"inference_rtf_bs16{end}"] = bs16["end_to_end_s"] / large / CLIP_SECONDS


def _train_results(
    results: dict[str, Any],
    device: torch.device,
    precision: Precision,
    batch: tuple[int, ...],
    overrides: dict[str, Any],
    warmup: int,
    steps: int,
) -> None:
    from tools.stage2_process import run_stage2_step

    run = run_stage2_step(
        device=device.type, batch=batch, precision=precision, overrides=overrides, warmup=warmup, steps=steps
    )
    end = suffix(precision)
    if run["status"] != "ok":
        log.warning("stage-2 step in %s: %s", precision, run.get("error") or run.get("output_tail") or run["status"])
        results[f"train_step_status{end}"] = run["status"]
        return
    results[f"train_step_s{end}"] = run["step_s_median"]
    results[f"train_step_min_s{end}"] = run["step_s_min"]
    results[f"peak_memory_mb{end}"] = run["peak_memory_mb"]
    results["peak_memory_kind"] = run["peak_memory_kind"]
    results["train_process_rss_before_mb"] = run["rss_before_mb"]


def run_benchmark(
    device: str | torch.device = "cpu",
    train_batch: tuple[int, int, int, int] = (1, 1, 2, 2),
    precisions: tuple[Precision, ...] = ("32", "bf16-mixed"),
    inference_batches: tuple[int, int] = (1, 16),
    repeats: int = 10,
    data_clips: int = 16,
    overrides: dict[str, Any] | None = None,
    matmul_sizes: tuple[int, ...] = (2048, 3072, 4096),
    window_seconds: float = 10.0,
    train_warmup: int = 1,
    train_steps: int = 3,
    train: bool = True,
    test_scoring: bool = True,
) -> dict[str, Any]:
    """All measurements on ``device``; keys as written to the benchmark's JSON (see docs/performance.md).

    The network is the recipe's stage-2 network (``confs/stage2.yaml``) with a random encoder; ``overrides``
    (dotted configuration keys) change it, e.g. to a tiny one in tests. The matmul limit (each time) and the
    batch-1 inference timings each take the best call of a window of at least ``window_seconds``, so that the
    limit fraction compares two undisturbed measurements. Each precision's training steps run in a fresh process.
    """
    from desed_task.experiment.builders import build_network
    from tools.stage2_step import stage2_config

    device = torch.device(device)
    overrides = dict(overrides or {})
    results: dict[str, Any] = {"device": describe_device(device), "threads": torch.get_num_threads()}
    per_size = window_seconds / max(1, len(matmul_sizes))
    results["matmul_gflops"] = limit_before = matmul_gflops(device, matmul_sizes, min_seconds=per_size)
    net = build_network(stage2_config(overrides=overrides)).to(device).eval()
    audio = torch.zeros(1, int(CLIP_SECONDS * SAMPLE_RATE), device=device)
    with torch.inference_mode():
        flops = network_flops(net, SEDFrontend().to(device)(audio), net.encoder.frontend(audio))
    results["network_gflops_per_clip"] = flops / 1e9
    for precision in precisions:
        _inference_results(results, net, device, precision, inference_batches, repeats, window_seconds)
    # The limit is measured before and after the inference timings and the higher value kept: on a shared host
    # a busy moment lowers one of them, and the fraction must not profit from it.
    results["matmul_gflops"] = max(limit_before, matmul_gflops(device, matmul_sizes, min_seconds=per_size))
    results["inference_limit_fraction_bs1"] = (
        flops / results["inference_network_s_bs1"] / (results["matmul_gflops"] * 1e9)
    )
    del net
    synchronize(device)
    if train:
        results["train_batch_sizes"] = list(train_batch)
        results["train_batch"] = sum(train_batch)
        results["train_mixup_and_freq_warp_prob"] = 1.0
        for precision in precisions:
            _train_results(results, device, precision, train_batch, overrides, train_warmup, train_steps)
    results["data_clips_per_s"] = data_loading(data_clips)
    if test_scoring:
        results.update(_test_scoring())
    return results


def _test_scoring() -> dict[str, float]:
    """The test stage's scoring of student and teacher on the DESED validation set's 1,168 clips (synthetic
    scores, real ground truth): ``test_scoring_s`` in all, ``test_scoring_metrics_s`` without writing files, and
    each step (``eval_timing.time_test_steps``)."""
    from tools.eval_timing import synthetic_test_set, time_test_steps

    test_set = synthetic_test_set(TESTS_DATA / "validation.tsv", TESTS_DATA / "validation_durations.tsv")
    times = time_test_steps(test_set)
    out = {
        "test_scoring_clips": len(test_set.clip_ids),
        "test_scoring_s": times.pop("total_s"),
        "test_scoring_metrics_s": times.pop("metrics_s"),
    }
    out.update({f"test_scoring_{key}": value for key, value in times.items()})
    return out


def format_table(results: dict[str, Any]) -> str:
    """A two-column text table of the results (numbers with 4 significant digits)."""
    width = max(len(k) for k in results)

    def shown(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return "\n".join(f"{key:<{width}}  {shown(value)}" for key, value in results.items())
