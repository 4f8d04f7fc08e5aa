"""The original ATST-SED code's configuration layout (a fork of the DCASE 2023 baseline), as the authors' published
checkpoints store it in ``hyper_parameters``, mapped onto this project's layout.

Only what builds the network and decodes its output is mapped: a published checkpoint is detected with as it is
(``python -m desed_task.inference --checkpoint Stage2_wo_ext.ckpt``, no ``--config``). Its training settings,
optimiser, scaler and the paths of the authors' machine are not needed and are ignored; weights always come from
the checkpoint's state dict, loaded strictly, so a size that was mapped wrongly cannot go unnoticed.

| original                                         | here                                                  |
| ------------------------------------------------ | ----------------------------------------------------- |
| ``feats.n_mels``, ``hop_length``, ``f_min``, ``f_max`` | ``net.frontend.*`` (same names)                 |
| ``feats.n_filters`` / ``feats.n_window``         | ``net.frontend.n_fft`` / ``net.frontend.win_length``  |
| ``feats.sample_rate``, ``data.fs``               | ``data.fs`` (must agree)                              |
| ``data.audio_max_len``                           | ``data.audio_max_len``                                |
| ``net.nclass``                                   | the 10 DESED classes in their default order (the original's label list is code, not configuration) |
| ``net.nb_filters``, ``pooling``, ``n_in_channel``, ``rnn_layers`` | ``net.*`` (same names)               |
| ``net.kernel_size`` / ``padding`` (one per block) | ``net.kernel_size`` / ``padding`` (one for all blocks) |
| ``net.dropout``                                  | ``net.cnn_dropout`` and ``net.dropout`` (one rate for both in the original) |
| ``net.n_RNN_cell`` / ``dropout_recurrent``       | ``net.n_rnn_cell`` / ``net.rnn_dropout``              |
| ``net.embedding_size``                           | ``encoder.embed_dim``; depth 12 and heads of 64 (the original's fixed ViT-Base) |
| ``ultra.atst_dropout``                           | ``encoder.dropout``                                   |
| ``training.median_window``                       | ``training.median_window``                            |
| ``data.net_subsample``                           | checked against ``net.pooling``'s time factors        |
| ``net.stride``, ``activation``, ``attention``, ``rnn_type``, ``embedding_type``, ``aggregation_type`` | checked: this network is stride 1, context gating, attention pooling, a bidirectional GRU, frame embeddings pooled in time |

A key the original stores nothing for takes this project's default; every value's origin is returned as a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from desed_task.data import DESED_CLASSES
from desed_task.config.files import ConfigError, set_dotted
from desed_task.nnet.crnn import time_pooling

# Keys that only the original layout has: one of them marks a configuration as the original's.
_MARKS = (
    ("feats", "n_filters"),
    ("feats", "n_window"),
    ("net", "nclass"),
    ("net", "n_RNN_cell"),
    ("net", "embedding_size"),
    ("net", "dropout_recurrent"),
)
_RENAMED = (
    ("feats", "n_mels", "net.frontend", "n_mels"),
    ("feats", "n_filters", "net.frontend", "n_fft"),
    ("feats", "n_window", "net.frontend", "win_length"),
    ("feats", "hop_length", "net.frontend", "hop_length"),
    ("feats", "f_min", "net.frontend", "f_min"),
    ("feats", "f_max", "net.frontend", "f_max"),
    ("data", "audio_max_len", "data", "audio_max_len"),
    ("net", "n_in_channel", "net", "n_in_channel"),
    ("net", "nb_filters", "net", "nb_filters"),
    ("net", "pooling", "net", "pooling"),
    ("net", "n_RNN_cell", "net", "n_rnn_cell"),
    ("net", "rnn_layers", "net", "rnn_layers"),
    ("net", "dropout_recurrent", "net", "rnn_dropout"),
    ("net", "dropout", "net", "cnn_dropout"),
    ("net", "dropout", "net", "dropout"),
    ("ultra", "atst_dropout", "encoder", "dropout"),
    ("training", "median_window", "training", "median_window"),
)
# What this network is; the original makes these choices by configuration.
_FIXED = {
    "activation": "cg",
    "attention": True,
    "rnn_type": "BGRU",
    "embedding_type": "frame",
    "aggregation_type": "pool1d",
}
_VIT_BASE_DEPTH = 12
_VIT_HEAD_WIDTH = 64  # ViT-Base: 12 heads of 64 at width 768


@dataclass
class Translation:
    """A configuration in this project's layout (to be resolved) and where each of its values came from."""

    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set(self, section: str, key: str, value: Any, note: str) -> None:
        """``section.key = value`` (``section`` may be dotted: ``net.frontend``), with where it came from."""
        set_dotted(self.config, f"{section}.{key}", value)
        self.notes.append(f"{section}.{key} = {value!r}: {note}")


def is_original_layout(hparams: Mapping[str, Any]) -> bool:
    """Whether a stored configuration is in the original code's layout (a key only that layout has)."""
    return any(isinstance(hparams.get(section), Mapping) and key in hparams[section] for section, key in _MARKS)


def _section(hparams: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = hparams.get(name)
    return value if isinstance(value, Mapping) else {}


def _one_per_block(net: Mapping[str, Any], key: str, source: str) -> Any:
    """The original gives kernel size and padding per block; this CNN one for all."""
    values = net[key]
    if not isinstance(values, list):
        return values
    if len(set(values)) != 1:
        raise ConfigError(f"{source}: net.{key} is {values}; this network takes one {key} for every block")
    return values[0]


def _check_fixed(net: Mapping[str, Any], source: str) -> None:
    for key, expected in _FIXED.items():
        if key in net and net[key] != expected:
            raise ConfigError(f"{source}: net.{key} is {net[key]!r}; this network implements only {expected!r}")
    stride = net.get("stride", 1)
    if any(s != 1 for s in (stride if isinstance(stride, list) else [stride])):
        raise ConfigError(f"{source}: net.stride is {stride}; this network's convolutions have stride 1")


def _sample_rate(hparams: Mapping[str, Any], out: Translation, source: str) -> None:
    rates = {
        f"{section}.{key}": _section(hparams, section)[key]
        for section, key in (("data", "fs"), ("feats", "sample_rate"))
        if key in _section(hparams, section)
    }
    if len(set(rates.values())) > 1:
        raise ConfigError(f"{source}: the sample rates disagree ({rates}); the network has one")
    if rates:
        out.set("data", "fs", next(iter(rates.values())), f"from {' and '.join(rates)}")


def _classes(net: Mapping[str, Any], out: Translation, source: str) -> None:
    n_classes = net.get("nclass", len(DESED_CLASSES))
    if n_classes != len(DESED_CLASSES):
        raise ConfigError(
            f"{source}: net.nclass is {n_classes} but the original stores no class names (its "
            f"label list is code); pass the configuration with your data.classes"
        )
    out.config.setdefault("data", {})["classes"] = list(DESED_CLASSES)
    out.notes.append(
        "data.classes: the default DESED list, in its order (the original stores none: its label list is code)"
    )


def _encoder(net: Mapping[str, Any], out: Translation, source: str) -> None:
    if "embedding_size" not in net:
        out.notes.append("encoder sizes: the defaults, ViT-Base (the original stores no net.embedding_size)")
        return
    width = net["embedding_size"]
    if not isinstance(width, int) or width < _VIT_HEAD_WIDTH or width % _VIT_HEAD_WIDTH:
        raise ConfigError(
            f"{source}: net.embedding_size is {width!r}; the original's ViT-Base encoder is "
            f"{_VIT_HEAD_WIDTH} wide per head"
        )
    heads = width // _VIT_HEAD_WIDTH
    out.set("encoder", "embed_dim", width, "from net.embedding_size")
    out.set("encoder", "depth", _VIT_BASE_DEPTH, "the original's ViT-Base (it stores no depth)")
    out.set(
        "encoder",
        "num_heads",
        heads,
        f"net.embedding_size / {_VIT_HEAD_WIDTH}, ViT-Base's head width (the original stores no head count)",
    )


def from_original_layout(hparams: Mapping[str, Any], source: str = "<hyper_parameters>") -> Translation:
    """This project's configuration for the network stored with ``hparams`` (the original layout), and notes.

    Pure: reads nothing, logs nothing; raises ``ConfigError`` where the original describes a network that this
    project does not implement.
    """
    out = Translation()
    net = _section(hparams, "net")
    _check_fixed(net, source)
    _sample_rate(hparams, out, source)
    _classes(net, out, source)
    for section, key, our_section, our_key in _RENAMED:
        original = _section(hparams, section)
        if key in original:
            out.set(our_section, our_key, original[key], f"from {section}.{key}")
    for key in ("kernel_size", "padding"):
        if key in net:
            out.set("net", key, _one_per_block(net, key, source), f"from net.{key} (one per block, all equal)")
    _encoder(net, out, source)
    subsample = _section(hparams, "data").get("net_subsample")
    pooling = out.config.get("net", {}).get("pooling")
    if subsample is not None and pooling is not None and time_pooling(pooling) != subsample:
        raise ConfigError(
            f"{source}: data.net_subsample is {subsample} but net.pooling's time factors give {time_pooling(pooling)}"
        )
    if "median_window" not in _section(hparams, "training"):
        out.notes.append("training.median_window: this project's default (the original stores none)")
    out.notes.append(
        "encoder front-end: this project's defaults, the original's fixed ATST features (64 mels, "
        "n_fft 1024, hop 160, 60-7800 Hz, 80 dB floor)"
    )
    others = sorted(set(hparams) - {"feats", "net", "data", "training", "ultra"})
    out.notes.append(
        "not used: the other training and ultra keys, the data paths and checkpoint paths of the "
        f"authors' machine (never read){', and ' + ', '.join(others) if others else ''}"
    )
    return out
