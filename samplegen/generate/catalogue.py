"""``catalogue``: synthetic item rows from the tabular generator, with quotas and constraints.

The tabular generator, trained on ``item_features`` (``train.tabular.table=item_features``),
draws items conditioned on a category. Each category gets a quota of the
``generate.synthetic_items`` rows: its share of the real catalogue raised to
``generate.balance_power`` (0 gives every category the same number, 1 keeps the real mix), so
rare categories get more rows than they would by sampling.

Every drawn row is checked against the constraints a catalogue user expects:

- ``unknown_value``: every categorical value is one the real catalogue has;
- ``unknown_pair``: the (department, category) pair exists in the real catalogue;
- ``price_out_of_range``: the price is positive and within the real prices' bounds, or within
  ``generate.catalogue_price_range`` when that is set.

Rows that break a constraint are counted by the first one they break and never written; the
category is drawn again, :data:`OVERDRAW` rows per missing one (up to :data:`MAX_ROUNDS`
rounds), until its quota is met. Each category's rows are drawn in one task seeded from
``(run seed, category)``, so a retried task writes the same rows.

Text attributes: each kept item gets a title from :class:`~samplegen.generate.titles.TitleModel`
(the words of its category's real titles, seeded by item number), and, when the real
``item_features`` carry text embeddings, the embedding of its own text: the same text
representation real items have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from samplegen.config import Config
from samplegen.features.text import with_text_embeddings
from samplegen.generate.context import DrawContext, Metrics, require_tabular
from samplegen.generate.titles import TitleModel
from samplegen.models.store import load_generator
from samplegen.registry import Stream
from samplegen.spark import pinned
from samplegen.tables import ITEM_FEATURES

#: Draws per category before a quota counts as not met.
MAX_ROUNDS = 5
#: After the first round, rows drawn per missing row.
OVERDRAW = 8
#: The title column of a kept row.
TITLE_FIELD = T.StructField("title", T.StringType(), True)
#: Constraint names, in the order rows are checked.
CONSTRAINTS = ("unknown_value", "unknown_pair", "price_out_of_range")
#: Columns of a drawn row (before provenance and the item id).
DRAWN_SCHEMA = T.StructType(
    [
        T.StructField("category_rank", T.IntegerType(), False),
        T.StructField("row", T.IntegerType(), False),
        T.StructField("category", T.StringType(), True),
        T.StructField("department", T.StringType(), True),
        T.StructField("brand", T.StringType(), True),
        T.StructField("price", T.DoubleType(), True),
        T.StructField("violation", T.StringType(), True),
    ]
)


@dataclass(frozen=True)
class CatalogueRules:
    """What real catalogue rows look like: the constraints synthetic rows must meet."""

    values: dict[str, frozenset[str]]
    pairs: frozenset[tuple[str, str]]
    price_low: float
    price_high: float

    @classmethod
    def from_items(cls, items: pd.DataFrame, price_range: Sequence[float] = ()) -> CatalogueRules:
        """Vocabularies and department-category pairs of the real items, and the price bounds.

        The bounds are ``price_range`` (low, high) when given, else the real items' lowest and
        highest positive prices.
        """
        prices = items["mean_price"].dropna()
        prices = prices[prices > 0]
        if price_range:
            low, high = (float(p) for p in price_range)
        else:
            low = float(prices.min()) if len(prices) else 0.0
            high = float(prices.max()) if len(prices) else float("inf")
        return cls(
            values={
                c: frozenset(items[c].dropna().astype(str))
                for c in ("category", "department", "brand")
            },
            pairs=frozenset(
                zip(items["department"].astype(str), items["category"].astype(str), strict=True)
            ),
            price_low=low,
            price_high=high,
        )

    def violation(self, row: pd.Series) -> str | None:
        """The first constraint ``row`` breaks, or ``None``."""
        for column, allowed in self.values.items():
            if pd.isna(row[column]) or str(row[column]) not in allowed:
                return "unknown_value"
        if (str(row["department"]), str(row["category"])) not in self.pairs:
            return "unknown_pair"
        price = row["price"]
        if pd.isna(price) or not (0 < self.price_low <= price <= self.price_high):
            return "price_out_of_range"
        return None


def quotas(category_counts: pd.Series, total: int, power: float) -> pd.Series:
    """Rows per category: ``total`` split by ``share ** power`` (largest remainders).

    Raises:
        ValueError: when there is no category to draw for.
    """
    if category_counts.empty:
        raise ValueError("catalogue needs item_features rows with a category; none has one")
    weights = (category_counts / category_counts.sum()) ** power
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    remainder = (exact - counts).sort_values(ascending=False, kind="stable")
    counts[remainder.index[: total - int(counts.sum())]] += 1
    return counts


def draw_category(
    model_dir: str, category: str, rank: int, quota: int, rules: CatalogueRules, seed: int
) -> pd.DataFrame:
    """Up to ``MAX_ROUNDS`` draws of ``category`` rows: every row drawn, with its violation.

    The first ``quota`` valid rows are numbered ``row`` 0..quota-1; invalid rows (and valid
    rows past the quota, which are not kept) get ``row`` -1.
    """
    generator = load_generator(model_dir)
    parts, valid = [], 0
    for round_ in range(MAX_ROUNDS):
        if valid >= quota:
            break
        stream = np.random.SeedSequence([seed, int(Stream.CATALOGUE), rank, round_]).generate_state(
            1
        )[0]
        # Later rounds draw more than is missing: the acceptance rate was below one.
        size = quota - valid if round_ == 0 else min(OVERDRAW * (quota - valid) + 16, 50 * quota)
        drawn = generator.sample(size, seed=int(stream), condition={"category": category})
        drawn = drawn.rename(columns={"mean_price": "price"})
        for column in ("department", "brand", "price"):
            if column not in drawn.columns:
                drawn[column] = None
        drawn["violation"] = [rules.violation(row) for _, row in drawn.iterrows()]
        ok = drawn["violation"].isna().to_numpy()
        numbers = np.full(len(drawn), -1)
        numbers[ok] = np.arange(valid, valid + int(ok.sum()))
        numbers[numbers >= quota] = -1
        drawn["row"] = numbers
        valid += int(ok.sum())
        parts.append(drawn)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    out["category_rank"] = rank
    out["price"] = pd.to_numeric(out["price"], errors="coerce").astype(float)
    for column in ("category", "department", "brand"):
        out[column] = out[column].map(lambda v: None if pd.isna(v) else str(v))
    return out[[f.name for f in DRAWN_SCHEMA.fields]]


def catalogue_items(
    spark: SparkSession,
    items: DataFrame,
    model_dir: str,
    total: int,
    power: float,
    seed: int,
    run_id: str,
    price_range: Sequence[float] = (),
) -> tuple[DataFrame, dict[str, object]]:
    """Valid synthetic items and figures.

    Rows are ``(item_id, category, department, brand, price, title, text_embedding)``; the
    embedding is null unless the real items have one. Item ids are ``syn-item:<run_id>:<n>``,
    numbered category by category (largest real category first). The figures: each
    category's quota and real share, the rows written per category, the violations per
    constraint (drawn but never written), and how many titles were written and how many of
    them copy a real title of their category. ``price_range`` overrides the real price bounds
    (see :meth:`CatalogueRules.from_items`).
    """
    frame = items.select("category", "department", "brand", "mean_price", "title").toPandas()
    rules = CatalogueRules.from_items(frame, price_range)
    counts = frame["category"].dropna().astype(str).value_counts().sort_index()
    counts = counts.sort_values(ascending=False, kind="stable")
    per_category = quotas(counts, total, power)
    plan = [(str(c), rank, int(per_category[c])) for rank, c in enumerate(counts.index)]
    plan = [p for p in plan if p[2] > 0]
    offsets = np.cumsum([0] + [q for _, _, q in plan])

    def draw_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for task in batch["id"]:
                category, rank, quota = plan[int(task)]
                yield draw_category(model_dir, category, rank, quota, rules, seed)

    drawn = spark.range(len(plan), numPartitions=max(1, min(len(plan), 8))).mapInPandas(
        draw_partition, schema=DRAWN_SCHEMA
    )
    # Kept for the count and the rows; draws are seeded, so a recomputed partition is equal.
    drawn = drawn.persist()
    violations = {
        r["violation"]: int(r["count"])
        for r in drawn.where(F.col("violation").isNotNull()).groupBy("violation").count().collect()
    }
    offset_of = F.element_at(
        F.array(*[F.lit(int(o)) for o in offsets[:-1]]), F.col("category_rank") + 1
    )
    kept = drawn.where(F.col("violation").isNull() & (F.col("row") >= 0)).select(
        F.concat(F.lit(f"syn-item:{run_id}:"), (offset_of + F.col("row")).cast("string")).alias(
            "item_id"
        ),
        "category",
        "department",
        "brand",
        "price",
    )
    # Item rows are few (a catalogue, not a log): collected once, so the draw can be released.
    titles = TitleModel.fit(frame)
    kept_rows = with_titles(kept.toPandas(), titles, seed)
    drawn.unpersist()
    kept = pinned(
        spark.createDataFrame(kept_rows, schema=T.StructType(kept.schema.fields + [TITLE_FIELD]))
    )
    if items.where(F.col("text_embedding").isNotNull()).isEmpty():
        kept = kept.withColumn("text_embedding", F.lit(None).cast("array<float>"))
    else:
        kept = with_text_embeddings(kept)
    written = {str(c): int(n) for c, n in kept_rows["category"].value_counts().items()}
    metrics: dict[str, object] = {
        "synthetic_items_target": total,
        "synthetic_items_written": sum(written.values()),
        "violations": {name: violations.get(name, 0) for name in CONSTRAINTS},
        "titles": {
            "written": int(kept_rows["title"].notna().sum()),
            "copies_of_real": sum(
                titles.copies(c, t)
                for c, t in zip(kept_rows["category"], kept_rows["title"], strict=True)
            ),
        },
        "categories": {
            category: {
                "real_share": round(float(counts[category] / counts.sum()), 6),
                "quota": quota,
                "written": written.get(category, 0),
            }
            for category, _, quota in plan
        },
    }
    return kept, metrics


def with_titles(rows: pd.DataFrame, titles: TitleModel, seed: int) -> pd.DataFrame:
    """``rows`` plus a ``title`` per item, drawn from the stream ``(seed, item number)``."""
    numbers = rows["item_id"].str.rsplit(":", n=1).str[1].astype(int)
    return rows.assign(
        title=[
            titles.sample(category, np.random.default_rng([seed, int(Stream.CATALOGUE_TITLE), n]))
            for category, n in zip(rows["category"], numbers, strict=True)
        ]
    )


def check(cfg: Config) -> None:
    """The rows come from a tabular model of ``item_features`` that knows the category."""
    require_tabular(cfg, "item_features", "item rows")
    if "category" not in cfg.train.tabular.discrete_columns:
        raise ValueError(
            "generate.strategy=catalogue draws items per category: add category to "
            "train.tabular.discrete_columns"
        )


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """Synthetic item rows for ``synthetic_items``."""
    gen = ctx.gen
    return catalogue_items(
        ctx.spark,
        ctx.table(ITEM_FEATURES),
        ctx.model_dir,
        gen.synthetic_items,
        gen.balance_power,
        gen.seed,
        ctx.run_id,
        gen.catalogue_price_range,
    )
