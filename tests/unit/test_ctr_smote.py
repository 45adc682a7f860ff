"""The null handling of the SMOTE-NC baseline (issue 22), on a hand-built frame."""

import numpy as np
import pandas as pd

from samplegen.evaluate.ctr_smote import MISSING, imputed


def test_imputed_fills_numeric_medians_and_a_missing_level():
    frame = pd.DataFrame(
        {
            "brand": ["b1", None, "b2", None],
            "price": [1.0, np.nan, 3.0, 10.0],
            "user_events": pd.array([4, 2, None, 9], dtype="Int64"),
            "empty": [np.nan] * 4,
        }
    )
    out = imputed(frame, ["brand"], ["price", "user_events", "empty"])
    assert out["brand"].tolist() == ["b1", MISSING, "b2", MISSING]
    assert out["price"].tolist() == [1.0, 3.0, 3.0, 10.0]  # median of 1, 3, 10
    assert out["user_events"].tolist() == [4.0, 2.0, 4.0, 9.0]  # median of 4, 2, 9
    assert out["empty"].tolist() == [0.0] * 4  # no value to take a median of
    assert out.notna().all().all() and out["price"].dtype == np.float64
    assert frame["brand"].isna().sum() == 2  # the input is left as it was
