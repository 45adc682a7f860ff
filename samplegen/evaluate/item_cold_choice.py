"""The item-cold comparison: the best generated recommender against the best baseline.

Choose on valid, report test once. The augmented recommender (and seed) and the
non-generative baseline with the highest mean NDCG at the headline ``evaluate.k`` on
``items_new_valid`` (the valid period's interactions on items new to the catalogue, ranked
among the new-item candidates, ``evaluate.item_cold_candidates``) are chosen; only that pair's
paired difference on the test slice ``items_new`` is reported, as
``augmented_minus_best_baseline`` rows and one verdict line.
Choosing on test would flatter both sides by the luck of the best of several candidates.
The differences' intervals resample items as well as users (:mod:`.two_way`): every model
ranks the same few new items, so which of them a model happens to put first is luck shared by
all users, which resampling users alone would not see.
With fewer than ``evaluate.min_users`` valid users nothing is chosen: no difference rows, and a
verdict line saying why (never a silent choice on test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from samplegen.config import Config
from samplegen.evaluate.metrics import RANKING_METRICS, PairedComparison
from samplegen.evaluate.rows import ITEMS_NEW, ITEMS_NEW_VALID, EvalRow, p_value_metric
from samplegen.evaluate.two_way import (
    ranking_depth,
    two_way_bootstrap_ci,
    two_way_paired_bootstrap,
)
from samplegen.runinfo import LOG

#: Variant of the paired difference best augmented recommender - best baseline (items_new).
BEST_BASELINE_DIFF = "augmented_minus_best_baseline"
#: Variant of the two rows (slice ``items_new_valid``) naming the chosen pair, with the valid
#: NDCG@k each was chosen on.
CHOSEN_VARIANT = "chosen_on_valid"

#: A ranking: (recommender, seed, variant).
Key = tuple[str, int, str]


@dataclass
class Ranked:
    """Per-user values of every ranking: test slices x metrics at every K, and valid ones.

    Attributes:
        values: ``{key: {k: {(slice, metric): per-user values}}}`` on the test slices.
        valid: ``{key: {k: {metric: per-user values}}}`` on ``items_new_valid``.
        tops: ``{key: rankings}`` on ``items_new`` (test), as deep as
            :func:`~samplegen.evaluate.two_way.ranking_depth` of the largest cut-off, for
            intervals that resample items.
        targets: The ``items_new`` targets of the users of ``tops``' rows.
        valid_tops: As ``tops``, on ``items_new_valid``.
        valid_targets: The ``items_new_valid`` targets of the users of ``valid_tops``' rows.
    """

    values: dict[Key, dict[int, dict[tuple[str, str], np.ndarray]]] = field(default_factory=dict)
    valid: dict[Key, dict[int, dict[str, np.ndarray]]] = field(default_factory=dict)
    tops: dict[Key, np.ndarray] = field(default_factory=dict)
    targets: list[np.ndarray] = field(default_factory=list)
    valid_tops: dict[Key, np.ndarray] = field(default_factory=dict)
    valid_targets: list[np.ndarray] = field(default_factory=list)

    def interval(
        self, key: Key, k: int, n_samples: int, seed: int, valid: bool = False
    ) -> dict[str, tuple[float, float]]:
        """CIs of ``key``'s mean recall and NDCG@k on ``items_new`` (or its valid slice)."""
        tops, targets = (
            (self.valid_tops, self.valid_targets) if valid else (self.tops, self.targets)
        )
        depth = ranking_depth(k)
        return two_way_bootstrap_ci(tops[key][:, :depth], targets, k, n_samples, seed)

    def compare(
        self, a: Key, b: Key, k: int, n_samples: int, seed: int
    ) -> dict[str, PairedComparison]:
        """``b - a`` on ``items_new`` at cut-off ``k``, users and items resampled, per metric."""
        depth = ranking_depth(k)
        return two_way_paired_bootstrap(
            self.tops[a][:, :depth], self.tops[b][:, :depth], self.targets, k, n_samples, seed
        )


def best_on_valid(ranked: Ranked, keys: list[Key], k: int) -> Key | None:
    """The key with the highest mean valid NDCG@k (first in order on ties); ``None`` if none."""
    scored = [(float(np.nanmean(ranked.valid[key][k]["ndcg"])), key) for key in keys]
    scored = [(value, key) for value, key in scored if math.isfinite(value)]
    if not scored:
        return None
    best = max(value for value, _ in scored)
    return next(key for value, key in scored if value == best)


def _finite(*values: np.ndarray) -> int:
    """Users with a finite value in every array."""
    mask = np.ones(len(values[0]), dtype=bool)
    for per in values:
        mask &= np.isfinite(per)
    return int(mask.sum())


def best_baseline_rows(ranked: Ranked, cfg: Config, interactions: int) -> tuple[list[EvalRow], str]:
    """The pair chosen on valid, its test difference rows and the ``items_new`` verdict line.

    Rows: ``chosen_on_valid`` (the two chosen and their valid NDCG@k) and
    ``augmented_minus_best_baseline`` at every K; ``interactions`` counts the test pairs.
    """
    settings = cfg.evaluate
    k = settings.k
    baselines = [key for key in ranked.values if key[0] in settings.item_cold_baselines]
    generated = [
        key for key in ranked.values if key[0] in settings.recommenders and key[2] == "augmented"
    ]
    if not generated or not baselines:
        return [], f"{ITEMS_NEW}: no generated recommender or no baseline to compare"
    n_valid = _finite(ranked.valid[generated[0]][k]["ndcg"])
    if n_valid < max(settings.min_users, 1):
        LOG.warning(
            "stage=evaluate item_cold: %d users have valid-period interactions on the run's new "
            "items (evaluate.min_users=%d): no recommender or baseline is chosen, so there are "
            "no %s rows",
            n_valid,
            settings.min_users,
            BEST_BASELINE_DIFF,
        )
        return [], (
            f"{ITEMS_NEW}: no verdict: too few valid users to choose the generated recommender "
            f"and the baseline on valid (n={n_valid}; evaluate.min_users={settings.min_users})"
        )
    best_gen, best_base = best_on_valid(ranked, generated, k), best_on_valid(ranked, baselines, k)
    assert best_gen is not None and best_base is not None  # n_valid > 0: every mean is finite
    rows = [
        EvalRow(
            key[0],
            CHOSEN_VARIANT,
            ITEMS_NEW_VALID,
            "ndcg",
            k,
            float(np.nanmean(ranked.valid[key][k]["ndcg"])),
            n_users=n_valid,
            seed=key[1],
        )
        for key in (best_gen, best_base)
    ]
    headline: PairedComparison | None = None
    for cutoff in settings.cutoffs():
        compared = ranked.compare(
            best_base, best_gen, cutoff, settings.bootstrap_samples, settings.seed
        )
        if cutoff == k:
            headline = compared["ndcg"]
        for metric in RANKING_METRICS:
            base = ranked.values[best_base][cutoff][(ITEMS_NEW, metric)]
            gen = ranked.values[best_gen][cutoff][(ITEMS_NEW, metric)]
            diff, low, high, p = compared[metric]
            n, name, seed = _finite(base, gen), best_gen[0], best_gen[1]
            rows.append(
                EvalRow(
                    name, BEST_BASELINE_DIFF, ITEMS_NEW, metric, cutoff, diff, low, high, n, seed
                )
            )
            rows.append(
                EvalRow(
                    name,
                    BEST_BASELINE_DIFF,
                    ITEMS_NEW,
                    p_value_metric(metric),
                    cutoff,
                    p,
                    n_users=n,
                    seed=seed,
                )
            )
    assert headline is not None  # evaluate.k is one of the cut-offs
    line = items_new_line(ranked, best_gen, best_base, headline, cfg, interactions, n_valid)
    return rows, line


def items_new_line(
    ranked: Ranked,
    best_gen: Key,
    best_base: Key,
    compared: PairedComparison,
    cfg: Config,
    interactions: int,
    n_valid: int,
) -> str:
    """The ``items_new`` verdict: the pair chosen on valid, compared at test NDCG@k.

    ``compared`` is their test NDCG@k difference, users and items resampled.
    """
    k = cfg.evaluate.k
    gen = ranked.values[best_gen][k][(ITEMS_NEW, "ndcg")]
    base = ranked.values[best_base][k][(ITEMS_NEW, "ndcg")]
    diff, low, high, _ = compared
    n = _finite(base, gen)
    if n < cfg.evaluate.min_users:
        words = f"too few users (n={n}; evaluate.min_users={cfg.evaluate.min_users})"
    elif low > 0:
        words = "generated is better"
    elif high < 0:
        words = "generated is worse"
    else:
        words = "no significant difference"
    ratio = float(np.nanmean(gen)) / float(np.nanmean(base)) if np.nanmean(base) > 0 else math.nan
    valid_gen = float(np.nanmean(ranked.valid[best_gen][k]["ndcg"]))
    valid_base = float(np.nanmean(ranked.valid[best_base][k]["ndcg"]))
    return (
        f"{best_gen[0]} slice={ITEMS_NEW} NDCG@{k} augmented={np.nanmean(gen):.4f} (seed "
        f"{best_gen[1]}) vs best baseline {best_base[0]}={np.nanmean(base):.4f} "
        f"(x{ratio:.2f}) diff={diff:+.4f} [{low:+.4f}, {high:+.4f}] (users and items resampled) "
        f"over {n} users, "
        f"{interactions} interactions, {cfg.evaluate.item_cold_candidates} candidates: {words} "
        f"(both chosen on valid: NDCG@{k} "
        f"{valid_gen:.4f} vs {valid_base:.4f} over {n_valid} users)"
    )
