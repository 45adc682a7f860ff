import numpy as np
import pandas as pd

from samplegen.features.interactions import pack_rows, unpack_items, unpack_weights
from samplegen.features.profile import gini, head_share


def test_pack_round_trip():
    batch = pd.DataFrame(
        {"user_idx": [0, 1], "item_idx": [[1, 5, 9], [2]], "weight": [[1.0, 2.0, 3.0], [0.5]]}
    )
    packed = pack_rows(batch, max_items=10)
    assert list(packed["n_items"]) == [3, 1]
    assert unpack_items(packed["item_bytes"][0]).tolist() == [1, 5, 9]
    assert unpack_weights(packed["weight_bytes"][0]).tolist() == [1.0, 2.0, 3.0]
    assert unpack_items(packed["item_bytes"][1]).tolist() == [2]


def test_truncation_keeps_heaviest_items_in_index_order():
    batch = pd.DataFrame(
        {"user_idx": [0], "item_idx": [[1, 2, 3, 4, 5]], "weight": [[1.0, 5.0, 2.0, 5.0, 3.0]]}
    )
    packed = pack_rows(batch, max_items=3)
    assert unpack_items(packed["item_bytes"][0]).tolist() == [2, 4, 5]
    assert unpack_weights(packed["weight_bytes"][0]).tolist() == [5.0, 5.0, 3.0]


def test_gini_and_head_share():
    assert gini(np.ones(10)) == 0.0
    assert gini(np.array([0, 0, 0, 10])) == 0.75
    assert head_share(np.array([10, 0, 0, 0, 0])) == 1.0
    assert head_share(np.ones(10)) == 0.2
