"""Files a run writes at the top of its experiment folder: the resolved configuration and the run's metrics."""
from __future__ import annotations

import json
from pathlib import Path

import yaml


def write_resolved_config(config: dict, folder: Path) -> None:
    """``config.yaml``: the configuration as resolved (defaults filled in, paths absolute)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def write_run_metrics(folder: Path, metrics: dict) -> None:
    """``metrics.json``: test metrics of student and teacher, energy, checkpoints, the experiment folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
