"""``label_balance``: minority-label ``samples_ctr`` rows from the tabular generator.

The train rows of ``samples_ctr`` are counted per label; enough rows of the rarer label are
generated (the generator conditioned on it) for that label to reach ``target_share`` of
real + synthetic rows. Rows are drawn in chunks of :data:`CHUNK_ROWS` inside
``mapInPandas``; chunk ``c`` is seeded from ``(run seed, c)``, so the rows do not depend on
partitioning and a retried task writes the same rows. They go to ``synthetic_ctr`` with the
``samples_ctr`` feature columns; those the model does not generate are null here and filled by
the generate stage from real train rows (``generate.ctr_fill``, :mod:`samplegen.generate.ctr_fill`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from samplegen.config import Config
from samplegen.generate.context import DrawContext, Metrics, require_tabular
from samplegen.models.store import load_generator
from samplegen.registry import Stream
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_CTR

#: Rows generated per seeded chunk (one ``mapInPandas`` row each).
CHUNK_ROWS = 2048
#: ``synthetic_ctr`` columns a row carries (everything after the provenance columns).
ROW_SCHEMA = T.StructType(SYNTHETIC_CTR.schema.fields[5:])


def rows_needed(label_counts: dict[int, int], target_share: float) -> tuple[int, int]:
    """The minority label, and how many of its rows bring it to ``target_share``.

    Raises:
        ValueError: when there are no train rows, or only one label.
    """
    if len(label_counts) < 2:
        raise ValueError(
            f"label_balance needs both labels in samples_ctr train rows, found {label_counts}"
        )
    minority = min(label_counts, key=lambda label: (label_counts[label], label))
    total, have = sum(label_counts.values()), label_counts[minority]
    return minority, max(0, int(np.ceil((target_share * total - have) / (1 - target_share))))


def chunk_rows(model_dir: str, chunk: int, n_rows: int, label: int, seed: int) -> pd.DataFrame:
    """Rows ``[chunk * CHUNK_ROWS, ...)`` of the run: ``n_rows`` generated with ``label``."""
    generator = load_generator(model_dir)
    chunk_seed = int(
        np.random.SeedSequence([seed, int(Stream.LABEL_BALANCE), chunk]).generate_state(1)[0]
    )
    rows = generator.sample(n_rows, seed=chunk_seed, condition={"label": label})
    return ctr_frame(rows, chunk * CHUNK_ROWS, label)


def ctr_frame(rows: pd.DataFrame, first_row: int, label: int) -> pd.DataFrame:
    """Generated rows as :data:`ROW_SCHEMA` rows numbered from ``first_row``, all ``label``.

    ``label`` is the condition the rows were drawn with (``sample()`` honours it); columns the
    model does not generate are null here (the generate stage fills them: ``generate.ctr_fill``).
    """
    n_rows = len(rows)
    out = pd.DataFrame({"row": np.arange(n_rows, dtype=np.int64) + first_row})
    out["label"] = np.full(n_rows, label, dtype=np.int32)
    for field in ROW_SCHEMA.fields[2:]:
        values = rows[field.name] if field.name in rows.columns else pd.Series([None] * n_rows)
        if isinstance(field.dataType, T.LongType):
            values = pd.to_numeric(values).round().astype("Int64")
        out[field.name] = values.reset_index(drop=True)
    return out


def label_balance(
    spark: SparkSession, samples: DataFrame, model_dir: str, target_share: float, seed: int
) -> tuple[DataFrame, dict[str, object]]:
    """Generated minority-label rows (``synthetic_ctr`` columns after provenance) and figures."""
    counts = {
        int(r["label"]): int(r["count"])
        for r in samples.where(F.col("split") == "train").groupBy("label").count().collect()
    }
    label, n = rows_needed(counts, target_share)
    n_chunks = -(-n // CHUNK_ROWS)

    def sample_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for chunk in batch["id"]:
                size = min(CHUNK_ROWS, n - int(chunk) * CHUNK_ROWS)
                yield chunk_rows(model_dir, int(chunk), size, label, seed)

    rows = spark.range(n_chunks).mapInPandas(sample_partition, schema=ROW_SCHEMA)
    total = sum(counts.values())
    figures = {
        "minority_label": label,
        "real_label_share": round(counts[label] / total, 4),
        "target_label_share": target_share,
        "achieved_label_share": round((counts[label] + n) / (total + n), 4),
    }
    return rows, figures


def check(cfg: Config) -> None:
    """The rows come from a tabular model of ``samples_ctr``."""
    require_tabular(cfg, "samples_ctr", "samples_ctr rows")


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """Minority-label ``samples_ctr`` rows for ``synthetic_ctr``."""
    gen = ctx.gen
    samples = ctx.table(SAMPLES_CTR)
    return label_balance(ctx.spark, samples, ctx.model_dir, gen.label_target_share, gen.seed)
