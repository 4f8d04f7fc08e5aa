"""The end-to-end demo on a CPU: synthetic DESED-format data → stage 1 → stage 2 → test table → tuned decoding.

    python scripts/demo.py --out demo_out

Generates the `demo` synthetic dataset (once), trains stage 1 (confs/demo_stage1.yaml), trains stage 2 from
stage 1's best checkpoint (confs/demo_stage2.yaml), tests both and prints PSDS1/PSDS2/F1 for student and teacher.
Then it tunes class-wise median windows and cSEBB (when the optional sebbs package is installed) on the stage-2
teacher's synthetic-validation scores and prints the teacher's test PSDS with the recipe's decoding and with each
tuned one.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from desed_task.command_parser import CommandParser

ROOT = Path(__file__).resolve().parents[1]
SHOWN = (
    "psds1_sed_scores_eval",
    "psds2_sed_scores_eval",
    "psds1_psds_eval",
    "event_f1_macro",
    "segment_f1_macro",
    "intersection_f1_macro",
)


def main() -> None:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_out", help="folder for the experiments (stage1/, stage2/)")
    parser.add_argument("--data", default=None, help="synthetic dataset folder (default: OUT/synthetic_demo)")
    parser.add_argument("--preset", default="demo", choices=("tiny", "demo"), help="synthetic dataset size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic dataset")
    args = parser.parse_args()

    from desed_task.data import make_synthetic_desed
    from desed_task.config.files import load_config
    from desed_task.experiment.pipeline import run_experiment
    from desed_task.experiment.metrics_table import format_metrics_table

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    out = Path(args.out).resolve()
    data = Path(args.data).resolve() if args.data else out / f"synthetic_{args.preset}"
    if not (data / "metadata").is_dir():
        print(f"generating the synthetic '{args.preset}' dataset in {data}")
        make_synthetic_desed(data, preset=args.preset, seed=args.seed)
    timings = {"data_s": time.perf_counter() - start}

    results = {}
    best = None
    for stage in (1, 2):
        overrides = {"data.root": str(data)}
        if stage == 2:
            overrides["training.init_checkpoint"] = best
        config = load_config(ROOT / "confs" / f"demo_stage{stage}.yaml", overrides)
        t0 = time.perf_counter()
        print(f"\n=== stage {stage} ===")
        metrics = run_experiment(config, log_dir=out / f"stage{stage}", devices=("cpu", 1))
        timings[f"stage{stage}_s"] = time.perf_counter() - t0
        best = metrics["best_checkpoint"] or metrics["last_checkpoint"]
        results[f"stage{stage}"] = metrics
    t0 = time.perf_counter()
    decodings, tuning_s = compare_decodings(config, best, results["stage2"], out)
    timings["postprocess_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - start

    print()
    for stage, metrics in results.items():
        shown = {k: v for k, v in metrics.items() if k.partition("/")[2] in SHOWN}
        print(format_metrics_table(shown, title=f"{stage} (synthetic test set)"))
        print()
    print("stage-2 teacher on the synthetic test set, by decoding (tuned on the synthetic validation set):")
    for name, row in decodings.items():
        tuned = f"  (tuning {tuning_s[name]:.0f} s)" if name in tuning_s else ""
        print(f"  {name:<22} PSDS1 {row['psds1']:.3f}  PSDS2 {row['psds2']:.3f}{tuned}")
    print("times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    summary = {"metrics": results, "decodings": decodings, "tuning_s": tuning_s, "timings": timings}
    from desed_task.output_files import write_text

    write_text(out / "summary.json", json.dumps(summary, indent=2), "the demo's summary")
    print(f"summary: {out / 'summary.json'}")


def compare_decodings(config: dict, checkpoint: str, stage2: dict, out: Path) -> tuple[dict, dict]:
    """PSDS of the stage-2 teacher's test scores with the recipe's median windows, tuned median windows and
    tuned cSEBB; both tuned on the teacher's synthetic-validation scores of the same checkpoint."""
    import importlib.util

    from desed_task.evaluation import psds_sed_scores_eval
    from desed_task.evaluation.folders import read_score_folder
    from desed_task.experiment.pipeline import run_experiment
    from desed_task.postprocess import postprocess_scores, tune_csebb, tune_median, write_params

    validated = run_experiment(config, log_dir=out / "stage2_validation", devices=("cpu", 1), validate_from=checkpoint)
    val = Path(validated["experiment_dir"]) / "validation" / "teacher" / "synth_val"
    val_scores = read_score_folder(val / "scores" / "raw")
    test_dir = Path(stage2["experiment_dir"]) / "test" / "teacher"
    test_scores = read_score_folder(test_dir / "scores" / "raw")
    data = config["data"]
    tuners = {"tuned median": tune_median}
    if importlib.util.find_spec("sebbs") is not None:
        tuners["cSEBB"] = tune_csebb
    rows = {
        "recipe median windows": {
            "psds1": stage2["teacher/psds1_sed_scores_eval"],
            "psds2": stage2["teacher/psds2_sed_scores_eval"],
        }
    }
    tuning_s = {}
    for name, tune in tuners.items():
        t0 = time.perf_counter()
        params = tune(val_scores, val / "ground_truth.tsv", val / "durations.tsv")
        tuning_s[name] = time.perf_counter() - t0
        write_params(out / f"postprocess_{params.method}.json", params)
        rows[name] = psds_sed_scores_eval(postprocess_scores(test_scores, params), data["test_tsv"], data["test_dur"])
    if "cSEBB" not in tuners:
        print("cSEBB skipped: install the optional sebbs package (pip install --no-deps 'sebbs==1.0.2')")
    return rows, tuning_s


if __name__ == "__main__":
    main()
