"""The ATST-SED network (docs/recipe.md §4): golden outputs, published key layout, and the mistakes the golden
must catch; the CRNN with a second, test-only encoder unit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from desed_task.nnet import CRNN, FrameATSTEncoder
from desed_task.nnet.encoders.atst_transformer import FrameATST, PatchEmbed
from golden_weights import CRNN_KEYS_TSV, FRAMEATST_KEYS_TSV, read_key_table, recipe_state_dict
from toy_encoder import ToyEncoder


def small_crnn(**kwargs) -> CRNN:
    encoder = FrameATSTEncoder(
        embed_dim=64, depth=2, num_heads=2, activation_checkpointing=kwargs.pop("activation_checkpointing", False)
    )
    return CRNN(encoder, **kwargs)


@pytest.fixture(scope="module")
def encoder() -> FrameATST:
    """Default-size FrameATST with the golden recipe weights, in eval mode."""
    model = FrameATST()
    model.load_state_dict(recipe_state_dict(FRAMEATST_KEYS_TSV), strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def crnn() -> CRNN:
    """Default-size CRNN with the golden recipe weights, in eval mode."""
    model = CRNN(FrameATSTEncoder())
    model.load_state_dict(recipe_state_dict(CRNN_KEYS_TSV), strict=True)
    return model.eval()


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).float()


def _clip(golden: dict, index: int, *keys: str) -> list[torch.Tensor]:
    """One clip (batch of 1): in eval mode the clips are independent, so mutation tests can run on one."""
    return [_t(golden[k][index : index + 1]) for k in keys]


def _max_diff(a: torch.Tensor, b: np.ndarray) -> float:
    return float((a.detach() - _t(b)).abs().max())


# ---------------------------------------------------------------------------------------------------- golden
def test_frameatst_matches_golden(encoder, golden):
    with torch.no_grad():
        out = encoder(_t(golden["atst_feat"]))
    assert out.shape == golden["frameatst_out"].shape == (3, 768, 250)
    np.testing.assert_allclose(out.numpy(), golden["frameatst_out"], atol=1e-4, rtol=0)


def test_crnn_matches_golden(crnn, golden):
    with torch.no_grad():
        strong, weak = crnn(_t(golden["sed_feat"]), _t(golden["atst_feat"]))
    assert strong.shape == (3, 10, 156) and weak.shape == (3, 10)
    assert strong.dtype == weak.dtype == torch.float32
    np.testing.assert_allclose(strong.numpy(), golden["strong"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(weak.numpy(), golden["weak"], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("model", "table"), [("encoder", FRAMEATST_KEYS_TSV), ("crnn", CRNN_KEYS_TSV)])
def test_state_dict_keys_shapes_dtypes_in_published_order(request, model, table):
    state = request.getfixturevalue(model).state_dict()
    got = [(k, tuple(v.shape), v.dtype) for k, v in state.items()]
    assert got == read_key_table(table)


# ---------------------------------------------------------------------------------------------------- mutations
def test_time_major_patch_flattening_breaks_the_golden(encoder, golden, monkeypatch):
    (feat,) = _clip(golden, 0, "atst_feat")
    with torch.no_grad():
        right = encoder(feat)
    assert _max_diff(right, golden["frameatst_out"][:1]) < 1e-4

    def time_major(self: PatchEmbed, x: torch.Tensor) -> torch.Tensor:
        b, f, t = x.shape
        n = t // self.patch_frames
        x = x[:, :, : n * self.patch_frames].reshape(b, f, n, self.patch_frames)  # (B, F, N, P)
        x = x.permute(0, 2, 3, 1).reshape(b, n, f * self.patch_frames)  # index = frame·F + freq (wrong)
        return self.patch_embed(x)

    monkeypatch.setattr(PatchEmbed, "forward", time_major)
    with torch.no_grad():
        wrong = encoder(feat)
    assert _max_diff(wrong, golden["frameatst_out"][:1]) > 1e-2


def test_attention_softmax_runs_over_the_class_axis(crnn, golden):
    """With attention logits equal for every class, softmax over classes gives each class 1/C in every frame, so
    the clip output is the time mean of the frame outputs; a softmax over time would weight the frames."""
    model = CRNN(FrameATSTEncoder())
    model.load_state_dict(crnn.state_dict())
    with torch.no_grad():
        model.dense_softmax.weight.copy_(model.dense_softmax.weight[:1].expand_as(model.dense_softmax.weight))
        model.dense_softmax.bias.fill_(0.3)
        sed, atst = _clip(golden, 1, "sed_feat", "atst_feat")
        strong, weak = model.eval()(sed, atst)
    torch.testing.assert_close(weak, strong.mean(dim=-1), rtol=0, atol=1e-6)
    assert (strong.max(-1).values - strong.min(-1).values).max() > 1e-3  # frames differ: the test can fail


def test_encoder_output_is_average_pooled_to_the_cnn_frames():
    """The fusion layer sees the CNN features, then the encoder's embeddings averaged over each CNN frame (a test
    encoder with 8-frame embeddings: 78 of them over the CNN's 156 frames, 39 over 19 frames)."""
    torch.manual_seed(0)
    model = CRNN(ToyEncoder(width=6), nb_filters=(4,) * 7).eval()
    seen = {}
    model.cat_tf.register_forward_hook(lambda module, inputs, out: seen.update(x=inputs[0]))
    features = torch.rand(1, 32, 626)
    with torch.no_grad():
        embeddings = model.encoder(features)  # (1, 6, 78)
        model(torch.rand(1, 128, 626), features)
    expected = F.adaptive_avg_pool1d(embeddings, 156).transpose(1, 2)  # (1, 156, 6)
    assert embeddings.shape == (1, 6, 78)
    torch.testing.assert_close(seen["x"][..., 4:], expected, rtol=0, atol=1e-6)


def test_swapped_heads_break_the_golden(golden):
    state = recipe_state_dict(CRNN_KEYS_TSV)
    for suffix in ("weight", "bias"):
        state[f"dense.{suffix}"], state[f"dense_softmax.{suffix}"] = (
            state[f"dense_softmax.{suffix}"],
            state[f"dense.{suffix}"],
        )
    model = CRNN(FrameATSTEncoder())
    model.load_state_dict(state)
    sed, atst = _clip(golden, 0, "sed_feat", "atst_feat")
    with torch.no_grad():
        strong, weak = model.eval()(sed, atst)
    assert _max_diff(strong, golden["strong"][:1]) > 1e-3
    assert _max_diff(weak, golden["weak"][:1]) > 1e-3


# ---------------------------------------------------------------------------------------------------- modes
def test_train_and_eval_return_the_module_and_keep_a_frozen_encoder_in_eval():
    model = small_crnn()
    assert model.eval() is model
    assert model.train() is model
    assert model.encoder.training and model.cnn.training  # trainable encoder follows train()

    model.encoder.requires_grad_(False)
    assert model.train() is model
    assert model.training and model.cnn.training and model.rnn.training
    assert not model.encoder.training
    assert not any(m.training for m in model.encoder.modules())
    assert model.train(False) is model and not model.training and not model.cnn.training


# ---------------------------------------------------------------------------------------------------- small size
@pytest.fixture(scope="module")
def small_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 128, 626, generator=g), torch.rand(3, 64, 1001, generator=g)


@pytest.mark.parametrize("batch", [1, 3])
def test_small_network_output_shapes(small_inputs, batch):
    model = small_crnn().eval()
    sed, atst = small_inputs
    with torch.no_grad():
        strong, weak = model(sed[:batch], atst[:batch])
    assert strong.shape == (batch, 10, 156) and weak.shape == (batch, 10)
    assert model.encoder(atst[:batch]).shape == (batch, 64, 250)
    assert model.encoder.frame_rate == 25.0 and model.time_pooling == 4
    assert torch.all((strong > 0) & (strong < 1)) and torch.all((weak > 0) & (weak < 1))


@pytest.mark.slow
def test_every_trainable_parameter_gets_a_gradient(small_inputs):
    model = small_crnn().train()
    sed, atst = small_inputs
    strong, weak = model(sed[:2], atst[:2])
    (strong.sum() + weak.sum()).backward()
    for name, param in model.named_parameters():
        if name == "atst_frame.atst.mask_embed":  # used by pre-training only (docs/recipe.md §4)
            assert param.grad is None
            continue
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_activation_checkpointing_gives_the_same_output_and_gradients():
    g = torch.Generator().manual_seed(2)
    feats = torch.rand(2, 64, 200, generator=g)
    plain = FrameATST(embed_dim=64, depth=2, num_heads=2).train()
    checkpointed = FrameATST(embed_dim=64, depth=2, num_heads=2, activation_checkpointing=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    outs = []
    for model in (plain, checkpointed):
        out = model(feats)
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        outs.append(out.detach())
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-6)
    for (name, p), (_, q) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        if p.grad is None:
            assert q.grad is None, name
        else:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6, msg=name)
    assert small_crnn(activation_checkpointing=True).encoder.atst.activation_checkpointing


def test_drop_path_rises_over_the_blocks_and_acts_in_training_only():
    g = torch.Generator().manual_seed(3)
    feats = torch.rand(8, 64, 40, generator=g)
    plain = FrameATST(embed_dim=32, depth=3, num_heads=2)
    dropping = FrameATST(embed_dim=32, depth=3, num_heads=2, drop_path=0.5)
    dropping.load_state_dict(plain.state_dict())
    assert [b.drop_path.rate for b in dropping.blocks] == pytest.approx([0.0, 0.25, 0.5])
    with torch.no_grad():
        torch.testing.assert_close(dropping.eval()(feats), plain.eval()(feats), rtol=0, atol=0)
        first, second = dropping.train()(feats), dropping(feats)
    assert (first - second).abs().max() > 1e-3  # different samples' branches dropped in each pass


@pytest.mark.slow
def test_outputs_stay_float32_and_close_under_autocast(small_inputs):
    model = small_crnn().eval()
    sed, atst = small_inputs
    with torch.no_grad():
        ref_strong, ref_weak = model(sed[:2], atst[:2])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            strong, weak = model(sed[:2], atst[:2])
    assert strong.dtype == weak.dtype == torch.float32
    assert torch.isfinite(strong).all() and torch.isfinite(weak).all()
    torch.testing.assert_close(strong, ref_strong, rtol=0, atol=0.05)
    torch.testing.assert_close(weak, ref_weak, rtol=0, atol=0.05)


def test_importing_the_network_pulls_in_no_heavy_optional_packages():
    code = (
        "import sys, desed_task.nnet; "
        "print(sorted(m for m in ('torchaudio', 'lightning', 'pytorch_lightning', 'dcase_util', 'sed_eval', "
        "'sed_scores_eval', 'psds_eval') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, 63, 1001), r"\(B, 64, T\).*\(2, 63, 1001\)"),
        ((64, 1001), r"\(64, 1001\)"),
        ((1, 64, 1004), "251 tokens.*1 to 250"),
        ((1, 64, 3), "0 tokens"),
    ],
    ids=["mel_bins", "no_batch", "too_many_frames", "too_few_frames"],
)
def test_frameatst_rejects_wrong_feature_shapes(shape, match):
    model = FrameATST(embed_dim=16, depth=1, num_heads=2)
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(shape))


def test_frameatst_accepts_the_most_frames():
    model = FrameATST(embed_dim=16, depth=1, num_heads=2).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 64, 1003)).shape == (1, 16, 250)  # 1003 // 4 = 250; the rest is dropped


def test_wrong_network_sizes_are_reported():
    with pytest.raises(ValueError, match="nb_filters has 6 entries but net.pooling has 7"):
        small_crnn(nb_filters=(16, 32, 64, 128, 128, 128))
    with pytest.raises(ValueError, match=r"net.pooling\[2\] is \[1, 2, 2\]: give a \(time, freq\) pair"):
        small_crnn(pooling=((2, 2), (2, 2), (1, 2, 2), (1, 2), (1, 2), (1, 2), (1, 2)))
    with pytest.raises(ValueError, match="not divisible"):
        FrameATSTEncoder(embed_dim=64, depth=1, num_heads=5)
    with pytest.raises(TypeError, match="needs an encoder unit"):
        CRNN(FrameATST(embed_dim=64, depth=1, num_heads=2))  # the bare transformer is not a unit
    model = small_crnn(pooling=((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 1))).eval()
    with pytest.raises(ValueError, match="leaves 2 frequency bins"):
        model(torch.zeros(1, 128, 626), torch.zeros(1, 64, 1001))


def test_cnn_runs_channels_last_and_matches_a_plain_layer_by_layer_pass():
    from desed_task.nnet.cnn import CNN

    torch.manual_seed(0)
    cnn = CNN(nb_filters=(8, 16, 16), pooling=((2, 2), (2, 2), (1, 4))).eval()
    x = torch.randn(2, 1, 40, 16)
    with torch.no_grad():
        plain = x
        for layer in cnn.cnn:  # the nn.Sequential on contiguous tensors, as the original runs it
            plain = layer(plain.contiguous())
        out = cnn(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, plain, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "make_input",
    [
        lambda: torch.randn(2, 1, 30, 12),  # plain one-channel input
        lambda: torch.randn(2, 12, 30).transpose(1, 2).unsqueeze(1),  # the CRNN's transposed features
    ],
    ids=["contiguous", "transposed"],
)
def test_one_channel_input_gets_channels_last_strides(make_input):
    from desed_task.nnet.cnn import _channels_last

    x = make_input()
    out = _channels_last(x)
    assert out.stride() == (30 * 12, 1, 12, 1)  # what selects oneDNN's channels-last kernel for conv0
    assert torch.equal(out, x)
    multi = _channels_last(torch.randn(2, 3, 5, 4))
    assert multi.is_contiguous(memory_format=torch.channels_last)
