"""The three registries: generation strategies, generators and downstream models.

Each entry is one line naming the implementing module, which is imported only when the entry
is used; so this module imports nothing heavy and :mod:`samplegen.config` derives its choices,
the CLI help and the README reference from it without starting Spark or torch. Adding a
strategy, a generator or a downstream model is one new module plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import IntEnum, unique
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
    #: Its rows are new users (ids ``syn:<run_id>:<n>``), which pass the privacy filter.
    new_users: bool = False
    #: Its new users keep a real user's item set, which the privacy filter would drop.
    copies_real_users: bool = False
    #: Its rows give catalogue items new at the train cut their first users, drawn by the
    #: strategy itself (dose ``generate.new_item_users_scale``, not ``generate.max_user_items``).
    new_columns: bool = False

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


@unique
class Stream(IntEnum):
    """The random-stream tag of each strategy that numbers its own rows.

    The values are part of what a run's seed means: changing one changes the rows a seed
    gives, so they are fixed here, once, next to the strategies: a new strategy that numbers
    its own rows adds its member here with its registry line (never reuse a value).
    ``densify`` and the quota strategies seed per real user with ``(seed, user_idx)`` and need
    no tag.
    """

    SYNTHETIC_USERS = 1
    OVERSAMPLE = 2
    MASK = 3
    SUBSTITUTE = 4
    INTERPOLATE_FIRST = 5
    INTERPOLATE_SECOND = 6
    LABEL_BALANCE = 7
    CROP = 8
    REORDER = 9
    HARD_NEGATIVES = 10
    CATALOGUE = 11
    CATALOGUE_TITLE = 12
    SEGMENT_BALANCE = 13
    INSERT = 20
    SUBSTITUTE_SEQ = 21
    #: Not a strategy: the donor draw of ``generate.ctr_fill`` (:mod:`samplegen.generate.ctr_fill`).
    CTR_FILL = 22


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
        "prepend",
        _G + "prepend",
        "pseudo-prior items before short-history users' first item: posterior draws chained "
        "backward by train-sequence transition scores",
        models=ENCODER_MODELS,
    ),
    StrategySpec(
        "insert",
        _G + "seq_edit",
        "new users: a thin user's time-ordered items with posterior draws inserted where the "
        "train-sequence transition scores are highest (needs privacy_filter=false)",
        models=ENCODER_MODELS,
        new_users=True,
        copies_real_users=True,
    ),
    StrategySpec(
        "substitute_seq",
        _G + "seq_edit",
        "new users: a thin user's time-ordered items with the weakest-transition items replaced "
        "by the best-fitting posterior draws (needs privacy_filter=false)",
        models=ENCODER_MODELS,
        new_users=True,
        copies_real_users=True,
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
        new_columns=True,
    ),
    StrategySpec(
        "label_balance",
        _G + "label_balance",
        "minority-label samples_ctr rows from train.model=tabular into synthetic_ctr",
        models=("tabular",),
        table=SYNTHETIC_CTR,
    ),
    StrategySpec(
        "segment_balance",
        _G + "segment_balance",
        "samples_ctr rows (both labels, the segment's real mix) from train.model=tabular for "
        "cold users, cold items and rare categories up to generate.segment_share, into "
        "synthetic_ctr",
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
        "hard_negatives",
        _G + "hard_negatives",
        "baseline for CTR: negative samples_ctr rows swapping a bought item for an unbought "
        "one of its category, into synthetic_ctr",
        models=NO_MODEL,
        table=SYNTHETIC_CTR,
    ),
    StrategySpec(
        "oversample",
        _G + "baselines",
        "baseline: copies of thin users (needs privacy_filter=false)",
        models=NO_MODEL,
        new_users=True,
        copies_real_users=True,
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
        copies_real_users=True,
    ),
)


def strategy(name: str) -> StrategySpec:
    """The registered strategy ``name``; a ``ValueError`` lists the known ones."""
    if name not in STRATEGIES:
        raise ValueError(
            f"unknown generate.strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}"
        )
    return STRATEGIES[name]


def strategy_table() -> str:
    """Markdown table of every strategy: models it takes, the table it writes, what it does."""
    lines = ["| strategy | train.model | writes | what it draws |", "|---|---|---|---|"]
    for spec in STRATEGIES.values():
        models = ", ".join(spec.models) if spec.models else "none (baseline)"
        lines.append(f"| `{spec.name}` | {models} | {spec.table} | {spec.help} |")
    return "\n".join(lines) + "\n"


# --- downstream recommenders (stage 4) ---------------------------------------------------------

#: What a downstream model learns from: ranked item lists (stage 4's utility), click labels
#: (CTR classifiers scored on ``samples_ctr`` with ``synthetic_ctr`` rows, ``evaluate.ctr_models``),
#: new items from their attributes without generated rows (``evaluate.item_cold_baselines``),
#: or time-ordered sequences (next-item models, :mod:`samplegen.evaluate.sequences`).
RECOMMENDER_KINDS = ("recommender", "classifier", "item_cold", "sequential")


@dataclass(frozen=True)
class RecommenderSpec(Entry):
    """An ``evaluate.recommenders`` entry: a downstream model fitted on real vs augmented data.

    The module defines ``make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) ->
    Recommender`` (see :mod:`samplegen.evaluate.recommenders`). ``stochastic`` models depend
    on their seed, so stage 4 fits them once per seed (``evaluate.repeats``); the others once.
    ``fits_in_spark`` models run their fit as Spark jobs, which leave the driver idle, so
    stage 4 starts them on background threads next to the in-process fits. ``validated``
    models choose their number of epochs on the valid split: stage 4 calls their
    ``fit(interactions, validate)`` with ``validate(model) -> valid NDCG@k``.
    """

    kind: str = "recommender"
    stochastic: bool = False
    fits_in_spark: bool = False
    validated: bool = False

    def __post_init__(self) -> None:
        if self.kind not in RECOMMENDER_KINDS:
            raise ValueError(f"recommender {self.name}: kind must be one of {RECOMMENDER_KINDS}")


_R = "samplegen.evaluate.recommenders."

RECOMMENDERS: dict[str, RecommenderSpec] = _registry(  # type: ignore[assignment]
    RecommenderSpec(
        "popularity", _R + "popularity", "the most-interacted items, the same for every user"
    ),
    RecommenderSpec("ease", _R + "ease", "EASE, a closed-form item-item linear autoencoder"),
    RecommenderSpec(
        "als", _R + "als", "Spark ALS, implicit feedback", stochastic=True, fits_in_spark=True
    ),
    RecommenderSpec(
        "multvae",
        _R + "multvae",
        "Mult-VAE trained in-process on the rows",
        stochastic=True,
        validated=True,
    ),
    RecommenderSpec(
        "content_knn",
        _R + "content_knn",
        "new items by cosine of their one-hot category/department/brand (and catalogue-text "
        "embedding with aggregate.text_embeddings) to the user's items",
        kind="item_cold",
    ),
    RecommenderSpec(
        "category_popularity",
        _R + "category_popularity",
        "new items by their category's train popularity times the user's category share",
        kind="item_cold",
    ),
    RecommenderSpec(
        "random_new", _R + "random_new", "new items in a seeded random order", kind="item_cold"
    ),
    RecommenderSpec(
        "logreg",
        "samplegen.evaluate.classifiers.logreg",
        "Spark ML logistic regression on one-hot categoricals and scaled numerics, regParam "
        "tuned on valid AUC",
        kind="classifier",
    ),
    RecommenderSpec(
        "gbt",
        "samplegen.evaluate.classifiers.gbt",
        "Spark ML gradient-boosted trees on indexed categoricals and numerics, maxDepth x "
        "maxIter tuned on valid AUC",
        kind="classifier",
    ),
    RecommenderSpec(
        "deepfm",
        "samplegen.evaluate.classifiers.deepfm",
        "torch DeepFM (field embeddings, FM + MLP) on rows collected to the driver, embedding "
        "size tuned and epochs early-stopped on valid AUC",
        kind="classifier",
        stochastic=True,
    ),
    RecommenderSpec(
        "sasrec",
        _R + "sasrec",
        "SASRec, causal self-attention over the time-ordered history, full softmax "
        "cross-entropy; scored on the next item (leave-last)",
        kind="sequential",
        stochastic=True,
    ),
)


def recommender(name: str) -> RecommenderSpec:
    """The registered recommender ``name``; a ``ValueError`` lists the known ones."""
    if name not in RECOMMENDERS:
        raise ValueError(f"unknown recommender {name!r}; known: {', '.join(RECOMMENDERS)}")
    return RECOMMENDERS[name]


def recommender_names(kind: str = "recommender") -> list[str]:
    """The registered downstream models of ``kind``, in registry order."""
    return [r.name for r in RECOMMENDERS.values() if r.kind == kind]


def recommender_help(kind: str = "recommender") -> str:
    """The ``evaluate.recommenders`` help line, built from the registry (seeded ones marked)."""
    return "; ".join(
        f"{r.name} ({r.help}{', stochastic' if r.stochastic else ''})"
        for r in RECOMMENDERS.values()
        if r.kind == kind
    )


# --- generators (train.model) ------------------------------------------------------------------

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
