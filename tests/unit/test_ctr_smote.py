"""The null handling and neighbours of the SMOTE-NC baseline (issue 22), on hand-built frames."""

import numpy as np
import pandas as pd
import pytest

from samplegen.evaluate.ctr_smote import MISSING, imputed, smote_nc_frame


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


def test_smote_nc_frame_makes_the_rows_asked_for_from_real_values():
    rng = np.random.default_rng(0)
    n = 40
    sample = pd.DataFrame(
        {
            "label": [1] * 10 + [0] * (n - 10),
            "brand": rng.choice(["b1", "b2", None], n),
            "price": rng.uniform(2.0, 9.0, n),
            "user_events": rng.integers(1, 50, n).astype("float64"),
        }
    )
    sample.loc[20, "price"] = np.nan  # a negative: imputed, not interpolated from
    new = smote_nc_frame(
        sample, ["brand"], ["price", "user_events"], {1: 25}, seed=3, k_neighbors=5
    )
    assert new["label"].tolist() == [1] * 25 and list(new.columns) == list(sample.columns)
    positives = sample[sample["label"] == 1]
    for column in ("price", "user_events"):  # interpolated between the positives' values
        values = new[column].astype("float64")
        assert values.between(positives[column].min(), positives[column].max()).all()
    assert set(new["brand"]) <= {"b1", "b2", MISSING}
    again = smote_nc_frame(
        sample, ["brand"], ["price", "user_events"], {1: 25}, seed=3, k_neighbors=5
    )
    pd.testing.assert_frame_equal(new, again)  # seeded


def test_smote_k_neighbors_reaches_smotenc():
    """Positives in pairs far apart: with one neighbour a new row stays between a pair's two
    rows; with three it may lie between pairs."""
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0], [50.0, 50.0]])
    pairs = np.concatenate([centres, centres + 0.5])
    n_negatives = 12
    sample = pd.DataFrame(
        {
            "label": [1] * len(pairs) + [0] * n_negatives,
            "brand": ["b1"] * (len(pairs) + n_negatives),
            "price": np.r_[pairs[:, 0], np.linspace(0, 50, n_negatives)],
            "user_events": np.r_[pairs[:, 1], np.linspace(0, 50, n_negatives)],
        }
    )

    def distance_to_a_pair(k: int) -> np.ndarray:
        new = smote_nc_frame(sample, ["brand"], ["price", "user_events"], {1: 40}, 3, k)
        points = new[["price", "user_events"]].astype("float64").to_numpy()
        return np.abs(points[:, None, :] - centres[None, :, :]).max(axis=2).min(axis=1)

    assert (distance_to_a_pair(1) <= 0.5 + 1e-9).all()
    assert (distance_to_a_pair(3) > 1.0).any()
    # More neighbours than a label has other rows: SMOTENC itself refuses.
    with pytest.raises(ValueError):
        smote_nc_frame(sample, ["brand"], ["price", "user_events"], {1: 4}, 3, len(pairs))
