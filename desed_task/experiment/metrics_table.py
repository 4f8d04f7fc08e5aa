"""Plain-text tables of test metrics for the terminal."""

from __future__ import annotations

MODEL_ORDER = ("student", "teacher")


def format_metrics_table(metrics: dict[str, float], title: str | None = None) -> str:
    """Rows = metrics, columns = models, from keys of the form ``<model>/<metric>``."""
    models = [m for m in MODEL_ORDER if any(k.startswith(f"{m}/") for k in metrics)]
    names: list[str] = []
    for key in metrics:
        model, _, name = key.partition("/")
        if model in models and name not in names:
            names.append(name)
    width = max([len(n) for n in names] + [6])
    lines = [title] if title else []
    lines.append(f"{'metric':<{width}}  " + "  ".join(f"{m:>8}" for m in models))
    lines.append("-" * len(lines[-1]))
    for name in names:
        cells = []
        for model in models:
            value = metrics.get(f"{model}/{name}")
            cells.append(f"{value:8.3f}" if isinstance(value, (int, float)) else f"{'-':>8}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
