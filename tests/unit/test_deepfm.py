"""The DeepFM classifier's encoding and network, without Spark (its fits: tests/integration)."""

import numpy as np
import pandas as pd
import torch

from samplegen.evaluate.classifiers.deepfm import UNSEEN, DeepFM, Encoding, packed


def test_encoding_indexes_by_frequency_imputes_medians_and_buckets_unseen_levels():
    train = pd.DataFrame(
        {
            "category": ["a", "b", "b", None],
            "events": [0, 9, None, 99],
            "price": [1.0, 3.0, 5.0, None],
        }
    )
    encoding = Encoding.fit(train, ["category"], ["events", "price"], counts=["events"])
    assert encoding.levels == {"category": {"b": 1, "a": 2}} and encoding.field_sizes == [3]
    assert encoding.medians["price"] == 3.0 and encoding.medians["events"] == np.log1p(9)
    cats, dense = encoding.encode(
        pd.DataFrame(
            {"category": ["a", "zzz", None], "events": [9, None, 0], "price": [None, 3.0, 1.0]}
        )
    )
    assert cats[:, 0].tolist() == [2, UNSEEN, UNSEEN]
    # A null is the median; standardised, the train rows have mean 0.
    assert dense[0, 1] == dense[1, 1] and dense[0, 0] == dense[1, 0]
    assert np.allclose(encoding.encode(train)[1].mean(axis=0), 0, atol=1e-6)


def test_a_zero_weight_row_does_not_move_the_weights():
    torch.manual_seed(0)
    net = DeepFM({"field_sizes": [3, 4], "n_numeric": 1, "dim": 2, "hidden": [4]})
    net.setup_training(0.1, 0.0, torch.device("cpu"))
    cats = np.array([[1, 2], [2, 3]])
    dense = np.zeros((2, 1), dtype=np.float32)
    rows = packed(cats, dense, np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    before = {k: v.clone() for k, v in net.module.state_dict().items()}
    net.train_step(rows, 0)
    after = net.module.state_dict()
    # Only the first row's levels (field 0 level 1, field 1 level 2 at offset 3) are updated.
    changed = (after["embedding.weight"] != before["embedding.weight"]).any(dim=1)
    assert changed.tolist() == [False, True, False, False, False, True, False]
    assert net.predict(cats, dense).shape == (2,)
