"""The config sections of stage 4 and of ``samplegen tune``: every key, default and help.

Split from :mod:`samplegen.config.sections` (which composes them into ``Config``) for length.
"""

from __future__ import annotations

from dataclasses import dataclass

from samplegen.config.fields import setting
from samplegen.registry import recommender_help


@dataclass
class EvaluateConfig:
    """Stage 4: downstream recommenders and metrics."""

    k: int = setting(20, "headline cut-off: the verdict, the dose sweep and the plots use it")
    ks: list[int] = setting(
        [10, 20, 50], "cut-offs of Recall@K, NDCG@K and coverage (k is always one of them)"
    )
    recommenders: list[str] = setting(
        ["popularity", "ease", "als", "multvae"],
        "downstream recommenders: "
        + recommender_help()
        + "; next-item, on the sequences table: "
        + recommender_help("sequential"),
    )
    ctr_models: list[str] = setting(
        ["logreg"],
        "CTR classifiers scored on runs that write synthetic_ctr (real vs real + synthetic "
        "samples_ctr train rows, class weights, random oversampling, SMOTE-NC): "
        + recommender_help("classifier"),
    )
    smote_max_rows: int = setting(
        50_000,
        "smote_nc baseline of the CTR classifiers: most train rows per label (seeded sample) "
        "collected to the driver for imbalanced-learn's SMOTENC; at least smote_k_neighbors + 1",
    )
    smote_k_neighbors: int = setting(
        5,
        "smote_nc baseline: nearest neighbours among a label's train rows that a new row is "
        "interpolated towards (SMOTENC's k_neighbors); a label needs k_neighbors + 1 rows",
    )
    logreg_reg_grid: list[float] = setting(
        [0.0, 0.01, 0.1], "logreg: regParam values tried; the best valid AUC is scored on test"
    )
    gbt_max_depth_grid: list[int] = setting(
        [3, 5], "gbt: maxDepth values tried (with each of gbt_max_iter_grid) on valid AUC"
    )
    gbt_max_iter_grid: list[int] = setting(
        [20, 50], "gbt: maxIter (trees) values tried (with each of gbt_max_depth_grid)"
    )
    gbt_max_categories: int = setting(
        256,
        "gbt: a categorical with at most this many levels is a nominal feature; one with more "
        "is used as its frequency rank",
    )
    deepfm_embedding_dims: list[int] = setting(
        [8, 16], "deepfm: embedding sizes tried (one model each); the best valid AUC is scored"
    )
    deepfm_hidden_dims: list[int] = setting(
        [64, 32], "deepfm: layer sizes of the MLP over the concatenated field embeddings"
    )
    deepfm_epochs: int = setting(
        30, "deepfm: most training epochs (the best valid-AUC epoch's weights are kept)"
    )
    deepfm_patience: int = setting(
        3, "deepfm: stop after this many epochs without a better valid AUC; 0: every epoch"
    )
    deepfm_batch_size: int = setting(1024, "deepfm: rows per Adam step")
    deepfm_learning_rate: float = setting(0.003, "deepfm: Adam learning rate")
    deepfm_max_rows: int = setting(
        500_000,
        "deepfm: most train rows (and valid rows) collected to the driver to train on (a "
        "seeded sample, logged when it applies); scoring stays distributed",
    )
    ease_lambda: float = setting(250.0, "L2 regularisation of EASE")
    als_rank: int = setting(32, "als: latent factors")
    als_iterations: int = setting(10, "als: alternating least squares sweeps")
    als_reg: float = setting(0.05, "als: L2 regularisation (scaled by each user's item count)")
    als_alpha: float = setting(10.0, "als: confidence of an interaction, 1 + alpha * weight")
    multvae_epochs: int = setting(30, "multvae recommender: training epochs")
    multvae_hidden_dims: list[int] = setting([200], "multvae recommender: encoder layer sizes")
    multvae_patience: int = setting(
        5,
        "multvae recommender: stop after this many epochs without a better valid NDCG@k of the "
        "real users with valid items outside their train items (the best epoch's weights are "
        "scored on test); 0: train every epoch, keep the best. samplegen tune, which scores on "
        "valid, trains every epoch and keeps the last",
    )
    sasrec_epochs: int = setting(50, "sasrec (sequential, next item): most training epochs")
    sasrec_patience: int = setting(
        5,
        "sasrec: stop after this many epochs without a better valid NDCG@k (the best epoch's "
        "weights are scored on test); 0: train every epoch, keep the best",
    )
    sasrec_hidden: int = setting(64, "sasrec: embedding and attention width")
    sasrec_layers: int = setting(2, "sasrec: self-attention blocks")
    sasrec_dropout: float = setting(0.2, "sasrec: dropout of embeddings and blocks")
    sasrec_max_len: int = setting(50, "sasrec: last items of a history the model reads")
    sasrec_learning_rate: float = setting(0.003, "sasrec: Adam learning rate")
    score_with: str = setting(
        "real",
        "rows the matrix recommenders score a real user on in the augmented variant: real "
        "(the user's own train items; the synthetic rows only train the model) or augmented "
        "(their train items plus the items the run added to them, at their weight: profile "
        "expansion at scoring time, named as such in the report)",
    )
    sequence_history: str = setting(
        "real",
        "history the sequential recommenders score a user on: real (both variants on the real "
        "history) or augmented (the augmented variant on the items the run added to the user, "
        "e.g. prepend's pseudo-prior items, then the real history, as it was trained)",
    )
    bootstrap_samples: int = setting(500, "bootstrap resamples for confidence intervals")
    min_users: int = setting(
        50,
        "a slice needs at least this many evaluated users with targets for a better/worse "
        "verdict; below it the verdict says too few users",
    )
    seed: int = setting(11, "bootstrap seed, and the first seed of the stochastic recommenders")
    repeats: int = setting(3, "seeds (seed, seed + 1, ...) of the stochastic evaluate.recommenders")
    dose_ratios: list[float] = setting(
        [0.25, 0.5, 1.0],
        "dose sweep: shares of this run's synthetic users kept, each scored against real-only "
        "with dose_recommender; for a synthetic_ctr run, shares of its synthetic rows, each "
        "scored with every ctr_models classifier (empty: no sweep)",
    )
    dose_recommender: str = setting("ease", "recommender of the dose sweep")
    head_share: float = setting(
        0.2, "item slices: share of the vocabulary, most popular first, in head"
    )
    tail_share: float = setting(
        0.5, "item slices: share of the vocabulary, least popular first, in tail"
    )
    top_categories: int = setting(
        3,
        "slices for the categories with the most test interactions (CTR runs: test rows)",
    )
    item_cold: bool | None = setting(
        None,
        "item-cold protocol: score slices items_new (every model ranks only new items, "
        "evaluate.item_cold_candidates; "
        "targets: test interactions on items first seen after the train cut) and all_with_new "
        "(vocabulary + new items ranked together; targets: every test interaction); null: on "
        "whenever the run has new items; true needs a catalogue",
    )
    item_cold_candidates: str = setting(
        "run",
        "items_new candidates: run (every new item of the run, what is known at the train cut) "
        "or period (only the new items with interactions in the scored period, valid or test: "
        "the cold-start protocol of DropoutNet and Heater, which reads which items sold then)",
    )
    item_cold_baselines: list[str] = setting(
        ["content_knn", "category_popularity", "random_new"],
        "non-generative baselines of the item-cold slices, trained on real rows: "
        + recommender_help("item_cold"),
    )
    other_runs: list[str] = setting(
        [],
        "evaluated runs (other strategies, augment/ baselines) whose NDCG differences the "
        "report shows next to this run's",
    )
    privacy_records: int = setting(
        2000, "fidelity and privacy: most synthetic / held-out records compared (seeded sample)"
    )
    max_users: int | None = setting(
        None,
        "fit the recommenders on and score a seeded sample of at most this many real train "
        "users (plus all of the run's new users), as stage 4's dense matrices live on the "
        "driver; null: every user",
    )
    scoring: str = setting(
        "driver",
        "where the utility rows are scored: driver (dense user x item matrices on the driver, "
        "every recommender and slice) or spark (popularity, ease and als fitted from "
        "training entries built in Spark, every evaluated user ranked in Spark, per-user "
        "values in eval_user_metrics; "
        "slices all and cold only; max_users then bounds only the driver-side parts: fidelity, "
        "privacy, explanation, dose sweep, next item, item-cold)",
    )

    def cutoffs(self) -> list[int]:
        """Every K scored: ``ks`` and the headline ``k``, ascending."""
        return sorted({*self.ks, self.k})


@dataclass
class TuneConfig:
    """``samplegen tune``: the recipe search on the valid split (see :mod:`samplegen.tune`).

    A range is ``[low, high]``; an empty range leaves that key at the config's value.
    """

    target: str = setting("ease", "recommender whose valid NDCG@evaluate.k the search maximises")
    slice: str = setting(
        "cold", "user or item slice of evaluate's slices the objective is computed on"
    )
    budget: int = setting(20, "trials (each: one generate and one fit of the target)")
    all_tolerance: float = setting(
        0.02,
        "a trial is infeasible when NDCG@k on slice all drops by more than this share of the "
        "real-only value on valid",
    )
    seed: int = setting(17, "seed of the TPE sampler (same seed and data, same trials)")
    strategies: list[str] = setting(
        ["densify", "long_tail", "cross_category", "synthetic_users", "mask", "substitute", "crop"],
        "generate.strategy values searched: strategies writing synthetic_interactions "
        "(the generative ones and the augment baselines)",
    )
    models: list[str] = setting(
        [],
        "train.model values searched, each trained already for the run (tune never trains); "
        "empty: every interaction generator with a trained model for the run",
    )
    synthetic_weight: list[float] = setting(
        [0.1, 1.0], "range of generate.synthetic_weight (log-uniform)"
    )
    items_per_user: list[int] = setting([5, 40], "range of generate.items_per_user")
    max_user_items: list[int] = setting([5, 60], "range of generate.max_user_items (which users)")
    synthetic_users: list[int] = setting(
        [50, 1000], "range of generate.synthetic_users (the dose of the new-user strategies)"
    )
    new_item_users_scale: list[float] = setting(
        [0.05, 1.0],
        "range of generate.new_item_users_scale (log-uniform; the dose of new_items, which "
        "reads neither items_per_user nor max_user_items)",
    )
    score_with: list[str] = setting(
        ["real", "augmented"],
        "evaluate.score_with values searched for the strategies that add items to real users "
        "(augmented: profile expansion at scoring time); empty: the config's value",
    )
    pruner_startup_trials: int = setting(
        3, "trials finished before the median pruner may stop a trial after one of its seeds"
    )
    parallel_trials: int = setting(
        1,
        "trials run at once, each in its own scratch run: one trial generates (mostly Spark "
        "jobs) while another's target is fitted and scored on the driver (the fits take turns, "
        "so a trial scores as it would alone); above 1, TPE's proposals after its seeded "
        "start-up trials and the pruner's stops depend on the order trials finish",
    )


@dataclass
class RecipeConfig:
    """What a recipe of ``samplegen tune`` says about itself; unset without a recipe.

    ``samplegen tune`` writes this section into each recipe. A recipe whose search found no
    trial beating real-only on valid makes train, generate and evaluate write nothing (the
    null result as an outcome, e.g. for a scheduled job) unless ``recipe.force``.
    """

    tuned_run: str | None = setting(None, "run the recipe was tuned on (written by tune)")
    trial: int | None = setting(None, "trial of the search the recipe is (written by tune)")
    beats_real: bool | None = setting(
        None,
        "whether the recipe beat real-only on valid (written by tune); false: train, generate "
        "and evaluate write nothing unless recipe.force",
    )
    force: bool = setting(
        False, "train, generate and evaluate a recipe whose search recommended not augmenting"
    )

    def declines(self) -> str | None:
        """Why train, generate and evaluate write nothing for this recipe; ``None``: they run."""
        if self.beats_real is not False or self.force:
            return None
        trial = "no feasible trial" if self.trial is None else f"trial {self.trial}"
        return (
            f"the recipe (run {self.tuned_run}, {trial}) beat no real-only result on valid, so "
            "it recommends not augmenting: no synthetic rows are written "
            "(--set recipe.force=true writes them anyway)"
        )
