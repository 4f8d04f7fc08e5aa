"""The benchmark: FLOP count, timing helpers, inference in both precisions, and every key on a tiny network."""

from __future__ import annotations

import time

import pytest
import torch

from desed_task.nnet import CRNN, FrameATSTEncoder
from tools.benchmark import format_table, inference, run_benchmark
from tools.flops import network_flops
from tools.stage2_step import TINY_NETWORK
from tools.timing import best_time, describe_device, matmul_gflops


def test_network_flops_match_the_closed_form_of_the_transformer_cnn_and_gru():
    net = CRNN(FrameATSTEncoder(embed_dim=64, depth=2, num_heads=2), nb_filters=(4,) * 7, n_rnn_cell=8).eval()
    flops = network_flops(net, torch.randn(1, 128, 626), torch.randn(1, 64, 1001))
    n, d = 250, 64
    block = 2 * n * (d * 3 * d + d * d + 2 * d * 4 * d) + 4 * n * n * d
    convs, t, f, c_in = 0, 626, 128, 1
    for pt, pf in ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2)):
        convs += 2 * t * f * 4 * c_in * 9 + 2 * t * f * 4 * 4  # conv + context gating
        t, f, c_in = t // pt, f // pf, 4
    gru = 2 * 156 * 3 * 2 * ((4 + 8) * 8 + (16 + 8) * 8)
    heads = 2 * 156 * (68 * 4 + 2 * 16 * 10)
    expected = 2 * n * 256 * d + 2 * block + convs + gru + heads
    assert flops == expected


@pytest.mark.slow
def test_run_benchmark_reports_inference_in_both_precisions_and_data_loading_on_a_tiny_network():
    results = run_benchmark(
        "cpu",
        precisions=("32", "bf16-mixed"),
        inference_batches=(1, 2),
        repeats=1,
        data_clips=4,
        matmul_sizes=(256,),
        window_seconds=0.0,
        overrides=TINY_NETWORK,
        train=False,
        test_scoring=False,
    )
    for end in ("", "_bf16"):
        for key in (
            "inference_network_s_bs1",
            "inference_rtf_bs1",
            "inference_clips_per_s_bs1",
            "inference_clips_per_s_bs16",
            "inference_rtf_bs16",
        ):
            assert results[key + end] > 0, key + end
    for key in ("matmul_gflops", "network_gflops_per_clip", "inference_limit_fraction_bs1", "data_clips_per_s"):
        assert results[key] > 0, key
    assert results["device"] == describe_device(torch.device("cpu"))
    assert not any(key.startswith("train_") for key in results)
    assert "matmul_gflops" in format_table(results)


def test_inference_runs_the_network_under_bf16_autocast_and_the_front_ends_in_float32(monkeypatch):
    net = CRNN(FrameATSTEncoder(embed_dim=32, depth=1, num_heads=2), nb_filters=(4,) * 7, n_rnn_cell=8).eval()
    from desed_task.features import SEDFrontend

    seen = []
    original = net.forward

    def forward(sed_feats, encoder_feats):
        seen.append((sed_feats.dtype, encoder_feats.dtype, torch.is_autocast_enabled("cpu")))
        return original(sed_feats, encoder_feats)

    monkeypatch.setattr(net, "forward", forward)
    inference(net, SEDFrontend(), net.encoder.frontend, torch.device("cpu"), 1, "bf16-mixed", repeats=1)
    assert seen and all(s == (torch.float32, torch.float32, True) for s in seen)


def test_matmul_gflops_is_positive_and_finite():
    assert 0 < matmul_gflops(torch.device("cpu"), sizes=(256,), repeats=2) < 1e6


def test_best_time_keeps_calling_until_the_window_has_passed():
    calls = []

    def fn() -> None:
        calls.append(time.perf_counter())

    best = best_time(fn, torch.device("cpu"), repeats=2, warmup=1, min_seconds=0.05)
    assert calls[-1] - calls[1] >= 0.04  # timed calls span the window (the first call is the warm-up)
    assert len(calls) > 3
    assert 0 <= best < 0.05


def test_describe_device_names_the_cpu_extension_bf16_support_and_threads():
    text = describe_device(torch.device("cpu"))
    assert torch.backends.cpu.get_cpu_capability() in text
    assert "bf16" in text
    assert text.endswith(f"{torch.get_num_threads()} threads")
