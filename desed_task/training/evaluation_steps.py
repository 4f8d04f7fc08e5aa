"""Validation and test steps of the training task: scores of student and teacher, gathered from every process,
then losses, PSDS and the test outputs (docs/recipe.md §6).

A mixin of ``SEDTask``: it relies on the task's ``sed_student``, ``sed_teacher``, ``features``, ``options``,
``references``, ``label_encoder``, ``output_dir``, ``postprocess``, ``validation_scores_dir`` and
``validation_objective``. PSDS and the test outputs are computed with ``scoring_pool`` (``evaluation.pool``:
worker processes, or this one), every validation PSDS submitted before any is waited for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from desed_task.data.folder import DataError
from desed_task.data.tables import events_by_clip
from desed_task.evaluation import (
    median_filter_scores,
    score_dataframes,
    weak_f1_macro,
    write_scores_only,
    write_test_outputs,
)
from desed_task.evaluation.pool import Job, ScoringPool, default_scoring_workers
from desed_task.evaluation.psds_shards import PendingPSDS, submit_psds_sed_scores_eval
from desed_task.postprocess import postprocess_scores
from desed_task.training.batch import BatchParts
from desed_task.training.losses import bce
from desed_task.training.epoch_means import EpochMeans
from desed_task.training.options import EvaluationReference
from desed_task.training.score_buffer import ScoreBuffer

MODELS = ("student", "teacher")
SCORED_SUBSETS = ("synth_val", "strong_val")


def weak_targets_of(labels: torch.Tensor) -> torch.Tensor:
    """Clip labels (B, C): a class is present when any frame is active (weak clips use frame 0)."""
    return (labels > 0).any(dim=-1).to(labels.dtype)


def check_scorable(subset: str, clip_ids: list[str], reference: EvaluationReference) -> None:
    """Refuse to score a validation subset whose scored clips hold no event.

    PSDS would be 0.0 without a word, and the checkpoint objective (stage 2: the teacher's synthetic-validation
    PSDS) would then compare zeros and keep an arbitrary epoch. The datasets refuse a table without events when
    they are built; this catches a validation that scored only event-less clips (e.g. ``limit_val_batches``).
    """
    events = events_by_clip(reference.ground_truth)
    if not any(events.get(clip) for clip in clip_ids):
        raise DataError(
            f"validation subset {subset!r}: none of its {len(clip_ids)} scored clips has a ground-truth event, so "
            f"PSDS has nothing to score (it would be 0.0 and mislead the checkpoint choice); validate on clips "
            f"with events (data.{subset}_tsv, and all validation batches)"
        )


class EvaluationSteps:
    """Validation and test hooks of the training task (see the module docstring)."""

    def _init_buffers(self) -> None:
        self._val = {m: ScoreBuffer() for m in MODELS}
        self._test = {m: ScoreBuffer() for m in MODELS}
        self._val_losses = EpochMeans()
        self.test_metrics: dict[str, float] = {}
        workers = self.options.scoring_workers
        self.scoring_pool = ScoringPool(default_scoring_workers(0) if workers is None else workers)

    def teardown(self, stage: str) -> None:
        """The scoring workers stop at the end of fit, validate and test (the next scoring starts new ones)."""
        self.scoring_pool.shutdown()

    def _predict_batch(self, batch: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        audio = batch["audio"]
        features = self.sed_model("student").features(audio)
        return {model: self.sed_model(model)(features) for model in MODELS}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        parts = BatchParts.from_subsets(batch["subsets"], device=self.device)
        labels = batch["labels"]
        weak_targets = weak_targets_of(labels)
        subsets = batch["subsets"]
        for model, (strong, weak) in self._predict_batch(batch).items():
            strong, weak = strong.float(), weak.float()
            if parts.weak.numel():
                loss = bce(weak[parts.weak], weak_targets[parts.weak]).item()
                self._val_losses.add(f"{model}/weak_loss", loss, parts.weak.numel())
            for subset in SCORED_SUBSETS:
                index = torch.tensor([i for i, s in enumerate(subsets) if s == subset], device=self.device)
                if index.numel():
                    loss = bce(strong[index], labels[index]).item()
                    self._val_losses.add(f"{model}/{subset}_strong_loss", loss, index.numel())
            self._val[model].add(batch["clip_ids"], subsets, strong, weak, weak_targets)

    def on_validation_epoch_end(self) -> None:
        metrics = {f"val/{name}": value for name, value in self._val_losses.means().items()}
        gathered = {model: self._val[model].gathered() for model in MODELS}
        pending = {model: self._validation_metrics(model, scores) for model, scores in gathered.items()}
        for model, scores in gathered.items():
            if self.validation_scores_dir is not None and self.trainer.global_rank == 0:
                self._write_validation_scores(model, scores)
            self._val[model].clear()
        self._val_losses.clear()
        for model, (values, psds) in pending.items():
            metrics.update(values)
            for subset, job in psds.items():
                result = job.result()
                metrics[f"val/{model}/{subset}_psds1"] = result["psds1"]
                metrics[f"val/{model}/{subset}_psds2"] = result["psds2"]
        metrics["val/obj_metric"] = self.validation_objective(metrics)
        self.log_dict(metrics, sync_dist=False)

    def _validation_metrics(
        self, model: str, scores: ScoreBuffer
    ) -> tuple[dict[str, float], dict[str, Job[dict[str, float]] | PendingPSDS]]:
        """The weak F1, and the PSDS of each scored subset as submitted to the scoring pool (keyed by subset)."""
        out, psds = {}, {}
        weak_part = scores.select("weak_val")
        if weak_part.clip_ids:
            out[f"val/{model}/weak_f1_macro"] = weak_f1_macro(
                np.stack(weak_part.weak), np.stack(weak_part.weak_targets)
            )
        for subset in SCORED_SUBSETS:
            part = scores.select(subset)
            reference = self.references.get(subset)
            if not part.clip_ids or reference is None:
                continue
            check_scorable(subset, part.clip_ids, reference)
            psds[subset] = submit_psds_sed_scores_eval(
                self.scoring_pool, self._score_dataframes(part), reference.ground_truth, reference.durations
            )
        return out, psds

    def _write_validation_scores(self, model: str, scores: ScoreBuffer) -> None:
        """``<dir>/<model>/<subset>/``: raw scores, and the ground truth and durations of the scored clips, the
        inputs of ``python -m desed_task.postprocess tune``."""
        for subset in SCORED_SUBSETS:
            part, reference = scores.select(subset), self.references.get(subset)
            if not part.clip_ids or reference is None:
                continue
            folder = self.validation_scores_dir / model / subset
            write_scores_only(folder, self._score_dataframes(part, postprocess=False))
            reference.ground_truth.to_csv(folder / "ground_truth.tsv", sep="\t", index=False)
            reference.durations.to_csv(folder / "durations.tsv", sep="\t", index=False)

    def _score_dataframes(self, scores: ScoreBuffer, postprocess: bool = True) -> dict[str, pd.DataFrame]:
        strong = scores.strong_array()
        if postprocess:
            strong = median_filter_scores(strong, self.options.median_window)
        labels = self.label_encoder.labels
        return score_dataframes(strong, scores.clip_ids, labels, self.label_encoder.timestamps())

    def test_step(self, batch: dict, batch_idx: int) -> None:
        weak_targets = weak_targets_of(batch["labels"])
        for model, (strong, weak) in self._predict_batch(batch).items():
            self._test[model].add(batch["clip_ids"], batch["subsets"], strong.float(), weak.float(), weak_targets)

    @property
    def _tuned_name(self) -> str:
        return f"tuned_{self.postprocess.method}"

    def _tuned_test_outputs(self, model: str, raw: dict[str, pd.DataFrame], reference) -> dict[str, float]:
        """The test outputs and metrics of the tuned post-processing, in ``<model>/tuned_<method>/``, beside the
        recipe's; metric keys ``<model>/tuned_<method>/<metric>``."""
        tuned = postprocess_scores(raw, self.postprocess, f"the {model}'s test scores")
        metrics = write_test_outputs(
            self.output_dir / model / self._tuned_name,
            raw,
            tuned,
            reference.ground_truth,
            reference.durations,
            self.label_encoder.labels,
            n_thresholds=self.options.n_test_thresholds,
            pool=self.scoring_pool,
        )
        return {f"{model}/{self._tuned_name}/{k}": v for k, v in metrics.items()}

    def on_test_epoch_end(self) -> None:
        gathered = {m: self._test[m].gathered() for m in MODELS}
        for buffer in self._test.values():
            buffer.clear()
        if self.trainer.global_rank != 0:
            return
        reference = self.references.get("test")
        results: dict[str, float] = {}
        for model, scores in gathered.items():
            folder = self.output_dir / model
            raw = self._score_dataframes(scores, postprocess=False)
            smoothed = self._score_dataframes(scores, postprocess=True)
            if reference is None:
                write_scores_only(folder, raw, smoothed)
                if self.postprocess is not None:
                    write_scores_only(folder / self._tuned_name, raw, postprocess_scores(raw, self.postprocess))
                continue
            metrics = write_test_outputs(
                folder,
                raw,
                smoothed,
                reference.ground_truth,
                reference.durations,
                self.label_encoder.labels,
                n_thresholds=self.options.n_test_thresholds,
                pool=self.scoring_pool,
            )
            results.update({f"{model}/{k}": v for k, v in metrics.items()})
            if self.postprocess is not None:
                results.update(self._tuned_test_outputs(model, raw, reference))
        self.test_metrics = results
        if results:
            self.log_dict({f"test/{k}": v for k, v in results.items()}, rank_zero_only=True)
