"""Utility: whether downstream recommenders trained on real + synthetic data beat real-only.

Every recommender is fitted on the real rows and on the augmented rows, ranks the whole
vocabulary for each evaluated user (train items masked) and is scored at every K on every
slice. A user's input at scoring time is their real row, or for the augmented variant with
``evaluate.score_with=augmented`` their augmented row (:meth:`EvalData.scored_matrix`).
Differences are paired over users with a bootstrap CI, and a row ``<metric>_p_value`` holds
the two-sided bootstrap p-value of each difference (for the Benjamini-Hochberg verdicts).
Every difference row counts in ``n_users`` the users it is computed on (users of the slice with
targets), which the verdicts compare with ``evaluate.min_users``. Stochastic recommenders (ALS,
Mult-VAE) run once per seed; each seed gets its own rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from pyspark.sql import SparkSession

from samplegen.config import Config, EvaluateConfig
from samplegen.evaluate.data import EvalData, activity_edges, augmented_matrices, scored_rows
from samplegen.evaluate.metrics import (
    RANKING_METRICS,
    bootstrap_ci,
    catalogue_coverage,
    ndcg_at_k,
    paired_bootstrap,
    paired_bootstrap_ci,
    recall_at_k,
    top_k_items,
)
from samplegen.evaluate.recommenders import Recommender, VocabularyOnly, make_recommender
from samplegen.evaluate.rows import (
    CATEGORY_PREFIX,
    DIFF_VARIANT,
    DOSE_PREFIX,
    DOSE_RATIO_METRIC,
    EvalRow,
    p_value_metric,
)
from samplegen.registry import recommender as recommender_spec
from samplegen.runinfo import LOG
from samplegen.spark import is_connect

VARIANTS = ("real", "augmented")

#: The report summary's key, and its value per ``evaluate.score_with``: what the augmented
#: variant's model is given for a real user at scoring time.
SCORED_ON = "augmented variant scores real users on"
SCORED_ON_WORDS = {
    "real": "their train items (evaluate.score_with=real: synthetic rows only train the model)",
    "augmented": (
        "their train items plus the items the run added to them (evaluate.score_with="
        "augmented: profile expansion at scoring time)"
    ),
}


@dataclass(frozen=True)
class Slice:
    """Who and what a metric is computed on.

    ``users`` masks the evaluated users; ``items`` (when set) keeps only the test items of
    that group, so e.g. ``items_tail`` asks how well tail test items are recovered. Coverage
    is reported only on user slices.
    """

    users: np.ndarray
    items: np.ndarray | None = None


def slices(data: EvalData, cfg: EvaluateConfig) -> dict[str, Slice]:
    """Everyone; activity quartiles (``cold`` = bottom); item popularity; top categories."""
    evaluated = data.evaluated
    activity = data.activity[evaluated]
    everyone = np.ones(int(evaluated.sum()), dtype=bool)
    out = {"all": Slice(everyone)}
    edges = activity_edges(data.activity)
    quartile = np.searchsorted(edges, activity, side="left")
    for q, name in enumerate(("cold", "activity_q2", "activity_q3", "activity_q4")):
        if (quartile == q).any():
            out[name] = Slice(quartile == q)
    popularity = np.count_nonzero(data.real[:, : data.n_items] > 0, axis=0)
    order = np.lexsort((np.arange(data.n_items), -popularity))
    n_head = max(1, round(cfg.head_share * data.n_items))
    n_tail = max(1, round(cfg.tail_share * data.n_items))
    groups = {
        "items_head": order[:n_head],
        "items_torso": order[n_head : data.n_items - n_tail],
        "items_tail": order[data.n_items - n_tail :],
    }
    for name, members in groups.items():
        mask = np.zeros(data.n_items, dtype=bool)
        mask[members] = True
        out[name] = Slice(everyone, mask)
    targets = np.concatenate([t for t in data.targets if len(t)] or [np.array([], np.int64)])
    codes = data.item_category[targets]
    counts = np.bincount(codes[codes >= 0], minlength=len(data.category_names))
    for code in np.argsort(-counts, kind="stable")[: cfg.top_categories]:
        if counts[code] > 0:
            mask = data.item_category[: data.n_items] == code
            out[f"{CATEGORY_PREFIX}{data.category_names[code]}"] = Slice(everyone, mask)
    return out


def _per_user(
    top: np.ndarray, targets: list[np.ndarray], k: int, where: Slice
) -> dict[str, np.ndarray]:
    """Recall@k and NDCG@k per evaluated user; NaN outside the slice or without targets."""
    if where.items is not None:
        targets = [t[where.items[t]] for t in targets]
    values = {
        "recall": recall_at_k(top[:, :k], targets, k),
        "ndcg": ndcg_at_k(top[:, :k], targets, k),
    }
    for per in values.values():
        per[~where.users] = np.nan
    return values


class Scorer:
    """Fits recommenders and ranks the evaluated users' top items, with the run's settings.

    Rankings are kept by (recommender, seed, variant), so the dose sweep reuses the real-only
    and full-dose rankings the utility rows computed instead of fitting them again.
    """

    def __init__(self, data: EvalData, cfg: Config, spark: SparkSession) -> None:
        self.data = data
        self.cfg = cfg.evaluate
        self.spark = spark
        rows = np.flatnonzero(data.evaluated)
        self.rows = rows
        self.exclude = [data.train_items[i] for i in rows]
        self.targets = [data.targets[i] for i in rows]
        self._tops: dict[tuple[str, int, str], np.ndarray] = {}
        self._models: dict[tuple[str, int, str], Recommender] = {}
        self._ahead: dict[tuple[str, int, str], Future[Recommender]] = {}
        #: Keep the real and augmented models for the item-cold slices (set when they run).
        self.keep_models = False

    def reuse_real(self, other: Scorer) -> None:
        """Take ``other``'s real-only rankings, for a scorer over the same real users.

        ``samplegen tune`` scores many augmented variants against one real-only fit; the
        real rows, evaluated users and targets must be the same (the evaluated rows checked).
        """
        if not np.array_equal(other.rows, self.rows):
            raise ValueError("reuse_real needs a scorer over the same real users")
        self._tops |= {key: top for key, top in other._tops.items() if key[2] == "real"}

    def recommender(self, name: str, seed: int) -> Recommender:
        """A new recommender ``name`` with this run's parameters and ``seed``."""
        return make_recommender(name, self.cfg, self.spark, seed)

    def top(
        self, name: str, seed: int, variant: str, training: np.ndarray, scored: np.ndarray
    ) -> np.ndarray:
        """Top ``max(ks)`` vocabulary items of each evaluated user, from a model of ``training``.

        ``variant`` names what ``training`` and ``scored`` hold; a second call with the same
        recommender, seed and variant returns the first ranking.
        """
        key = (name, seed, variant)
        if key not in self._tops:
            model = self.model(name, seed, variant, training, scored)
            scores = model.score(scored[self.rows])[:, : self.data.n_items]
            self._tops[key] = top_k_items(scores, max(self.cfg.cutoffs()), self.exclude)
        return self._tops[key]

    def model(
        self,
        name: str,
        seed: int,
        variant: str,
        training: np.ndarray,
        scored: np.ndarray | None = None,
    ) -> Recommender:
        """Recommender ``name`` fitted on ``training``.

        A ``validated`` recommender chooses its epochs on the valid targets of the real users,
        scored on their rows of ``scored`` (default: :meth:`EvalData.scored_matrix` of
        ``variant``; a dose variant without ``scored`` is not validated), as the evaluated
        users are on test.

        With :attr:`keep_models` the real and augmented models are kept: the item-cold slices
        (:mod:`samplegen.evaluate.item_cold`) score them over more columns instead of fitting
        them twice. Dose variants are never kept. The real-only model of a run with new items
        learns the vocabulary alone (:class:`VocabularyOnly`): they are empty columns in real
        rows.
        """
        key = (name, seed, variant)
        if key in self._models:
            return self._models[key]
        ahead = self._ahead.pop(key, None)
        if ahead is not None:
            model = ahead.result()
        else:
            model = self._fit(name, seed, variant, training, scored)
        if self.keep_models and variant in VARIANTS:
            self._models[key] = model
        return model

    def _fit(
        self,
        name: str,
        seed: int,
        variant: str,
        training: np.ndarray,
        scored: np.ndarray | None = None,
    ) -> Recommender:
        model = self.recommender(name, seed)
        if variant == "real" and training.shape[1] > self.data.n_items:
            model = VocabularyOnly(model, self.data.n_items)
        validate = self._validation(name, variant, scored)
        if validate is None:
            return model.fit(training)
        model.fit(training, validate)  # type: ignore[call-arg]
        fitted = model.model if isinstance(model, VocabularyOnly) else model
        LOG.info(
            "stage=evaluate %s seed=%d variant=%s epoch chosen on valid NDCG@%d: %s of %d",
            name,
            seed,
            variant,
            self.cfg.k,
            getattr(fitted, "best_epoch", None),
            len(getattr(fitted, "history", [])),
        )
        return model

    def _validation(
        self, name: str, variant: str, scored: np.ndarray | None
    ) -> Callable[[Recommender], float] | None:
        """``model -> valid NDCG@k`` for a ``validated`` recommender, else None.

        Over the real users with valid targets, ranked from their rows of ``scored`` with
        their train items masked, as :meth:`top` ranks the evaluated users on test. None
        without valid targets (``samplegen tune``'s data, whose targets are the valid split).
        """
        targets = self.data.valid_targets
        if not recommender_spec(name).validated or targets is None:
            return None
        if scored is None:
            if variant not in VARIANTS:
                return None
            scored = self.data.scored_matrix(variant, self.cfg.score_with)
        rows = np.flatnonzero([len(t) > 0 for t in targets])
        if len(rows) == 0:
            return None
        inputs = scored[rows]
        exclude = [self.data.train_items[i] for i in rows]
        wanted = [targets[i] for i in rows]
        k, n_items = self.cfg.k, self.data.n_items

        def validate(model: Recommender) -> float:
            top = top_k_items(model.score(inputs)[:, :n_items], k, exclude)
            return float(np.mean(ndcg_at_k(top, wanted, k)))

        return validate

    @contextlib.contextmanager
    def fitting_ahead(self, jobs: dict[tuple[str, int, str], np.ndarray]) -> Iterator[None]:
        """Fit the models of ``jobs`` ((recommender, seed, variant) -> training rows) on threads.

        A Spark fit (ALS) leaves the driver waiting on its jobs; started here, the Spark fits
        run side by side with each other and with the fits the driver does itself (EASE,
        Mult-VAE). :meth:`model` then takes the fitted model. Each fit is the one
        :meth:`model` would make, so the rankings do not change; one whose ranking or model
        this scorer already has is skipped. Leaving follows :func:`fit_pool`.
        """
        known = self._tops.keys() | self._models.keys()
        jobs = {key: rows for key, rows in jobs.items() if key not in known}
        try:
            with fit_pool(max(1, len(jobs))) as pool:
                for key, training in jobs.items():
                    self._ahead[key] = pool.submit(self._fit, *key, training)
                yield
        finally:
            self._ahead.clear()


def fitted_ahead(spark: SparkSession | None, recommenders: list[str]) -> set[str]:
    """The ``recommenders`` whose fits start on background threads: those fitted in Spark.

    None on a Spark Connect session: its ``pyspark.ml`` calls need the session active in the
    calling thread, which a pool thread does not have.
    """
    if spark is None or is_connect(spark):
        return set()
    return {name for name in recommenders if recommender_spec(name).fits_in_spark}


@contextlib.contextmanager
def fit_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """Threads for fits started ahead (:meth:`Scorer.fitting_ahead`, Spark scoring).

    On leaving normally every fit has been taken or is awaited. On an error, fits not yet
    started are cancelled and a running one is left to finish on its own, so the error is
    not held back for the minutes an ALS fit can take at scale.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fit-ahead")
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def seeds_of(recommender: str, cfg: EvaluateConfig) -> list[int]:
    """The seeds a recommender runs with: ``repeats`` of them if stochastic, else one."""
    repeats = cfg.repeats if recommender_spec(recommender).stochastic else 1
    return [cfg.seed + r for r in range(repeats)]


def utility_rows(
    data: EvalData,
    cfg: Config,
    spark: SparkSession,
    where: dict[str, Slice],
    scorer: Scorer | None = None,
) -> list[EvalRow]:
    """Rows for every recommender x seed x variant x slice x K, and the paired differences."""
    scorer = scorer or Scorer(data, cfg, spark)
    settings = cfg.evaluate
    runs = [(name, seed) for name in settings.recommenders for seed in seeds_of(name, settings)]
    in_spark = fitted_ahead(spark, settings.recommenders)
    training = {variant: data.training_matrix(variant) for variant in VARIANTS}  # one copy
    ahead = {
        (name, seed, variant): training[variant]
        for name, seed in runs
        if name in in_spark
        for variant in VARIANTS
    }
    tops: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    with scorer.fitting_ahead(ahead):
        for name, seed in sorted(runs, key=lambda run: run[0] in in_spark):  # Spark fits last
            tops[(name, seed)] = {
                variant: scorer.top(
                    name,
                    seed,
                    variant,
                    training[variant],
                    data.scored_matrix(variant, settings.score_with),
                )
                for variant in VARIANTS
            }
    rows: list[EvalRow] = []
    for name, seed in runs:
        run_tops = tops[(name, seed)]
        for k in settings.cutoffs():
            for slice_name, members in where.items():
                values = {v: _per_user(run_tops[v], scorer.targets, k, members) for v in VARIANTS}
                rows += _slice_rows(name, seed, k, slice_name, members, values, run_tops, data, cfg)
    return rows


def _slice_rows(
    name: str,
    seed: int,
    k: int,
    slice_name: str,
    members: Slice,
    values: dict[str, dict[str, np.ndarray]],
    tops: dict[str, np.ndarray],
    data: EvalData,
    cfg: Config,
) -> list[EvalRow]:
    """Each variant's mean with its CI, coverage on user slices, and the paired differences."""
    rows = paired_rows(name, seed, k, slice_name, values, cfg.evaluate.bootstrap_samples)
    if members.items is None:
        for variant in VARIANTS:
            coverage = catalogue_coverage(tops[variant][members.users, :k], data.n_items)
            n = int(members.users.sum())
            rows.append(
                EvalRow(name, variant, slice_name, "coverage", k, coverage, None, None, n, seed)
            )
    return rows


def paired_rows(
    name: str,
    seed: int,
    k: int,
    slice_name: str,
    values: dict[str, dict[str, np.ndarray]],
    samples: int,
    metrics: tuple[str, ...] = RANKING_METRICS,
) -> list[EvalRow]:
    """Each variant's mean with its bootstrap CI, and the paired difference with its p-value.

    Args:
        name: the recommender.
        seed: its seed (also the bootstrap's).
        k: the cutoff.
        slice_name: the slice the values are computed on.
        values: per variant (:data:`VARIANTS`) and metric, one value per user, NaN for users
            outside the slice (the same users in the same order for both variants).
        samples: bootstrap resamples.
        metrics: the metrics of ``values`` to write.
    """
    rows = []
    for metric in metrics:
        for variant in VARIANTS:
            per = values[variant][metric]
            n = int(np.isfinite(per).sum())
            if n == 0:
                continue
            low, high = bootstrap_ci(per, samples, seed)
            rows.append(
                EvalRow(
                    name, variant, slice_name, metric, k, float(np.nanmean(per)), low, high, n, seed
                )
            )
        real, augmented = values["real"][metric], values["augmented"][metric]
        n = int((np.isfinite(real) & np.isfinite(augmented)).sum())
        if n:
            diff, low, high, p = paired_bootstrap(real, augmented, samples, seed)
            rows.append(
                EvalRow(name, DIFF_VARIANT, slice_name, metric, k, diff, low, high, n, seed)
            )
            p_row = EvalRow(name, DIFF_VARIANT, slice_name, p_value_metric(metric), k, p)
            rows.append(dataclasses.replace(p_row, n_users=n, seed=seed))
    return rows


def dose_rows(
    data: EvalData, cfg: Config, spark: SparkSession, scorer: Scorer | None = None
) -> list[EvalRow]:
    """NDCG@k difference vs real-only when only a share of this run's synthetic users is kept.

    For each ratio in ``evaluate.dose_ratios`` a seeded subset of the synthetic users (new
    users and augmented real users alike) is added to the real rows; the row
    ``synthetic_to_real`` records the synthetic : real interaction ratio that share gives.
    """
    settings = cfg.evaluate
    if not settings.dose_ratios or data.synthetic.empty:
        return []
    scorer = scorer or Scorer(data, cfg, spark)
    name, seed, k = settings.dose_recommender, settings.seed, settings.k
    everyone = Slice(np.ones(len(scorer.rows), dtype=bool))
    real_top = scorer.top(name, seed, "real", data.real, data.real)
    real = _per_user(real_top, scorer.targets, k, everyone)["ndcg"]
    users = np.unique(data.synthetic["user_idx"].to_numpy())
    order = np.random.default_rng(seed).permutation(users)
    position = {int(u): i for i, u in enumerate(data.user_idx)}
    n_real = int(np.count_nonzero(data.real))
    rows = []
    for ratio in sorted(settings.dose_ratios):
        n_kept = max(1, round(ratio * len(users)))
        subset = data.synthetic[data.synthetic["user_idx"].isin(set(order[:n_kept].tolist()))]
        augmented, new_users = augmented_matrices(data.real, subset, position, data.last_real_user)
        training = np.vstack([augmented, new_users]) if len(new_users) else augmented
        variant = "augmented" if n_kept == len(users) else f"{DOSE_PREFIX}{ratio:g}"
        scored = scored_rows(data.real, augmented, "augmented", settings.score_with)
        top = scorer.top(name, seed, variant, training, scored)
        per = _per_user(top, scorer.targets, k, everyone)
        diff, low, high = paired_bootstrap_ci(real, per["ndcg"], settings.bootstrap_samples, seed)
        variant = f"{DOSE_PREFIX}{ratio:g}"
        n = int(np.isfinite(real).sum())
        rows.append(EvalRow(name, variant, "all", "ndcg", k, diff, low, high, n, seed))
        added = np.count_nonzero(training) - n_real
        rows.append(EvalRow(name, variant, "all", DOSE_RATIO_METRIC, None, added / n_real))
    return rows
