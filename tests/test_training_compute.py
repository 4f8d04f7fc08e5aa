"""Options that change how the training's arithmetic runs, not what it computes: the float32 matmul precision of a
run (restored after it), ``torch.compile`` of the networks (same losses, unwrapped state_dict keys) and Adam's
implementation (same updates)."""

from __future__ import annotations

import shutil

import pytest
import torch

from desed_task.config.files import ConfigError, resolve_config
from desed_task.training.compute import float32_matmul_precision
from desed_task.training.optimizer import ADAM_IMPLS, adam


def test_defaults_are_the_recipes_behaviour():
    training = resolve_config({})["training"]
    assert training["matmul_precision"] == "highest"
    assert training["compile"] is False
    assert training["adam_impl"] == "auto"


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("matmul_precision", "medium", "training.matmul_precision must be one of highest, high, got 'medium'"),
        ("compile", "yes", "training.compile must be true or false"),
        ("adam_impl", "apex", "training.adam_impl must be one of auto, for_loop, foreach, fused, got 'apex'"),
    ],
)
def test_bad_values_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve_config({"training": {key: value}})


def test_matmul_precision_is_set_for_the_block_and_restored_after_it():
    before = torch.get_float32_matmul_precision()
    with float32_matmul_precision("high"):
        assert torch.get_float32_matmul_precision() == "high"
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(RuntimeError, match="inside"), float32_matmul_precision("high"):
        raise RuntimeError("inside")
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError, match="highest, high"), float32_matmul_precision("medium"):
        pass


def _updates(impl: str, steps: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    params = [
        torch.randn(5, 4, generator=generator).requires_grad_(),
        torch.randn(7, generator=generator).requires_grad_(),
        torch.randn(3, 3, generator=generator).requires_grad_(),
    ]
    groups = [{"params": params[:2], "lr": 1e-2}, {"params": params[2:], "lr": 2e-3}]  # two learning rates
    optimizer = adam(groups, betas=(0.9, 0.999), impl=impl)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("impl", [i for i in ADAM_IMPLS if i != "auto"])
def test_every_adam_implementation_makes_the_same_updates(impl):
    expected = _updates("auto")
    start = _updates("auto", steps=0)
    assert all(not torch.equal(a, b) for a, b in zip(expected, start))  # the steps moved every parameter
    for got, want in zip(_updates(impl), expected):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_the_task_builds_its_adam_with_the_configured_implementation():
    from desed_task.experiment.builders import build_network, build_task
    from tools.stage2_step import TINY_NETWORK, stage2_config

    config = stage2_config((1, 1, 1, 1), overrides={**TINY_NETWORK, "training.adam_impl": "foreach"})
    task = build_task(config, "unused", build_network(config))
    optimizer = task.configure_optimizers()["optimizer"]
    assert isinstance(optimizer, torch.optim.Adam)
    assert all(group["foreach"] is True and not group["fused"] for group in optimizer.param_groups)


def _three_losses(compile_networks: bool) -> tuple[list[float], dict]:
    """Losses of three stage-2 training steps of a tiny network (Lightning Trainer, CPU) and the task."""
    import lightning.pytorch as pl

    from desed_task.experiment.builders import build_label_encoder, build_network, build_task
    from tools.stage2_step import TINY_NETWORK, _Repeat, _same, stage2_config, synthetic_batch

    class Losses(pl.Callback):
        def __init__(self) -> None:
            self.values: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.values.append(float(outputs["loss"]))

    config = stage2_config((1, 1, 1, 1), overrides={**TINY_NETWORK, "training.compile": compile_networks})
    pl.seed_everything(0, verbose=False)
    encoder = build_label_encoder(config)
    batch = synthetic_batch((1, 1, 1, 1), encoder.n_classes, encoder.n_frames)
    loader = torch.utils.data.DataLoader(_Repeat(batch, 3), batch_size=None, collate_fn=_same)
    task = build_task(config, "unused", build_network(config))
    losses = Losses()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[losses],
    )
    trainer.fit(task, train_dataloaders=loader)
    return losses.values, task


def _compile_unavailable(backend: str) -> str | None:
    if backend == "inductor" and shutil.which("cc") is None and shutil.which("gcc") is None:
        return "torch.compile's inductor on a CPU needs a C compiler (cc), and there is none"
    try:
        torch.compile(lambda x: x * 2, backend=backend)(torch.ones(2))
    except Exception as err:  # noqa: BLE001 - any backend failure means: cannot test compile on this host
        return f"torch.compile (backend {backend}) does not run here: {type(err).__name__}: {err}"
    return None


# aot_eager traces the networks as inductor does (dynamo graphs, AOT autograd's joint forward and backward) and
# runs them with eager kernels (no code generation); inductor (training.compile's backend) also generates and
# compiles C++ kernels (minutes on a small shared CPU).
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_networks_give_the_eager_losses_and_keep_their_state_dict_keys(backend, monkeypatch):
    from desed_task.training import module

    reason = _compile_unavailable(backend)
    if reason:
        pytest.skip(reason)
    eager, eager_task = _three_losses(False)
    monkeypatch.setattr(
        module, "compile_in_place", lambda *networks: [network.compile(backend=backend) for network in networks]
    )
    compiled, task = _three_losses(True)
    assert task.sed_student._compiled_call_impl is not None and task.sed_teacher._compiled_call_impl is not None
    assert eager_task.sed_student._compiled_call_impl is None
    assert len(compiled) == 3 and len(set(compiled)) > 1  # three real steps, the losses moved
    torch.testing.assert_close(torch.tensor(compiled), torch.tensor(eager), rtol=1e-4, atol=1e-5)
    keys = list(task.state_dict())
    assert keys == list(eager_task.state_dict()) and not any("_orig_mod" in key for key in keys)
    assert list(task.sed_student.state_dict()) == list(eager_task.sed_student.state_dict())
