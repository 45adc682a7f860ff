import numpy as np
import pandas as pd

from samplegen.features.text import embed_texts, item_texts


def test_item_text_joins_the_non_empty_attributes_in_order():
    items = pd.DataFrame(
        {
            "title": ["FLUID MILK", None],
            "category": ["MILK", "SOAP"],
            "department": ["DAIRY", " "],
            "brand": [None, "Private"],
        }
    )
    assert item_texts(items) == ["FLUID MILK | MILK | DAIRY", "SOAP | Private"]


def test_embeddings_are_unit_vectors_that_put_similar_items_close():
    vectors = embed_texts(["whole milk | dairy", "skim milk | dairy", "dish soap | household"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
