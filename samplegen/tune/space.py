"""The search space of ``samplegen tune``: which config keys a trial sets, and to what.

The space is the ``tune`` section, kept small and explicit: ``generate.strategy`` over
``tune.strategies``; for a generative strategy, ``train.model`` over the generators already
trained for the run; ``generate.synthetic_weight``; the users and dose a strategy reads
(``generate.max_user_items`` for all but ``new_items``; ``generate.items_per_user`` for the
strategies that add items to real users, ``generate.synthetic_users`` for those that write new
users, ``generate.new_item_users_scale`` for ``new_items``, which draws its own users); and for the
strategies that add items to real users, the use of those items, ``evaluate.score_with`` over
``tune.score_with`` (training rows only, or also the users' input at scoring time: profile
expansion). A trial's params are config keys, so the chosen ones are a recipe as they are
(:func:`recipe_overlay`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from samplegen.config import Config, ConfigError
from samplegen.models.store import has_model, model_dir
from samplegen.registry import INTERACTION_MODELS, StrategySpec, strategy

#: Keys a trial may set, in the order they are suggested.
STRATEGY, MODEL = "generate.strategy", "train.model"
WEIGHT, THIN = "generate.synthetic_weight", "generate.max_user_items"
ITEMS, USERS = "generate.items_per_user", "generate.synthetic_users"
SCORE_WITH, NEW_ITEM_DOSE = "evaluate.score_with", "generate.new_item_users_scale"


def trained_models(cfg: Config, run_id: str) -> list[str]:
    """The generators ``tune`` may draw from: ``tune.models``, or every one trained for the run.

    Tune never trains: a listed model without a trained folder is a config error.

    Raises:
        ConfigError: naming ``tune.models`` when a listed model has no trained model for
            ``run_id``, or when no interaction generator is trained for it while a generative
            strategy is searched.
    """

    def trained(name: str) -> bool:
        return has_model(model_dir(dataclasses.replace(cfg, train=_with_model(cfg, name)), run_id))

    if cfg.tune.models:
        missing = [name for name in cfg.tune.models if not trained(name)]
        if missing:
            raise ConfigError(
                f"tune.models lists {', '.join(missing)}, not trained for run {run_id!r}: run "
                f"`samplegen train --run-id {run_id} --set train.model=<model>` first"
            )
        return list(cfg.tune.models)
    found = [name for name in INTERACTION_MODELS if trained(name)]
    generative = [s for s in cfg.tune.strategies if strategy(s).generative]
    if generative and not found:
        raise ConfigError(
            f"tune.strategies lists generative strategies ({', '.join(generative)}) but run "
            f"{run_id!r} has no trained {'/'.join(INTERACTION_MODELS)} model: train one first, "
            "or list only baselines in tune.strategies"
        )
    return found


def _with_model(cfg: Config, name: str) -> Any:
    return dataclasses.replace(cfg.train, model=name)


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One key a trial sets: a choice among ``choices``, or a number within ``bounds``.

    ``source`` is the ``tune`` key that gives the choices or the bounds.
    """

    key: str
    source: str
    choices: tuple[Any, ...] = ()
    bounds: tuple[float, ...] = ()
    integer: bool = False
    log: bool = False

    @property
    def searched(self) -> bool:
        """Whether a trial sets this key at all (the ``tune`` section gives it values)."""
        return bool(self.choices or self.bounds)

    @property
    def varies(self) -> bool:
        """Whether the search has something to choose here (a single choice is fixed)."""
        return len(self.choices) > 1 or bool(self.bounds)

    def suggest(self, trial: Any) -> Any:
        """The key's value in ``trial`` (an ``optuna.Trial``)."""
        if self.choices:
            return trial.suggest_categorical(self.key, list(self.choices))
        low, high = self.bounds
        if self.integer:
            return trial.suggest_int(self.key, int(low), int(high), log=self.log)
        return trial.suggest_float(self.key, low, high, log=self.log)


def dimensions(cfg: Config, spec: StrategySpec, models: list[str]) -> list[Dimension]:
    """Every key a trial of strategy ``spec`` may set after the strategy, in suggestion order.

    Only the keys the strategy reads; those the ``tune`` section leaves empty are listed but
    not :attr:`Dimension.searched`. The one place that says what a strategy's trials search,
    so the empty-space check and the trials cannot disagree.
    """
    usable = tuple(m for m in models if m in spec.models)
    dims = [Dimension(MODEL, "tune.models", choices=usable)] if spec.generative else []
    dims.append(_ranged(cfg, WEIGHT, log=True))
    if spec.new_columns:
        dims.append(_ranged(cfg, NEW_ITEM_DOSE, log=True))
    else:
        dims.append(_ranged(cfg, THIN, integer=True))
        if spec.new_users:
            dims.append(_ranged(cfg, USERS, integer=True, log=True))
        else:
            dims.append(_ranged(cfg, ITEMS, integer=True))
    if not spec.new_users:
        dims.append(Dimension(SCORE_WITH, "tune.score_with", choices=tuple(cfg.tune.score_with)))
    return dims


def _ranged(cfg: Config, key: str, integer: bool = False, log: bool = False) -> Dimension:
    """Config key ``section.name`` searched over the range ``tune.name``."""
    name = key.split(".", 1)[1]
    bounds = tuple(getattr(cfg.tune, name))
    return Dimension(key, f"tune.{name}", bounds=bounds, integer=integer, log=log)


def check_space(cfg: Config, models: list[str]) -> None:
    """Refuse a space with nothing to choose.

    Nothing to choose: one strategy, and none of the keys it reads (:func:`dimensions`) has a
    range or more than one choice.

    Raises:
        ConfigError: naming ``tune`` and the ``tune`` keys the strategy reads.
    """
    if len(cfg.tune.strategies) != 1:
        return
    name = cfg.tune.strategies[0]
    dims = dimensions(cfg, strategy(name), models)
    if any(d.varies for d in dims):
        return
    raise ConfigError(
        f"tune: the search space is empty: {name} is the only strategy in tune.strategies and "
        "no key it reads has a range or more than one choice "
        f"({', '.join(d.source for d in dims)}): list more tune.strategies or give a range "
        "such as tune.synthetic_weight"
    )


def suggest(trial: Any, cfg: Config, models: list[str]) -> dict[str, Any]:
    """One trial's params, ``{config key: value}``: only the keys the strategy reads.

    ``trial`` is an ``optuna.Trial`` (its ``suggest_*`` methods).
    """
    params: dict[str, Any] = {STRATEGY: trial.suggest_categorical(STRATEGY, cfg.tune.strategies)}
    for dim in dimensions(cfg, strategy(params[STRATEGY]), models):
        if dim.searched:
            params[dim.key] = dim.suggest(trial)
    return params


def apply(cfg: Config, params: dict[str, Any]) -> Config:
    """``cfg`` with a trial's params (``section.key``) set."""
    changed = {
        section: dataclasses.replace(getattr(cfg, section), **values)
        for section, values in recipe_overlay(params).items()
    }
    return dataclasses.replace(cfg, **changed)


def recipe_overlay(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A trial's params as a config overlay (``{section: {key: value}}``), for a recipe file."""
    overlay: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        section, name = key.split(".", 1)
        overlay.setdefault(section, {})[name] = value
    return overlay
