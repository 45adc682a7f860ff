import numpy as np
import pandas as pd
import pytest
import torch

from samplegen.evaluate.disclosure import closest_jaccard
from samplegen.evaluate.explain import (
    NO_CATEGORY,
    OTHER_CATEGORIES,
    _principal_axes,
    category_shift,
    explain,
    nearest_real,
    other_targets,
    targets_from_metrics,
    top_categories,
    user_map,
)
from samplegen.evaluate.latent import latent_directions
from samplegen.models import make_generator

N_ITEMS = 12
#: items 0-3: category a, 4-7: b, 8-9: c, 10-11: no category
ITEM_CATEGORY = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, -1, -1])
NAMES = ["a", "b", "c"]


def _records(*rows):
    return [np.array(r, dtype=np.int64) for r in rows]


def _random_records(seed, n, n_items=N_ITEMS, low=1, high=6):
    rng = np.random.default_rng(seed)
    return [
        np.sort(rng.choice(n_items, size=rng.integers(low, high), replace=False)) for _ in range(n)
    ]


# --- user map ---------------------------------------------------------------------------------


def test_top_categories_by_hand():
    records = _records([0, 1, 4], [4, 5, 0, 1], [10, 11], [], [8, 10, 11])
    # ties go to the lower code; unknown items never win; no known item: -1
    assert top_categories(records, ITEM_CATEGORY).tolist() == [0, 0, -1, -1, 2]


def test_user_map_shapes_determinism_and_centring():
    real = _random_records(0, 40)
    synthetic = _random_records(1, 25)
    first = user_map(real, synthetic, N_ITEMS, ITEM_CATEGORY, seed=3)
    again = user_map(real, synthetic, N_ITEMS, ITEM_CATEGORY, seed=3)
    coords_real, coords_synthetic, top_real, top_synthetic = first
    assert coords_real.shape == (40, 2) and coords_synthetic.shape == (25, 2)
    assert top_real.shape == (40,) and top_synthetic.shape == (25,)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    # fitted on the real users: they are centred, and the first axis carries more variance
    np.testing.assert_allclose(coords_real.mean(axis=0), 0.0, atol=1e-12)
    assert coords_real[:, 0].var() >= coords_real[:, 1].var()
    np.testing.assert_array_equal(top_real, top_categories(real, ITEM_CATEGORY))


def test_user_map_puts_a_copy_on_its_original_and_samples_to_max_points():
    real = _random_records(2, 30)
    synthetic = [real[4].copy(), real[17].copy()]
    coords_real, coords_synthetic, _, _ = user_map(real, synthetic, N_ITEMS, ITEM_CATEGORY, 0)
    np.testing.assert_allclose(coords_synthetic, coords_real[[4, 17]], atol=1e-12)
    coords_real, coords_synthetic, top_real, _ = user_map(
        real, _random_records(3, 50), N_ITEMS, ITEM_CATEGORY, 0, max_points=10
    )
    assert coords_real.shape == (10, 2) and coords_synthetic.shape == (10, 2)
    assert top_real.shape == (10,)


def test_user_map_separates_two_groups_on_the_first_axis():
    # users of items 0-5 vs users of items 6-11: the first component splits them
    rng = np.random.default_rng(5)
    real = [np.sort(rng.choice(6, 3, replace=False)) + 6 * (i % 2) for i in range(40)]
    coords_real, _, _, _ = user_map(real, real[:2], N_ITEMS, ITEM_CATEGORY, 0)
    first, second = coords_real[0::2, 0], coords_real[1::2, 0]
    assert first.max() < second.min() or second.max() < first.min()


def test_principal_axes_match_a_full_svd():
    rng = np.random.default_rng(6)
    centres = rng.normal(size=(3, 40)) * [[3.0], [2.0], [1.0]]
    x = centres[rng.integers(3, size=300)] + 0.3 * rng.normal(size=(300, 40))
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    axes = _principal_axes(x, 2, np.random.default_rng(0))
    np.testing.assert_allclose(np.abs(np.sum(axes * vt[:2], axis=1)), 1.0, atol=1e-5)
    peaks = np.abs(axes).argmax(axis=1)
    assert (axes[[0, 1], peaks] > 0).all()  # the sign convention
    np.testing.assert_array_equal(axes, _principal_axes(x, 2, np.random.default_rng(0)))
    assert not _principal_axes(x[:1], 2, np.random.default_rng(0)).any()  # one row: no axes


def test_user_map_rejects_bad_input():
    with pytest.raises(ValueError, match="one code per item"):
        user_map(_records([0]), _records([1]), N_ITEMS, ITEM_CATEGORY[:5], 0)
    with pytest.raises(ValueError, match=r"\[0, 12\)"):
        user_map(_records([0]), _records([12]), N_ITEMS, ITEM_CATEGORY, 0)


# --- nearest real users -----------------------------------------------------------------------


def _brute_force(query, real):
    """Best Jaccard over the real records with a plain set loop, ties to the lower row."""
    best, best_row = -1.0, -1
    for row, record in enumerate(real):
        a, b = set(query.tolist()), set(record.tolist())
        union = len(a | b)
        similarity = len(a & b) / union if union else 0.0
        if similarity > best:
            best, best_row = similarity, row
    return best_row, best, len(set(query.tolist()) & set(real[best_row].tolist()))


def test_nearest_real_equals_a_brute_force_set_loop():
    real = _random_records(7, 60, n_items=30, low=2, high=9)
    synthetic = _random_records(8, 40, n_items=30, low=1, high=9) + [np.array([], np.int64)]
    frame = nearest_real(synthetic, real, 30, seed=1, n_sample=15)
    assert len(frame) == 15
    assert frame["jaccard"].is_monotonic_decreasing
    for r in frame.itertuples(index=False):
        row, similarity, shared = _brute_force(synthetic[r.synthetic], real)
        assert (r.nearest_real, r.shared_items) == (row, shared)
        assert r.jaccard == pytest.approx(similarity)
        assert r.synthetic_items == len(synthetic[r.synthetic])
        assert r.real_items == len(real[row])
        assert r.new_items == r.synthetic_items - r.shared_items
    # the same best similarity as the privacy metric's closest_jaccard
    queries = [synthetic[i] for i in frame["synthetic"]]
    np.testing.assert_allclose(frame["jaccard"], closest_jaccard(queries, real, 30))


def test_nearest_real_ids_determinism_and_copies():
    real = _records([0, 1, 2], [3, 4], [5, 6, 7])
    synthetic = _records([3, 4], [5, 6, 8], [], [9])
    frame = nearest_real(
        synthetic, real, 10, seed=0, synthetic_ids=np.array([100, 101, 102, 103]),
        real_ids=np.array([7, 8, 9]),
    )  # fmt: skip
    assert frame["synthetic"].tolist() == [100, 101, 103]  # the empty record is never sampled
    copy = frame.iloc[0]
    assert (copy.nearest_real, copy.jaccard, copy.shared_items, copy.new_items) == (8, 1.0, 2, 0)
    assert frame.iloc[1][["nearest_real", "shared_items", "new_items"]].tolist() == [9, 2, 1]
    assert frame.iloc[2]["jaccard"] == 0.0
    pd.testing.assert_frame_equal(frame, nearest_real(synthetic, real, 10, 0, **_ids()))
    assert len(nearest_real(synthetic, real, 10, seed=0, n_sample=2)) == 2
    with pytest.raises(ValueError, match="synthetic_ids"):
        nearest_real(synthetic, real, 10, 0, synthetic_ids=np.arange(2))


def _ids():
    return {"synthetic_ids": np.array([100, 101, 102, 103]), "real_ids": np.array([7, 8, 9])}


# --- category shift ---------------------------------------------------------------------------


def test_category_shift_by_hand():
    real = _records([0, 1, 4], [2, 8, 10])  # a 3, b 1, c 1, none 1 -> 6
    synthetic = _records([0, 4, 5, 6], [9])  # a 1, b 3, c 1 -> 5
    written = _records([5, 6], [9])  # b 2, c 1
    targets = {"b": 0.5, "c": 0.25, "head": 0.9}
    frame = category_shift(real, synthetic, ITEM_CATEGORY, NAMES, targets, written)
    by = frame.set_index("category")
    assert frame["category"].tolist() == ["a", "b", "c", NO_CATEGORY]  # real share order, none
    assert by["real_count"].tolist() == [3, 1, 1, 1]
    assert by["synthetic_count"].tolist() == [1, 3, 1, 0]
    np.testing.assert_allclose(by["real_share"], [3 / 6, 1 / 6, 1 / 6, 1 / 6])
    np.testing.assert_allclose(by["synthetic_share"], [1 / 5, 3 / 5, 1 / 5, 0])
    np.testing.assert_allclose(by["shift"], by["synthetic_share"] - by["real_share"])
    np.testing.assert_allclose(by["written_share"], [0, 2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(by["target_share"], [np.nan, 0.5, 0.25, np.nan])
    for column in ("real_share", "synthetic_share", "written_share"):
        assert frame[column].sum() == pytest.approx(1.0)
    assert other_targets(targets, frame) == {"head": 0.9}


def test_category_shift_pools_small_categories_and_drops_empty_rows():
    names = [f"k{i}" for i in range(6)]
    item_category = np.arange(6)
    real = _records([0, 1], [0, 2], [0, 3], [4])  # k0 3, k1 1, k2 1, k3 1, k4 1, k5 0
    synthetic = _records([0], [1])
    frame = category_shift(real, synthetic, item_category, names, {"k5": 0.6}, top=2)
    # k5 has the largest target, k0 ties k1 (synthetic 0.5) and wins on its lower code; the
    # rest pool; no unknown items, so no (none) row
    assert frame["category"].tolist() == ["k0", "k5", OTHER_CATEGORIES]
    pooled = frame.set_index("category").loc[OTHER_CATEGORIES]
    assert (pooled["real_count"], pooled["synthetic_count"]) == (4, 1)
    assert np.isnan(pooled["target_share"]) and frame["written_share"].isna().all()
    for column in ("real_share", "synthetic_share"):
        assert frame[column].sum() == pytest.approx(1.0)
    no_targets = category_shift(real, synthetic, item_category, names)
    assert no_targets["target_share"].isna().all()
    assert "k5" not in set(no_targets["category"])  # no interactions and no target


def test_targets_from_metrics():
    metrics = {
        "share_gap/max": 0.01,
        "real_share/a": 0.4,
        "target_share/a": 0.3,
        "target_share/(none)": 0.1,
        "strategy": "category_balance",
    }
    assert targets_from_metrics(metrics) == {"a": 0.3, "(none)": 0.1}
    assert targets_from_metrics({"strategy": "densify"}) is None


# --- latent directions ------------------------------------------------------------------------


def _linear_vae():
    """A Mult-VAE whose decoder is one linear layer: dim 0 lifts category a, dim 1 lifts b."""
    generator = make_generator("multvae", {"n_items": N_ITEMS, "hidden_dims": [4]})
    (layer,) = generator.module.decoder
    weight = torch.zeros(N_ITEMS, 4)
    weight[:4, 0] = torch.tensor([3.0, 2.9, 2.8, 2.7])
    weight[4:7, 1] = torch.tensor([1.0, 1.1, 1.2])
    weight[10, 1] = 1.05
    weight[:, 3] = 1e-3 * torch.arange(N_ITEMS, dtype=torch.float32)  # barely moves anything
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.linspace(-1, 1, N_ITEMS))  # cancels in the difference
    return generator


def test_latent_directions_on_a_hand_set_decoder():
    frame = latent_directions(_linear_vae(), ITEM_CATEGORY, NAMES, n_directions=2, top=4)
    assert frame.shape[0] == 2 * 4
    assert list(frame.columns) == [
        "direction", "effect", "name", "rank", "item", "category", "logit_diff",
    ]  # fmt: skip
    assert frame["direction"].unique().tolist() == [0, 1]  # strongest first
    first = frame[frame["direction"] == 0]
    assert first["item"].tolist() == [0, 1, 2, 3]
    assert set(first["category"]) == {"a"} and set(first["name"]) == {"a"}
    second = frame[frame["direction"] == 1]
    assert second["item"].tolist() == [6, 5, 10, 4]
    assert second["category"].tolist() == ["b", "b", NO_CATEGORY, "b"]
    assert set(second["name"]) == {"b"}
    # +2 e_0 vs -2 e_0 changes item 0's logit by 4 * 3.0, centred over the 12 items
    centred = 4 * 3.0 - 4 * (3.0 + 2.9 + 2.8 + 2.7) / N_ITEMS
    assert first["logit_diff"].iloc[0] == pytest.approx(centred, rel=1e-5)
    assert (frame["rank"].to_numpy() == np.tile(np.arange(1, 5), 2)).all()


@pytest.mark.parametrize("name", ["multvae", "cvae"])
def test_latent_directions_shape_and_names_on_a_tiny_model(name):
    params = {"n_items": N_ITEMS, "hidden_dims": [8, 6]}
    if name == "cvae":
        params |= {"item_categories": [0, 1, 2] * 4, "categories": ["x", "y", "z"]}
    generator = make_generator(name, params)
    real = _random_records(4, 20)
    frame = latent_directions(generator, ITEM_CATEGORY, NAMES, real=real)
    assert frame.shape == (4 * 5, 7)
    assert frame["direction"].nunique() == 4 and frame["direction"].between(0, 5).all()
    assert set(frame["category"]) <= {*NAMES, NO_CATEGORY}
    assert set(frame["name"]) <= {*NAMES, NO_CATEGORY}
    effects = frame.groupby("direction", sort=False)["effect"].first().to_numpy()
    assert (np.diff(effects) <= 0).all()
    again = latent_directions(generator, ITEM_CATEGORY, NAMES, real=real)
    pd.testing.assert_frame_equal(frame, again)
    assert latent_directions(generator, ITEM_CATEGORY, NAMES) is not None  # no users: fine


def test_latent_directions_skip_models_without_a_vae_latent_space():
    gan = make_generator(
        "gan",
        {
            "n_items": N_ITEMS,
            "item_categories": [0, 1, 2] * 4,
            "categories": NAMES,
            "noise_dim": 4,
            "generator_dims": [8],
            "critic_dims": [8],
        },
    )
    assert latent_directions(gan, ITEM_CATEGORY, NAMES) is None


# --- everything at once -----------------------------------------------------------------------


def test_explain_builds_every_part_or_says_why_not():
    real = _random_records(9, 30)
    trained_on = _random_records(10, 12)
    written = _random_records(11, 12, low=1, high=3)
    full = explain(
        real, trained_on, written, N_ITEMS, ITEM_CATEGORY, NAMES, 0, {"tail": 0.3}, _linear_vae()
    )
    assert full.notes == {} and full.other_targets == {"tail": 0.3}
    assert full.map_real.shape == (30, 2) and full.map_synthetic.shape == (12, 2)
    assert len(full.neighbours) == 10 and full.latent is not None
    assert full.category_shift["target_share"].isna().all()
    empty = explain(real, [], [], N_ITEMS, ITEM_CATEGORY, NAMES, 0, model_note="no model here")
    assert empty.map_real is None and empty.neighbours is None and empty.latent is None
    assert set(empty.notes) == {"map", "neighbours", "category_shift", "latent"}
    assert empty.notes["latent"] == "no model here"
