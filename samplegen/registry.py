"""The three registries: generation strategies, generators and downstream models.

Each entry is one line naming the implementing module, which is imported only when the entry
is used; so this module imports nothing heavy and :mod:`samplegen.config` derives its choices,
the CLI help and the README reference from it without starting Spark or torch. Adding a
strategy, a generator or a downstream model is one new module plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

#: Generators that draw items for users (users' item sets as rows).
INTERACTION_MODELS = ("multvae", "cvae", "gan")
#: Generators with an encoder, so a user can be placed in latent space (interpolate, new_items).
ENCODER_MODELS = ("multvae", "cvae")
#: No trained model: the augment/ baselines.
NO_MODEL = ()

#: Tables a strategy writes its rows to.
SYNTHETIC_INTERACTIONS = "synthetic_interactions"
SYNTHETIC_CTR = "synthetic_ctr"
SYNTHETIC_ITEMS = "synthetic_items"


@dataclass(frozen=True)
class Entry:
    """A registered implementation: its name, its one-line help and the module holding it."""

    name: str
    module: str
    help: str

    def load(self) -> ModuleType:
        """The implementing module (imported on first use)."""
        return importlib.import_module(self.module)


@dataclass(frozen=True)
class StrategySpec(Entry):
    """A ``generate.strategy``: which models it accepts and which table it writes.

    The module defines ``draw(ctx: DrawContext) -> tuple[DataFrame, dict]`` (see
    :mod:`samplegen.generate.context`). ``models`` empty means the strategy needs no trained
    model (a non-generative baseline).
    """

    models: tuple[str, ...] = INTERACTION_MODELS
    table: str = SYNTHETIC_INTERACTIONS
    new_users: bool = False

    @property
    def generative(self) -> bool:
        """Whether the strategy draws from a trained model."""
        return bool(self.models)


def _registry(*entries: Entry) -> dict[str, Entry]:
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"registered twice: {', '.join(duplicates)}")
    return {e.name: e for e in entries}


_G = "samplegen.generate."

STRATEGIES: dict[str, StrategySpec] = _registry(  # type: ignore[assignment]
    StrategySpec("densify", _G + "densify", "more items for thin users"),
    StrategySpec(
        "long_tail",
        _G + "quotas",
        "densify with quotas towards a target share of tail items",
    ),
    StrategySpec(
        "category_balance",
        _G + "quotas",
        "densify with quotas towards target category shares",
    ),
    StrategySpec(
        "cross_category",
        _G + "cross_category",
        "densify from categories the user has not crossed yet",
    ),
    StrategySpec(
        "synthetic_users",
        _G + "synthetic_users",
        "new users from thin users' posteriors",
        new_users=True,
    ),
    StrategySpec(
        "interpolate",
        _G + "interpolate",
        "new users between two thin users in latent space",
        models=ENCODER_MODELS,
        new_users=True,
    ),
    StrategySpec(
        "new_items",
        _G + "new_items",
        "interactions for catalogue items outside the vocabulary, from a map of their "
        "attributes to the model's item rows",
        models=ENCODER_MODELS,
    ),
    StrategySpec(
        "label_balance",
        _G + "label_balance",
        "minority-label samples_ctr rows from train.model=tabular into synthetic_ctr",
        models=("tabular",),
        table=SYNTHETIC_CTR,
    ),
    StrategySpec(
        "catalogue",
        _G + "catalogue",
        "item rows per category from a tabular model of item_features into synthetic_items",
        models=("tabular",),
        table=SYNTHETIC_ITEMS,
    ),
    StrategySpec(
        "oversample",
        _G + "baselines",
        "baseline: copies of thin users (needs privacy_filter=false)",
        models=NO_MODEL,
        new_users=True,
    ),
    StrategySpec(
        "mask",
        _G + "baselines",
        "baseline: new users keeping a share of a thin user's items",
        models=NO_MODEL,
        new_users=True,
    ),
    StrategySpec(
        "substitute",
        _G + "baselines",
        "baseline: a thin user's items partly swapped within their category",
        models=NO_MODEL,
        new_users=True,
    ),
    StrategySpec(
        "crop",
        _G + "baselines",
        "baseline: a stretch of a thin user's items in time order",
        models=NO_MODEL,
        new_users=True,
    ),
    StrategySpec(
        "reorder",
        _G + "baselines",
        "baseline: a stretch of a thin user's items shuffled in time order (same items, so "
        "needs privacy_filter=false)",
        models=NO_MODEL,
        new_users=True,
    ),
)


def strategy(name: str) -> StrategySpec:
    """The registered strategy ``name``; a ``ValueError`` lists the known ones."""
    if name not in STRATEGIES:
        raise ValueError(
            f"unknown generate.strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}"
        )
    return STRATEGIES[name]


def strategy_help() -> str:
    """The ``generate.strategy`` help line, built from the registry."""
    return "; ".join(f"{s.name} ({s.help})" for s in STRATEGIES.values())


# --------------------------------------------------------------------------------------------
# Generators (``train.model``)
# --------------------------------------------------------------------------------------------

#: Generator families: users' item sets as rows, or the rows of a feature table.
INTERACTION = "interaction"
TABULAR = "tabular"


@dataclass(frozen=True)
class GeneratorSpec(Entry):
    """A ``train.model``: the class in :attr:`module` and what it learns.

    ``family`` is :data:`INTERACTION` (users' item sets; the item-drawing strategies) or
    :data:`TABULAR` (rows of ``train.tabular.table``); training reads its batches by family.
    """

    class_name: str = ""
    family: str = INTERACTION

    def generator_class(self) -> type:
        """The implementing class (its module imported on first use)."""
        return getattr(self.load(), self.class_name)


_M = "samplegen.models."

GENERATORS: dict[str, GeneratorSpec] = _registry(  # type: ignore[assignment]
    GeneratorSpec("multvae", _M + "multvae", "users' items; Mult-VAE", "MultVAE"),
    GeneratorSpec(
        "cvae", _M + "cvae", "users' items; VAE conditioned on category mix", "ConditionalVAE"
    ),
    GeneratorSpec(
        "gan", _M + "gan", "users' items; conditional WGAN-GP (CFGAN)", "ConditionalWGAN"
    ),
    GeneratorSpec(
        "tabular",
        _M + "tabular",
        "rows of train.tabular.table; CTGAN-style",
        "TabularGAN",
        family=TABULAR,
    ),
)


def generator(name: str) -> GeneratorSpec:
    """The registered generator ``name``; a ``ValueError`` lists the known ones."""
    if name not in GENERATORS:
        raise ValueError(f"unknown model {name!r} (train.model); known: {', '.join(GENERATORS)}")
    return GENERATORS[name]


def generator_help() -> str:
    """The ``train.model`` help line, built from the registry."""
    return "generator: " + "; ".join(f"{g.name} ({g.help})" for g in GENERATORS.values())
