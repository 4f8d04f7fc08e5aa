import warnings
from pathlib import Path

import pytest
import yaml

from desed_task.config.files import ConfigError, defaults, load_config, resolve_config
from desed_task.config.renamed_keys import RENAMED_KEYS, RENAMED_SECTIONS, RenamedKeyWarning
from desed_task.experiment.run import build_parser, check_gpus_visible, parse_devices

CONFS = Path(__file__).parents[1] / "confs"


SHIPPED = sorted(p.name for p in CONFS.glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_are_valid(name):
    config = load_config(CONFS / name)
    assert config["training"]["stage"] == (2 if "stage2" in name else 1)
    assert Path(config["data"]["synth_tsv"]).is_absolute()


@pytest.mark.parametrize(
    "name,batch,accumulate",
    [
        ("stage2_bs4.yaml", [4, 4, 8, 8], 1),
        ("stage2_bs4_accm6.yaml", [4, 4, 8, 8], 6),
        ("stage2_bs12_accm2.yaml", [12, 12, 24, 24], 2),
        ("stage2_bs24.yaml", [24, 24, 48, 48], 1),
    ],
)
def test_batch_size_ablation_configs(name, batch, accumulate):
    """The README's batch-size ablation rows: only batch size and accumulation differ from the recipe."""
    config, recipe = load_config(CONFS / name), load_config(CONFS / "stage2.yaml")
    training = config["training"]
    assert (training["batch_size"], training["accumulate_batches"]) == (batch, accumulate)
    assert (training["n_epochs"], training["n_epochs_warmup"]) == (250, 10)
    differing = {k for k in training if training[k] != recipe["training"][k]}
    assert differing <= {"batch_size", "accumulate_batches"}
    assert {s: config[s] for s in config if s != "training"} == {s: recipe[s] for s in recipe if s != "training"}
    assert name in SHIPPED


def test_paper_values():
    s1, s2 = load_config(CONFS / "stage1.yaml"), load_config(CONFS / "stage2.yaml")
    assert s1["training"]["batch_size"] == [12, 12, 24, 48]
    assert s2["training"]["batch_size"] == [24, 24, 48, 48]
    t1, t2 = s1["training"], s2["training"]
    assert (t1["n_epochs"], t1["n_epochs_warmup"], t1["consistency_weight_max"]) == (200, 50, 2)
    assert (t2["n_epochs"], t2["n_epochs_warmup"], t2["consistency_weight_max"]) == (250, 10, 70)
    assert s1["training"]["ema_warmup"] and not s2["training"]["ema_warmup"]
    assert s2["training"]["median_window"] == [6, 20, 7, 4, 7, 6, 6, 6, 6, 6]
    assert s1["opt"]["encoder_trainable_layers"] == 0 and s2["opt"]["encoder_trainable_layers"] == 14
    assert (s2["opt"]["cnn_lr"], s2["opt"]["rnn_lr"], s2["opt"]["encoder_lr"], s2["opt"]["encoder_lr_scale"]) == (
        2e-4,
        2e-3,
        2e-4,
        0.5,
    )
    assert s2["opt"]["cosine"] and not s1["opt"]["cosine"]
    assert (s1["encoder"]["embed_dim"], s1["encoder"]["depth"], s1["encoder"]["num_heads"]) == (768, 12, 12)
    assert (s1["training"]["objective"], s2["training"]["objective"]) == ("val_loss", "synth_psds")
    for config in (s1, s2):
        training, opt, net = config["training"], config["opt"], config["net"]
        assert (training["mixup_prob"], training["mixup_alpha"], training["weak_split"], training["seed"]) == (
            0.5,
            0.2,
            0.9,
            42,
        )
        assert (training["validation_interval"], training["early_stop_patience"], training["save_top_k"]) == (
            10,
            200,
            5,
        )
        assert training["ema_factor"] == 0.999 and opt["betas"] == [0.9, 0.999]
        assert (net["cnn_dropout"], net["dropout"]) == (0.5, 0.5)
    assert (s1["opt"]["rnn_lr"], s1["opt"]["cnn_lr"], s1["training"]["median_window"]) == (1e-3, 1e-3, 7)
    assert (s1["training"]["freq_warp_prob"], s2["training"]["freq_warp_prob"]) == (0.0, 0.5)
    assert s2["opt"]["min_lr_scale"] == 0.1


@pytest.mark.parametrize("name", ["stage1.yaml", "stage2.yaml"])
def test_recipe_configs_build_the_golden_tested_frontends_and_network(name):
    """The golden tests use the classes' defaults; a typo in a recipe YAML would escape them without this."""
    import torch

    from desed_task.experiment.builders import build_network, build_sed_frontend
    from desed_task.features import SEDFrontend
    from desed_task.nnet import CRNN, FrameATSTEncoder
    from desed_task.nnet.encoders import ATSTFrontend

    config = load_config(CONFS / name)
    network = build_network(config, load_encoder=False)
    audio = torch.randn(2, 16000)
    assert torch.equal(build_sed_frontend(config)(audio), SEDFrontend()(audio))
    assert torch.equal(network.encoder.frontend(audio), ATSTFrontend()(audio))
    built = network.state_dict()
    default = CRNN(FrameATSTEncoder()).state_dict()
    assert [(k, v.shape) for k, v in built.items()] == [(k, v.shape) for k, v in default.items()]


def test_unknown_key_is_named_with_the_closest_known_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"training": {"n_epoch": 3}}))
    with pytest.raises(ConfigError, match=r"training\.n_epoch'\. Did you mean 'training\.n_epochs'\?"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"unknown key 'encoder\.frontend\.topdb'. Did you mean"):
        resolve_config({"encoder": {"frontend": {"topdb": 70}}})
    with pytest.raises(ConfigError, match=r"encoder\.name: .*unknown encoder 'beats'.*frame_atst"):
        resolve_config({"encoder": {"name": "beats"}})


def test_base_file_and_relative_paths(tmp_path):
    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump({"data": {"root": "d", "synth_tsv": "m/s.tsv"}, "training": {"n_epochs": 5}})
    )
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "training": {"n_epochs": 7}}))
    config = load_config(tmp_path / "child.yaml", {"training.seed": 3})
    assert config["training"]["n_epochs"] == 7 and config["training"]["seed"] == 3
    assert config["data"]["synth_tsv"] == str(tmp_path / "d" / "m" / "s.tsv")


def test_bad_values_are_explained():
    with pytest.raises(ConfigError, match="batch_size"):
        resolve_config({"training": {"batch_size": [1, 2, 3]}})
    with pytest.raises(ConfigError, match="median_window"):
        resolve_config({"training": {"median_window": [1, 2]}})
    with pytest.raises(ConfigError, match="on_missing"):
        resolve_config({"data": {"on_missing": "ignore"}})
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="training.accumulate_batches must be (a positive integer|an integer)"):
            resolve_config({"training": {"accumulate_batches": bad}})


@pytest.mark.parametrize(
    "section,key,value,expected",
    [
        ("training", "n_epochs", "one", "training.n_epochs must be an integer, got 'one'"),
        ("training", "n_epochs", 0, "training.n_epochs must be a positive integer"),
        ("training", "ema_factor", 1.5, "training.ema_factor must be a number in \\[0, 1\\]"),
        ("training", "ema_warmup", "yes", "training.ema_warmup must be true or false"),
        ("training", "objective", "psds", "training.objective must be one of val_loss, synth_psds"),
        ("training", "precision", "fp32", "training.precision must be one of"),
        ("training", "batch_size", [2, 2, 0, 2], "training.batch_size must be 4 positive integers"),
        ("opt", "betas", [0.9], "opt.betas must be two numbers"),
        ("opt", "cnn_lr", "1e-3", "opt.cnn_lr must be a number"),
        ("data", "fs", 16000.5, "data.fs must be an integer"),
        ("data", "test_tsv", 3, "data.test_tsv must be a path"),
        ("net", "pooling", [[2, 2], [1]], "net.pooling must be a list of \\[time, freq\\] pairs"),
        ("net", "n_rnn_cell", 0, "net.n_rnn_cell must be a positive integer"),
        ("net", "padding", -1, "net.padding must be a non-negative integer"),
        ("net", "frontend", {"hop_length": 0}, "net.frontend.hop_length must be a positive integer"),
        (
            "net",
            "frontend",
            {"win_length": 4096},
            "net.frontend.win_length \\(4096\\) must not exceed net.frontend.n_fft \\(2048\\)",
        ),
        (
            "net",
            "frontend",
            {"f_max": 9000},
            "net.frontend.f_min \\(0.0\\) and f_max \\(9000\\) must satisfy f_min < f_max <= data.fs / 2",
        ),
        ("encoder", "depth", 0, "encoder.depth must be a positive number of blocks"),
        ("encoder", "frontend", {"top_db_scope": "file"}, "encoder.frontend.top_db_scope must be one of batch, clip"),
        ("encoder", "frontend", {"f_min": 8000}, "encoder.frontend.f_min \\(8000\\) and f_max"),
        ("training", "seed", -1, "training.seed must be an integer in \\[0, 2\\^32\\)"),
        ("training", "weak_split", 1.5, "training.weak_split must be a fraction in \\(0, 1\\]"),
        ("data", "on_sample_rate", "ignore", "data.on_sample_rate must be one of resample, error"),
        ("opt", "encoder_trainable_layers", 15, "opt.encoder_trainable_layers must be at most 14"),
    ],
)
def test_types_and_ranges_are_checked_at_load(section, key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve_config({section: {key: value}})
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/config.yaml")


@pytest.mark.parametrize("depth,layers", [(12, 14), (4, 6), (1, 3)])
def test_stage2_trains_all_encoder_layer_groups_whatever_the_depth(depth, layers):
    """confs/stage2.yaml's ``all`` is every layer group of the encoder as configured, not ViT-Base's 14."""
    config = load_config(CONFS / "stage2.yaml", {"encoder.depth": depth})
    assert config["opt"]["encoder_trainable_layers"] == layers

    from desed_task.experiment.builders import build_network

    if depth < 12:  # a ViT-Base is too slow to build here; its count is the golden-tested recipe's 14
        encoder = build_network(config, load_encoder=False).encoder
        assert len(encoder.layer_groups()) == layers
        encoder.set_trainable_groups(config["opt"]["encoder_trainable_layers"])
        assert all(p.requires_grad for p in encoder.parameters())


@pytest.mark.parametrize("value", ["most", -1, 1.5])
def test_trainable_layers_other_than_all_or_a_count_are_refused(value):
    with pytest.raises(ConfigError, match=r"opt\.encoder_trainable_layers must be"):
        resolve_config({"opt": {"encoder_trainable_layers": value}})


def test_defaults_are_not_mutated():
    config = resolve_config({"data": {"classes": ["a", "b"]}})
    config["net"]["nb_filters"].append(1)
    assert defaults()["net"]["nb_filters"] == [16, 32, 64, 128, 128, 128, 128]


@pytest.mark.parametrize(
    "text,expected",
    [("0,", ("gpu", [0])), ("0,1", ("gpu", [0, 1])), ("", ("cpu", 1)), ("cpu", ("cpu", 1)), (None, ("cpu", 1))],
)
def test_parse_devices(text, expected):
    assert parse_devices(text) == expected


def test_parse_devices_rejects_garbage():
    with pytest.raises(ConfigError):
        parse_devices("first")


def test_gpus_that_torch_does_not_see_are_reported_with_what_to_pass():
    with pytest.raises(ConfigError, match="torch sees none.*--gpus cpu"):
        check_gpus_visible([0], visible=0)
    with pytest.raises(ConfigError, match=r"GPU\(s\) \[2\] but torch sees 2"):
        check_gpus_visible([0, 2], visible=2)
    check_gpus_visible([0, 1], visible=2)


def test_training_script_without_a_gpu_stops_with_a_message(tmp_path, monkeypatch, capsys):
    from desed_task.experiment.run import main

    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    with pytest.raises(SystemExit) as stop:
        main(1, ["--log_dir", str(tmp_path)], default_conf=CONFS / "stage1.yaml")
    assert stop.value.code == 2 and "pass --gpus cpu" in capsys.readouterr().err


def test_any_key_can_be_set_on_the_command_line(tmp_path):
    from desed_task.experiment.run import _overrides

    args = build_parser(2, CONFS / "stage2.yaml").parse_args(
        [
            "--set",
            "training.n_epochs=10",
            "--set",
            "training.batch_size=[4, 4, 8, 8]",
            "--set",
            "encoder.frontend.top_db=null",
            "--set",
            "training.precision=bf16-mixed",
            "--set",
            "opt.encoder_lr=1e-3",
            "--set",
            "training.n_epochs=11",
            "--set",
            "opt.cnn_lr=2e-4",
            "--lr",
            "5e-4",
        ]
    )
    config = load_config(CONFS / "stage2.yaml", _overrides(args, 2), overrides_from="--set")
    training = config["training"]
    assert (training["n_epochs"], training["batch_size"], training["precision"]) == (11, [4, 4, 8, 8], "bf16-mixed")
    assert config["encoder"]["frontend"]["top_db"] is None
    assert config["opt"]["encoder_lr"] == 5e-4  # the named flag is applied after --set
    assert config["opt"]["cnn_lr"] == 2e-4  # a number, though PyYAML reads 2e-4 in a file as a string
    assert training["stage"] == 2 and load_config(CONFS / "stage2.yaml")["training"]["n_epochs"] == 250


def test_stage2_parser_has_original_overrides():
    args = build_parser(2, CONFS / "stage2.yaml").parse_args(["--lr", "1e-4", "--ema", "0.99", "--warmup", "3"])
    assert (args.lr, args.ema, args.warmup) == (1e-4, 0.99, 3)
    with pytest.raises(SystemExit):
        build_parser(1, CONFS / "stage1.yaml").parse_args(["--lr", "1e-4"])


def _nested(dotted: str, value) -> dict:
    *sections, key = dotted.split(".")
    for section in reversed(sections):
        value, key = {key: value}, section
    return {key: value}


def _at(config: dict, dotted: str):
    for part in dotted.split("."):
        config = config[part]
    return config


_RENAMED_VALUES = {
    "layers": 3,
    "init_checkpoint": "/ckpt/stage1.ckpt",
    "hop_length": 320,
    "embed_dim": 384,
    "depth": 6,
    "num_heads": 6,
    "random_init": True,
    "init": "/ckpt/atst.ckpt",
    "checkpointing": True,
}
_RENAMED = sorted(RENAMED_KEYS.items()) + [
    (f"{old}.hop_length", f"{new}.hop_length") for old, new in sorted(RENAMED_SECTIONS.items())
]


@pytest.mark.parametrize("old,new", _RENAMED)
def test_a_key_under_its_earlier_name_is_read_as_the_current_one_with_one_warning(old, new, tmp_path):
    value = next((v for end, v in _RENAMED_VALUES.items() if new.endswith(end)), 0.25)
    section = old.split(".")[0]
    path = tmp_path / "earlier.yaml"
    path.write_text(yaml.safe_dump({"base": str(CONFS / "stage2.yaml"), **_nested(old, value)}))
    with pytest.warns(RenamedKeyWarning) as record:
        config = load_config(path)
    assert _at(config, new) == value and old.split(".")[-1] not in config.get(section, {})
    assert [str(w.message).count(f"'{old}' is now called '{new}'") for w in record] == [1]
    with pytest.warns(RenamedKeyWarning, match=f"'{old}' is now called '{new}'"):
        assert _at(resolve_config(_nested(old, value)), new) == value  # a checkpoint's stored one
    with pytest.warns(RenamedKeyWarning, match=f"--set {old}: '{old}' is now called '{new}'"):
        assert _at(load_config(CONFS / "stage2.yaml", {old: value}, "--set"), new) == value


def test_a_moved_section_leaves_no_earlier_section():
    with pytest.warns(RenamedKeyWarning):
        config = resolve_config({"feats": {"n_mels": 64}, "ultra": {"model_init": "/ckpt/stage1.ckpt"}})
    assert "feats" not in config and "ultra" not in config
    assert config["net"]["frontend"]["n_mels"] == 64 and "frontend" in config["net"]


def test_a_key_under_both_names_must_agree():
    with pytest.warns(RenamedKeyWarning):
        assert resolve_config({"opt": {"tfm_lr": 1e-3, "encoder_lr": 1e-3}})["opt"]["encoder_lr"] == 1e-3
    with pytest.raises(
        ConfigError,
        match=r"'opt.tfm_lr' \(0.001\) is the earlier name of 'opt.encoder_lr' "
        r"\(0.002\): keep 'opt.encoder_lr' only",
    ):
        resolve_config({"opt": {"tfm_lr": 1e-3, "encoder_lr": 2e-3}})


def test_shipped_configurations_use_the_current_names():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RenamedKeyWarning)
        for name in SHIPPED:
            load_config(CONFS / name)
