"""Values that cannot work, refused with the key named (after types are checked)."""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from samplegen.config.fields import ConfigError
from samplegen.config.sections import Config
from samplegen.ids import IdentifierError, check_experiment_name, check_identifier
from samplegen.locations import local_folder
from samplegen.registry import (
    GENERATORS,
    INTERACTION_MODELS,
    STRATEGIES,
    SYNTHETIC_CTR,
    SYNTHETIC_INTERACTIONS,
    recommender_names,
)
from samplegen.segments import SEGMENT_COLUMNS

CHOICES: dict[str, tuple[str, ...]] = {
    "data.source": ("completejourney", "movielens100k", "files"),
    "data.events_format": ("delta", "parquet", "csv"),
    "data.catalogue_format": ("delta", "parquet", "csv"),
    "aggregate.split": ("auto", "temporal", "leave_last"),
    "aggregate.leave_last_by": ("first", "last"),
    "train.model": tuple(GENERATORS),
    "train.loader": ("petastorm", "arrow"),
    "train.tabular.table": ("samples_ctr", "item_features", "user_features"),
    "generate.synthetic_from": ("posterior", "prior"),
    "generate.strategy": tuple(STRATEGIES),
    "generate.ctr_fill": ("donor", "none"),
    "evaluate.score_with": ("real", "augmented"),
    "evaluate.item_cold_candidates": ("run", "period"),
    "evaluate.sequence_history": ("real", "augmented"),
    "evaluate.scoring": ("driver", "spark"),
}

#: The recommenders ``evaluate.scoring: spark`` fits from sparse rows and ranks in Spark
#: (:mod:`samplegen.evaluate.spark_scoring`).
SPARK_SCORED = ("popularity", "ease", "als")


#: The slices of stage 4 (``evaluate.utility.slices``) a search can target, besides
#: ``category:<name>`` (known only from the data, so checked when the search starts).
TUNE_SLICES = (
    "all",
    "cold",
    "activity_q2",
    "activity_q3",
    "activity_q4",
    "items_head",
    "items_torso",
    "items_tail",
)
#: The ``tune`` ranges: ``(key, lowest allowed, highest allowed)``.
TUNE_RANGES = (
    ("synthetic_weight", 0.0, 1.0),
    ("items_per_user", 1, None),
    ("max_user_items", 1, None),
    ("synthetic_users", 1, None),
    ("new_item_users_scale", 0.0, None),
)

#: Lowest ``aggregate.heavy_user_events`` other than 0 (see
#: :mod:`samplegen.features.heavy_users`: below it the detection sample is every row).
MIN_HEAVY_USER_EVENTS = 1000


def lookup(config: Config, key: str) -> Any:
    """The value at a dotted key such as ``train.gan.critic_steps``."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def validate(config: Config) -> None:
    """Reject values that cannot work, naming the key."""
    try:  # identifiers become paths and names elsewhere: one pattern, see samplegen.ids
        for key in ("generate.augment_runs", "evaluate.other_runs"):
            for run_id in lookup(config, key):
                check_identifier(run_id, key)
        for key in ("tables.catalog", "tables.schema"):
            if lookup(config, key) is not None:
                check_identifier(lookup(config, key), key)
        if config.train.mlflow_experiment is not None:
            check_experiment_name(config.train.mlflow_experiment, "train.mlflow_experiment")
    except IdentifierError as err:
        raise ConfigError(str(err)) from err
    for key, allowed in CHOICES.items():
        value = lookup(config, key)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    if config.train.text_condition and config.train.model not in ("cvae", "gan"):
        raise ConfigError(
            f"train.text_condition applies to train.model=cvae or gan, not {config.train.model!r}"
        )
    for key in ("models_root", "reports_root"):
        try:
            local_folder(lookup(config, key), key)
        except ValueError as err:
            raise ConfigError(str(err)) from err
    if config.tables.catalog is not None and config.tables.schema is None:
        raise ConfigError("tables.catalog needs tables.schema (the schema of the tables)")
    if config.train.registered_model and not config.train.mlflow_experiment:
        raise ConfigError("train.registered_model needs train.mlflow_experiment (the run it logs)")
    if config.train.loader == "petastorm" and find_spec("petastorm") is None:
        raise ConfigError(
            "train.loader: petastorm needs the petastorm extra "
            '(pip install "samplegen[petastorm]"); or use train.loader: arrow'
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
        ("aggregate.auto_min_test_share", 0 <= config.aggregate.auto_min_test_share <= 1),
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
        ("train.patience", config.train.patience >= 0),
        ("train.gan.critic_steps", config.train.gan.critic_steps >= 1),
        ("train.gan.negative_ratio", 0 <= config.train.gan.negative_ratio <= 1),
        ("train.tabular.fit_rows", config.train.tabular.fit_rows > 0),
        ("train.tabular.batch_size", config.train.tabular.batch_size > 0),
        ("train.tabular.pac", config.train.tabular.pac >= 1),
        ("generate.items_per_user", config.generate.items_per_user > 0),
        ("generate.synthetic_weight", 0 < config.generate.synthetic_weight <= 1),
        ("generate.synthetic_users", config.generate.synthetic_users > 0),
        ("generate.prepend_max_history", config.generate.prepend_max_history > 0),
        ("generate.prepend_items", config.generate.prepend_items > 0),
        (
            "generate.prepend_candidates",
            config.generate.prepend_candidates >= config.generate.prepend_items,
        ),
        ("generate.insert_items", config.generate.insert_items > 0),
        (
            "generate.insert_candidates",
            config.generate.insert_candidates >= config.generate.insert_items,
        ),
        ("generate.new_items", config.generate.new_items > 0),
        ("generate.new_item_users_scale", config.generate.new_item_users_scale > 0),
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
        ("generate.segment_share", 0 < config.generate.segment_share < 1),
        ("generate.tail_share", 0 <= config.generate.tail_share <= 1),
        ("generate.balance_power", 0 <= config.generate.balance_power <= 1),
        ("generate.substitute_share", 0 < config.generate.substitute_share <= 1),
        ("evaluate.k", config.evaluate.k > 0),
        ("evaluate.ks", min(config.evaluate.ks, default=1) > 0),
        ("evaluate.recommenders", bool(config.evaluate.recommenders)),
        ("evaluate.logreg_reg_grid", min(config.evaluate.logreg_reg_grid, default=-1) >= 0),
        ("evaluate.gbt_max_depth_grid", min(config.evaluate.gbt_max_depth_grid, default=0) >= 1),
        ("evaluate.gbt_max_iter_grid", min(config.evaluate.gbt_max_iter_grid, default=0) >= 1),
        ("evaluate.gbt_max_categories", config.evaluate.gbt_max_categories >= 1),
        (
            "evaluate.deepfm_embedding_dims",
            min(config.evaluate.deepfm_embedding_dims, default=0) >= 1,
        ),
        ("evaluate.deepfm_hidden_dims", min(config.evaluate.deepfm_hidden_dims, default=1) >= 1),
        ("evaluate.deepfm_epochs", config.evaluate.deepfm_epochs > 0),
        ("evaluate.deepfm_patience", config.evaluate.deepfm_patience >= 0),
        ("evaluate.deepfm_batch_size", config.evaluate.deepfm_batch_size > 0),
        ("evaluate.deepfm_learning_rate", config.evaluate.deepfm_learning_rate > 0),
        ("evaluate.deepfm_max_rows", config.evaluate.deepfm_max_rows >= 2),
        ("evaluate.bootstrap_samples", config.evaluate.bootstrap_samples > 0),
        ("evaluate.min_users", config.evaluate.min_users >= 1),
        ("evaluate.als_rank", config.evaluate.als_rank > 0),
        ("evaluate.als_iterations", config.evaluate.als_iterations > 0),
        ("evaluate.als_reg", config.evaluate.als_reg > 0),
        ("evaluate.als_alpha", config.evaluate.als_alpha > 0),
        ("evaluate.multvae_epochs", config.evaluate.multvae_epochs > 0),
        ("evaluate.multvae_hidden_dims", len(config.evaluate.multvae_hidden_dims) >= 1),
        ("evaluate.multvae_patience", config.evaluate.multvae_patience >= 0),
        ("evaluate.sasrec_epochs", config.evaluate.sasrec_epochs > 0),
        ("evaluate.sasrec_patience", config.evaluate.sasrec_patience >= 0),
        ("evaluate.repeats", config.evaluate.repeats >= 1),
        ("evaluate.dose_ratios", all(0 < r <= 1 for r in config.evaluate.dose_ratios)),
        ("evaluate.head_share", 0 < config.evaluate.head_share < 1),
        ("evaluate.tail_share", 0 < config.evaluate.tail_share < 1),
        ("evaluate.top_categories", config.evaluate.top_categories >= 0),
        ("evaluate.privacy_records", config.evaluate.privacy_records >= 10),
        ("evaluate.smote_k_neighbors", config.evaluate.smote_k_neighbors >= 1),
        # SMOTE-NC's neighbours of a row + the row itself.
        (
            "evaluate.smote_max_rows",
            config.evaluate.smote_max_rows >= config.evaluate.smote_k_neighbors + 1,
        ),
    ]
    for key, ok in checks:
        if not ok:
            raise ConfigError(f"{key} has an impossible value: {lookup(config, key)!r}")
    if config.evaluate.head_share + config.evaluate.tail_share > 1:
        raise ConfigError("evaluate.head_share + evaluate.tail_share must be at most 1")
    recommenders = recommender_names()
    listed = recommenders + recommender_names("sequential")  # sequential: the next-item protocol
    for name, known in (
        *((name, listed) for name in config.evaluate.recommenders),
        (config.evaluate.dose_recommender, recommenders),
    ):
        if name not in known:
            raise ConfigError(
                f"evaluate recommender {name!r} is unknown; choose from {', '.join(known)}"
            )
    if config.evaluate.scoring == "spark":
        others = [n for n in config.evaluate.recommenders if n not in SPARK_SCORED]
        if others:
            raise ConfigError(
                f"evaluate.scoring=spark scores only {', '.join(SPARK_SCORED)}, but "
                f"evaluate.recommenders lists {', '.join(others)}; drop them or set "
                "evaluate.scoring=driver"
            )
    for key, kind in (("ctr_models", "classifier"), ("item_cold_baselines", "item_cold")):
        known = recommender_names(kind)
        for name in getattr(config.evaluate, key):
            if name not in known:
                raise ConfigError(
                    f"evaluate.{key} lists {name!r}, which is unknown; choose from "
                    f"{', '.join(known)}"
                )
    if (
        config.evaluate.item_cold
        and config.data.source == "files"
        and not config.data.catalogue_path
    ):
        raise ConfigError(
            "evaluate.item_cold=true needs a catalogue (data.catalogue_path): new items are "
            "catalogue items first seen after the train cut"
        )
    heavy = config.aggregate.heavy_user_events
    if heavy != 0 and heavy < MIN_HEAVY_USER_EVENTS:
        raise ConfigError(
            f"aggregate.heavy_user_events must be 0 (never spread) or at least "
            f"{MIN_HEAVY_USER_EVENTS:,}, got {heavy!r}: a lower threshold would flag ordinary "
            "users and sample every event"
        )
    if config.aggregate.valid_fraction + config.aggregate.test_fraction >= 0.9:
        raise ConfigError("aggregate.valid_fraction + aggregate.test_fraction must stay below 0.9")
    if STRATEGIES[config.generate.strategy].copies_real_users and config.generate.privacy_filter:
        raise ConfigError(
            f"generate.strategy={config.generate.strategy} writes real users' item sets "
            "unchanged or nearly (a few items added or swapped), which the privacy filter "
            "drops; set generate.privacy_filter=false to allow them explicitly"
        )
    segments = config.generate.segments
    if not segments or len(set(segments)) < len(segments) or set(segments) - set(SEGMENT_COLUMNS):
        raise ConfigError(
            f"generate.segments must name each segment at most once, at least one, from "
            f"{', '.join(SEGMENT_COLUMNS)}; got {segments!r}"
        )
    if len(segments) * config.generate.segment_share >= 1:
        raise ConfigError(
            "generate.segment_share times the number of generate.segments must stay below 1 "
            "(every segment at that share of the train rows)"
        )
    if not config.aggregate.samples_ctr:
        reader = _samples_ctr_reader(config)
        if reader:
            raise ConfigError(
                f"{reader} reads samples_ctr, which aggregate.samples_ctr=false leaves empty"
            )
    check_tune(config)
    if config.aggregate.training_files < config.train.num_processes:
        raise ConfigError(
            "aggregate.training_files must be >= train.num_processes so no rank gets an empty shard"
        )


def _samples_ctr_reader(config: Config) -> str | None:
    """The setting that makes this run read ``samples_ctr`` rows, or None."""
    if STRATEGIES[config.generate.strategy].table == SYNTHETIC_CTR:
        return f"generate.strategy={config.generate.strategy}"
    if config.train.model == "tabular" and config.train.tabular.table == "samples_ctr":
        return "train.tabular.table=samples_ctr"
    return None


def check_tune(config: Config) -> None:
    """Refuse a ``tune`` section that cannot search, naming the key.

    An empty search space is refused when the search starts, once the trained models are known
    (:func:`samplegen.tune.space.check_space`).
    """
    tune = config.tune
    targets = recommender_names()
    if tune.target not in targets:
        raise ConfigError(
            f"tune.target {tune.target!r} is not a recommender; choose from {', '.join(targets)}"
        )
    if tune.slice not in TUNE_SLICES and not tune.slice.startswith("category:"):
        raise ConfigError(
            f"tune.slice {tune.slice!r} is not a slice; choose from {', '.join(TUNE_SLICES)} "
            "or category:<name>"
        )
    if tune.budget < 1:
        raise ConfigError(f"tune.budget must be at least 1 trial, got {tune.budget}")
    if not tune.all_tolerance >= 0:
        raise ConfigError(f"tune.all_tolerance must be >= 0, got {tune.all_tolerance!r}")
    if tune.pruner_startup_trials < 0:
        raise ConfigError("tune.pruner_startup_trials must be >= 0")
    if tune.parallel_trials < 1:
        raise ConfigError(f"tune.parallel_trials must be at least 1, got {tune.parallel_trials}")
    if not tune.strategies:
        raise ConfigError("tune.strategies is empty: the search space needs a strategy")
    for name in tune.strategies:
        spec = STRATEGIES.get(name)
        if spec is None or spec.table != SYNTHETIC_INTERACTIONS or spec.copies_real_users:
            usable = [
                s.name
                for s in STRATEGIES.values()
                if s.table == SYNTHETIC_INTERACTIONS and not s.copies_real_users
            ]
            raise ConfigError(
                f"tune.strategies lists {name!r}; it must be a strategy that writes new "
                f"synthetic_interactions rows: {', '.join(usable)}"
            )
    for name in tune.models:
        if name not in INTERACTION_MODELS:
            raise ConfigError(
                f"tune.models lists {name!r}; choose from {', '.join(INTERACTION_MODELS)}"
            )
    for value in tune.score_with:
        if value not in CHOICES["evaluate.score_with"]:
            raise ConfigError(
                f"tune.score_with lists {value!r}; choose from "
                f"{', '.join(CHOICES['evaluate.score_with'])}"
            )
    for key, low, high in TUNE_RANGES:
        bounds = getattr(tune, key)
        ok = not bounds or (
            len(bounds) == 2
            and low < bounds[0] <= bounds[1]
            and (high is None or bounds[1] <= high)
        )
        if not ok:
            raise ConfigError(
                f"tune.{key} must be [] or [low, high] with {low} < low <= high"
                + (f" <= {high}" if high is not None else "")
                + f", got {bounds!r}"
            )
