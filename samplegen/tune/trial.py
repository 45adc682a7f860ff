"""One trial of ``samplegen tune``: generate with the trial's params, score on the valid split.

The rows are drawn by stage 3 (:func:`samplegen.generate.run_generate`) from the tuned run's
trained models into a scratch run, and scored by stage 4's own code path
(:func:`~samplegen.evaluate.data.load_eval_data` with ``split="valid"``,
:func:`~samplegen.evaluate.utility.slices` and :func:`~samplegen.evaluate.utility.utility_rows`
for the target recommender and cutoff only). Nothing here reads the test split.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pyspark.sql import SparkSession

from samplegen.config import Config, ConfigError
from samplegen.evaluate.data import load_eval_data
from samplegen.evaluate.rows import DIFF_VARIANT, EvalRow
from samplegen.evaluate.utility import Scorer, seeds_of, slices, utility_rows
from samplegen.generate import run_generate

#: What a trial reports after each seed of the target but the last (a deterministic target
#: has one seed, so it is never pruned): (step, running objective) -> prune?
Report = Callable[[int, float], bool]


class Pruned(Exception):
    """The trial was stopped after a seed: its running objective is hopeless."""


@dataclass
class TrialScore:
    """A trial's valid figures for the target recommender at ``evaluate.k``.

    ``objective`` / ``real_objective``: NDCG on the target slice trained on real + synthetic /
    real only (means over the target's seeds); ``diff`` their paired difference with the
    widest of the seeds' bootstrap CIs; ``all_ndcg`` / ``real_all_ndcg`` the same on every
    evaluated user, for the constraint.
    """

    objective: float
    real_objective: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    all_ndcg: float
    real_all_ndcg: float
    n_users: int

    @property
    def all_drop(self) -> float:
        """Share of the real-only NDCG on ``all`` that the augmented rows lose (< 0: a gain)."""
        if self.real_all_ndcg <= 0:
            return 0.0 if self.all_ndcg >= self.real_all_ndcg else 1.0
        return (self.real_all_ndcg - self.all_ndcg) / self.real_all_ndcg


class ValidScorer:
    """Scores trials on the valid split, fitting the real-only target once per seed.

    Trials running at once take turns here: fits of a torch target draw from torch's global
    random state, and the real-only fits are shared, so one trial scores at a time and scores
    as it would alone.
    """

    def __init__(self, spark: SparkSession, cfg: Config) -> None:
        self.spark = spark
        tune = cfg.tune
        self.target, self.slice, self.k = tune.target, tune.slice, cfg.evaluate.k
        # Stage 4's settings, narrowed to the target and the headline cutoff.
        narrowed = dataclasses.replace(cfg.evaluate, recommenders=[tune.target], ks=[self.k])
        self.cfg = dataclasses.replace(cfg, evaluate=narrowed)
        self.seeds = seeds_of(tune.target, narrowed)
        self._real: Scorer | None = None
        self._turn = threading.Lock()

    def score(self, scratch_run: str, report: Report, score_with: str | None = None) -> TrialScore:
        """Valid figures of the rows ``scratch_run`` holds; ``report`` may stop the trial.

        ``score_with`` is the trial's ``evaluate.score_with``: what the augmented model is
        given for a real user at scoring time (the real-only fits do not depend on it);
        ``None``: the config's.

        Raises:
            ConfigError: naming ``tune.slice`` when the valid users have no such slice.
            Pruned: when ``report`` says so after a seed.
        """
        with self._turn:
            return self._score(scratch_run, report, score_with)

    def _score(self, scratch_run: str, report: Report, score_with: str | None) -> TrialScore:
        """:meth:`score`, one trial at a time."""
        data = load_eval_data(self.spark, self.cfg, scratch_run, split="valid")
        where = slices(data, self.cfg.evaluate)
        if self.slice not in where:
            raise ConfigError(
                f"tune.slice {self.slice!r} is not among the valid split's slices: "
                f"{', '.join(where)}"
            )
        chosen = {name: where[name] for name in dict.fromkeys(("all", self.slice))}
        scorer = Scorer(data, self.cfg, self.spark)
        if self._real is not None:
            scorer.reuse_real(self._real)
        rows: list[EvalRow] = []
        for step, seed in enumerate(self.seeds):
            one_seed = dataclasses.replace(
                self.cfg.evaluate,
                seed=seed,
                repeats=1,
                score_with=score_with or self.cfg.evaluate.score_with,
            )
            rows += utility_rows(
                data, dataclasses.replace(self.cfg, evaluate=one_seed), self.spark, chosen, scorer
            )
            # After the last seed the trial is scored in full: nothing is left to save.
            last = step == len(self.seeds) - 1
            if not last and report(step, _mean(rows, "augmented", self.slice)):
                raise Pruned(f"pruned after seed {seed}")
        self._real = self._real or scorer
        diffs = [r for r in rows if r.variant == DIFF_VARIANT and r.slice == self.slice]
        ndcg = [r for r in diffs if r.metric == "ndcg"]
        if not ndcg:
            raise ValueError(f"no valid user of slice {self.slice!r} has a target item")
        return TrialScore(
            objective=_mean(rows, "augmented", self.slice),
            real_objective=_mean(rows, "real", self.slice),
            diff=float(np.mean([r.value for r in ndcg])),
            diff_ci_low=min(float(r.ci_low) for r in ndcg),
            diff_ci_high=max(float(r.ci_high) for r in ndcg),
            all_ndcg=_mean(rows, "augmented", "all"),
            real_all_ndcg=_mean(rows, "real", "all"),
            n_users=min(int(r.n_users or 0) for r in ndcg),
        )


def _mean(rows: list[EvalRow], variant: str, slice_name: str) -> float:
    """Mean NDCG over the seeds of ``variant`` on ``slice_name``."""
    values = [
        r.value
        for r in rows
        if r.variant == variant and r.slice == slice_name and r.metric == "ndcg"
    ]
    return float(np.mean(values)) if values else float("nan")


def generate_trial(spark: SparkSession, cfg: Config, scratch_run: str, model_run: str) -> None:
    """Stage 3 with the trial's config: its rows replace ``scratch_run``'s earlier ones."""
    run_generate(spark, cfg, scratch_run, model_run=model_run)
