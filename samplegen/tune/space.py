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
from samplegen.registry import INTERACTION_MODELS, strategy

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


def check_space(cfg: Config, models: list[str]) -> None:
    """Refuse a space with nothing to choose.

    Nothing to choose: one strategy, at most one model, no range, and no choice of
    ``evaluate.score_with`` (``tune.score_with`` counts only when a searched strategy adds
    items to real users).

    Raises:
        ConfigError: naming ``tune``.
    """
    tune = cfg.tune
    ranged = [tune.synthetic_weight, tune.items_per_user, tune.max_user_items, tune.synthetic_users]
    if any(strategy(name).new_columns for name in tune.strategies):
        ranged.append(tune.new_item_users_scale)
    adds_items = any(not strategy(name).new_users for name in tune.strategies)
    uses = len(tune.score_with) > 1 and adds_items
    choices = len(tune.strategies) > 1 or len(models) > 1 or uses
    if not choices and not any(ranged):
        raise ConfigError(
            "tune: the search space is empty (one strategy, one trained model, no range and no "
            "choice of tune.score_with): list more tune.strategies or give a range such as "
            "tune.synthetic_weight"
        )


def suggest(trial: Any, cfg: Config, models: list[str]) -> dict[str, Any]:
    """One trial's params, ``{config key: value}``: only the keys the strategy reads.

    ``trial`` is an ``optuna.Trial`` (its ``suggest_*`` methods).
    """
    tune = cfg.tune
    params: dict[str, Any] = {STRATEGY: trial.suggest_categorical(STRATEGY, tune.strategies)}
    spec = strategy(params[STRATEGY])
    usable = [m for m in models if m in spec.models]
    if spec.generative and usable:
        params[MODEL] = trial.suggest_categorical(MODEL, usable)
    if tune.synthetic_weight:
        low, high = tune.synthetic_weight
        params[WEIGHT] = trial.suggest_float(WEIGHT, low, high, log=True)
    if spec.new_columns:
        if tune.new_item_users_scale:
            low, high = tune.new_item_users_scale
            params[NEW_ITEM_DOSE] = trial.suggest_float(NEW_ITEM_DOSE, low, high, log=True)
    else:
        if tune.max_user_items:
            params[THIN] = trial.suggest_int(THIN, *tune.max_user_items)
        if spec.new_users and tune.synthetic_users:
            params[USERS] = trial.suggest_int(USERS, *tune.synthetic_users, log=True)
        if not spec.new_users and tune.items_per_user:
            params[ITEMS] = trial.suggest_int(ITEMS, *tune.items_per_user)
    if not spec.new_users and tune.score_with:
        params[SCORE_WITH] = trial.suggest_categorical(SCORE_WITH, tune.score_with)
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
