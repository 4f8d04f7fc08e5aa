"""Checkpoint loaders (docs/recipe.md §4, "Checkpoint formats"): the three pretrained-encoder layouts, stage
checkpoints through the one checkpoint-to-network path, and errors that name the file and the keys at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from desed_task.config.files import resolve_config
from desed_task.config.checkpoint import networks_from_checkpoint
from desed_task.nnet import (
    CRNN,
    CheckpointError,
    FrameATSTEncoder,
    load_pretrained_encoder,
    load_state_dict_checked,
    read_checkpoint,
    stage_state_dict,
)
from golden_weights import FRAMEATST_KEYS_TSV, read_key_table

SMALL_ATST = {"embed_dim": 32, "depth": 2, "num_heads": 2}
SMALL_CONFIG = {"encoder": {**SMALL_ATST, "random_init": True}}


def small_crnn(n_classes: int = 10) -> CRNN:
    return CRNN(FrameATSTEncoder(**SMALL_ATST), n_classes=n_classes)


def load_role(path, role: str = "teacher", classes: int = 10) -> CRNN:
    """The one checkpoint-to-network path, with a configuration that builds the small CRNN."""
    config = resolve_config({**SMALL_CONFIG, "data": {"classes": [f"c{i}" for i in range(classes)]}})
    return networks_from_checkpoint(path, config, roles=(role,)).networks[role]


JUNK = {"head.linear.weight": torch.ones(3), "lr_scheduler.step": torch.tensor(7)}


def _random_like(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else torch.full_like(v, seed))
        for k, v in state.items()
    }


def _finetuned(weights: dict) -> dict:
    return {**{f"encoder.encoder.{k}": v for k, v in weights.items()}, **JUNK}


def _self_supervised(weights: dict) -> dict:
    renamed = {("norm." + k[len("norm_frame.") :] if k.startswith("norm_frame.") else k): v for k, v in weights.items()}
    layout = {"model.teacher.encoder.cls_token": torch.zeros(1, 1, 4)}
    layout.update({f"model.teacher.encoder.{k}": v for k, v in renamed.items()})
    return {**layout, **JUNK}


def _c2f(weights: dict) -> dict:
    layout = {f"encoder.encoder.frame_encoder.{k}": v for k, v in weights.items()}
    layout.update({f"encoder.encoder.teacher_module.{k}": v + 1 for k, v in list(weights.items())[:5]})
    layout["encoder.encoder.teacher_module.extra"] = torch.zeros(2)
    return {**layout, **JUNK}


LAYOUTS = {"finetuned": _finetuned, "self_supervised": _self_supervised, "c2f": _c2f}


# ---------------------------------------------------------------------------------------------------- pretrained
def test_pure_remap_of_the_published_table_gives_exactly_its_keys():
    keys = [key for key, _, _ in read_key_table(FRAMEATST_KEYS_TSV)]
    assert "norm_frame.weight" in keys and "cls_token" not in keys
    weights = {key: torch.full((1,), float(i)) for i, key in enumerate(keys)}  # placeholders, not real shapes
    for name, layout in LAYOUTS.items():
        remapped = FrameATSTEncoder.pretrained_state_dict(layout(weights))
        assert list(remapped) == [f"atst.{k}" for k in keys], name
        assert all(remapped[f"atst.{k}"] is weights[k] for k in keys), name


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_load_pretrained_encoder_accepts_every_layout(tmp_path, layout):
    weights = _random_like(FrameATSTEncoder(**SMALL_ATST).atst.state_dict(), seed=3)
    path = tmp_path / "atst_as2M.ckpt"
    torch.save({"state_dict": LAYOUTS[layout](weights), "epoch": 4}, path)
    encoder = FrameATSTEncoder(**SMALL_ATST)
    load_pretrained_encoder(encoder, path)
    loaded = encoder.atst.state_dict()
    assert list(loaded) == list(weights)
    for key, value in weights.items():
        assert torch.equal(loaded[key], value), key


def test_load_pretrained_encoder_takes_a_bare_state_dict(tmp_path):
    weights = _random_like(FrameATSTEncoder(**SMALL_ATST).atst.state_dict(), seed=4)
    path = tmp_path / "bare.ckpt"
    torch.save(_finetuned(weights), path)
    encoder = FrameATSTEncoder(**SMALL_ATST)
    load_pretrained_encoder(encoder, path)
    assert torch.equal(encoder.atst.pos_embed, weights["pos_embed"])


def test_pretrained_without_encoder_keys_names_the_file_and_the_source(tmp_path):
    path = tmp_path / "not_atst.ckpt"
    torch.save({"state_dict": {"sed_student.cnn.cnn.conv0.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained_encoder(FrameATSTEncoder(**SMALL_ATST), path)
    message = str(err.value)
    assert str(path) in message and "no frame_atst encoder weights" in message
    assert "sed_student.cnn.cnn.conv0.weight" in message and "atst_as2M.ckpt" in message


def test_pretrained_with_the_wrong_size_names_the_keys(tmp_path):
    path = tmp_path / "big.ckpt"
    big = FrameATSTEncoder(embed_dim=48, depth=2, num_heads=2).atst.state_dict()
    torch.save({"state_dict": _finetuned(big)}, path)
    with pytest.raises(CheckpointError, match=r"another shape: atst.mask_embed \(1, 1, 48\) vs model \(1, 1, 32\)"):
        load_pretrained_encoder(FrameATSTEncoder(**SMALL_ATST), path)


# ---------------------------------------------------------------------------------------------------- stage
@pytest.fixture(scope="module")
def stage_weights() -> dict[str, dict[str, torch.Tensor]]:
    state = small_crnn().state_dict()
    return {"student": _random_like(state, seed=1), "teacher": _random_like(state, seed=2)}


def _assert_loaded(net: CRNN, expected: dict[str, torch.Tensor]) -> None:
    loaded = net.state_dict()
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def _lightning(weights: dict, wrap: str = "") -> dict:
    state = {}
    for model in ("student", "teacher"):
        state.update({f"{wrap}sed_{model}.{k}": v for k, v in weights[model].items()})
    return {"state_dict": state, "hyper_parameters": {"net": {"n_classes": 10}}, "epoch": 9}


@pytest.mark.parametrize("model", ["student", "teacher"])
def test_stage_checkpoint_selects_student_or_teacher(tmp_path, stage_weights, model):
    path = tmp_path / "stage.ckpt"
    torch.save(_lightning(stage_weights), path)
    _assert_loaded(load_role(path, model), stage_weights[model])


def test_stage_checkpoint_gives_both_networks_by_default(tmp_path, stage_weights):
    path = tmp_path / "stage.ckpt"
    torch.save(_lightning(stage_weights), path)
    config = resolve_config(SMALL_CONFIG)
    loaded = networks_from_checkpoint(path, config)
    assert loaded.config is config
    for model in ("student", "teacher"):
        _assert_loaded(loaded.networks[model], stage_weights[model])


def test_stage_checkpoint_with_top_level_dicts_only(tmp_path, stage_weights):
    path = tmp_path / "top_level.ckpt"
    torch.save({"sed_student": stage_weights["student"], "sed_teacher": stage_weights["teacher"]}, path)
    for model in ("student", "teacher"):
        _assert_loaded(load_role(path, model), stage_weights[model])


@pytest.mark.parametrize("wrap", ["_orig_mod.", "module.", "module._orig_mod."])
def test_stage_state_dict_unwraps_compile_and_ddp_prefixes(stage_weights, wrap):
    outer = _lightning(stage_weights, wrap=wrap)
    inner = {"state_dict": {f"sed_student.{wrap}{k}": v for k, v in stage_weights["student"].items()}}
    top = {"sed_student": {f"{wrap}{k}": v for k, v in stage_weights["student"].items()}}
    for checkpoint in (outer, inner, top):
        weights = stage_state_dict(checkpoint, "student")
        assert list(weights) == list(stage_weights["student"])
        assert all(weights[k] is v for k, v in stage_weights["student"].items())


def test_stage_state_dict_errors(stage_weights):
    only_student = {"state_dict": {f"sed_student.{k}": v for k, v in stage_weights["student"].items()}}
    with pytest.raises(CheckpointError, match=r"no teacher weights.*'sed_teacher\.'.*sed_student\.cnn\.cnn\.conv0"):
        stage_state_dict(only_student, "teacher")
    with pytest.raises(ValueError, match="'teacher' or 'student', got 'ema'"):
        stage_state_dict(only_student, "ema")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- errors
def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match=f"checkpoint not found: .*{tmp_path.name}.*nope.ckpt"):
        read_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(CheckpointError, match="not a file"):
        load_role(tmp_path)


def _unreadable(path: Path) -> str:
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert not isinstance(err.value.__cause__, CheckpointError)
    message = str(err.value)
    assert str(path) in message and "not a readable torch checkpoint" in message
    return message


def test_truncated_text_and_unsafe_files(tmp_path, stage_weights):
    full = tmp_path / "full.ckpt"
    torch.save(_lightning(stage_weights), full)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert "truncated or damaged; download or copy it again" in _unreadable(truncated)

    for i, content in enumerate(
        ["this is not a checkpoint\n", "hello", "net:\n  n_classes: 10\n", "<!DOCTYPE html>\n<html>Not Found</html>\n"]
    ):
        text = tmp_path / f"notes{i}.ckpt"
        text.write_text(content)  # the safe unpickler fails with IndexError, KeyError, UnpicklingError
        message = _unreadable(text)
        assert f"a text file (it begins with {' '.join(content.split())[:40]!r})" in message
        assert "(101)" not in message and "weights_only" not in message
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    assert "the file is empty" in _unreadable(empty)
    binary = tmp_path / "binary.ckpt"
    binary.write_bytes(bytes(range(256)))
    assert "neither a zip archive nor a pickle" in _unreadable(binary)

    legacy = tmp_path / "legacy.ckpt"
    torch.save({"state_dict": {}}, legacy, _use_new_zipfile_serialization=False)
    legacy.write_bytes(legacy.read_bytes()[:20])
    assert "truncated or damaged" in _unreadable(legacy)

    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {}, "callback": Path("x")}, unsafe)  # needs the full unpickler: refused
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(unsafe)
    message = str(err.value)
    assert str(unsafe) in message and "PosixPath" in message and "safe loader refuses" in message
    assert "weights_only=False" in message  # what to do with a trusted file


def test_non_dict_payload(tmp_path):
    path = tmp_path / "list.ckpt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError, match=f"{path.name} holds a list, not a checkpoint dict"):
        load_pretrained_encoder(FrameATSTEncoder(**SMALL_ATST), path)


def test_wrong_keys_name_the_file_and_the_first_keys(tmp_path, stage_weights):
    student = dict(stage_weights["student"])
    dropped = list(student)[:7]
    for key in dropped:
        del student[key]
    student["dense.extra"] = torch.zeros(1)
    path = tmp_path / "wrong_keys.ckpt"
    torch.save({"state_dict": {f"sed_student.{k}": v for k, v in student.items()}}, path)
    with pytest.raises(CheckpointError) as err:
        load_role(path, "student")
    message = str(err.value)
    assert f"{path} (student) does not fit the model" in message
    assert "7 missing keys: " + ", ".join(dropped[:5]) + " (+2 more)" in message
    assert "1 unexpected keys: dense.extra" in message
    assert "net" in message  # tells what to check


def test_wrong_shapes_are_named(tmp_path, stage_weights):
    path = tmp_path / "eleven_classes.ckpt"
    bigger = _random_like(small_crnn(n_classes=11).state_dict(), seed=5)
    torch.save({"sed_teacher": bigger}, path)
    with pytest.raises(CheckpointError) as err:
        load_role(path)
    message = str(err.value)
    assert "4 keys of another shape" in message
    assert "dense.weight (11, 256) vs model (10, 256)" in message
    assert "dense_softmax.bias (11,) vs model (10,)" in message
    assert "missing" not in message and "unexpected" not in message


def test_load_state_dict_checked_leaves_the_module_untouched_on_error(stage_weights):
    net = small_crnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    partial = dict(stage_weights["student"])
    partial.pop("cat_tf.bias")
    with pytest.raises(CheckpointError, match="my source does not fit the model; 1 missing keys: cat_tf.bias"):
        load_state_dict_checked(net, partial, "my source")
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())
