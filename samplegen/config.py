"""Typed configuration loaded from YAML plus ``--set key=value`` overrides.

Every default is written once, here, in the dataclasses. A YAML file only overrides them;
an unknown key anywhere is an error that names the key and the file, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


@dataclass
class SparkConfig:
    """How the SparkSession is obtained.

    ``master`` is ``local[*]``, ``local[N]``, ``local-cluster[N,C,M]`` for a local session with
    Delta jars wired in, or ``active`` to reuse the session a cluster or notebook already has.
    """

    master: str = "local[*]"
    app_name: str = "samplegen"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Which raw events feed stage 1.

    ``max_users`` keeps the first N users by id (deterministic), for small runs and tests.
    """

    source: str = "completejourney"
    max_users: int | None = None


@dataclass
class AggregateConfig:
    """Stage 1: weights, filters, vocabulary and the temporal split."""

    event_weights: dict[str, float] = field(
        default_factory=lambda: {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0}
    )
    max_weight: float = 50.0
    min_item_users: int = 10
    min_user_items: int = 3
    top_n_items: int = 5000
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    max_items_per_user: int = 2000
    training_files: int = 8


@dataclass
class TrainConfig:
    """Stage 2: the generator and how TorchDistributor runs it."""

    model: str = "multvae"
    hidden_dims: list[int] = field(default_factory=lambda: [600, 200])
    dropout: float = 0.5
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    beta_cap: float = 0.2
    anneal_steps: int = 2000
    num_processes: int = 1
    local_mode: bool = True
    use_gpu: bool = False
    loader: str = "petastorm"
    seed: int = 42


@dataclass
class GenerateConfig:
    """Stage 3: the ``densify`` strategy."""

    strategy: str = "densify"
    max_user_items: int = 20
    items_per_user: int = 10
    synthetic_weight: float = 0.5
    seed: int = 7


@dataclass
class EvaluateConfig:
    """Stage 4: downstream recommenders and metrics."""

    k: int = 20
    ease_lambda: float = 250.0
    bootstrap_samples: int = 500
    seed: int = 11


@dataclass
class Config:
    """The whole run configuration; one YAML file per environment."""

    lakehouse: str = "./lakehouse"
    models_root: str = "./lakehouse/models"
    reports_root: str = "./reports"
    spark: SparkConfig = field(default_factory=SparkConfig)
    data: DataConfig = field(default_factory=DataConfig)
    aggregate: AggregateConfig = field(default_factory=AggregateConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for manifests and for shipping to workers)."""
        return dataclasses.asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.source": ("completejourney",),
    "train.model": ("multvae",),
    "train.loader": ("petastorm", "arrow"),
    "generate.strategy": ("densify",),
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
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(value)


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
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{source}: {key} has an unsupported type {hint}")


def _validate(config: Config) -> None:
    """Reject values that cannot work, naming the key."""
    for key, allowed in _CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    checks = [
        ("aggregate.valid_fraction", 0 < config.aggregate.valid_fraction < 0.5),
        ("aggregate.test_fraction", 0 < config.aggregate.test_fraction < 0.5),
        ("aggregate.top_n_items", config.aggregate.top_n_items > 0),
        ("aggregate.training_files", config.aggregate.training_files > 0),
        ("train.epochs", config.train.epochs > 0),
        ("train.batch_size", config.train.batch_size > 0),
        ("train.num_processes", config.train.num_processes > 0),
        ("train.hidden_dims", len(config.train.hidden_dims) >= 1),
        ("train.dropout", 0 <= config.train.dropout < 1),
        ("generate.items_per_user", config.generate.items_per_user > 0),
        ("generate.synthetic_weight", 0 < config.generate.synthetic_weight <= 1),
        ("evaluate.k", config.evaluate.k > 0),
        ("evaluate.bootstrap_samples", config.evaluate.bootstrap_samples > 0),
    ]
    for key, ok in checks:
        if not ok:
            raise ConfigError(f"{key} has an impossible value")
    if config.aggregate.valid_fraction + config.aggregate.test_fraction >= 0.9:
        raise ConfigError("aggregate.valid_fraction + aggregate.test_fraction must stay below 0.9")
    if config.aggregate.training_files < config.train.num_processes:
        raise ConfigError(
            "aggregate.training_files must be >= train.num_processes so no rank gets an empty shard"
        )
