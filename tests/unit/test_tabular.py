import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from samplegen.models import REGISTRY
from samplegen.models.base import Generator
from samplegen.models.tabular import (
    ConditionalSampler,
    TabularGAN,
    TabularTransformer,
    fit_vgm,
)
from samplegen.train.loop import fit_frame

SMALL = {"generator_dims": [64, 64], "critic_dims": [64, 64], "embedding_dim": 32, "lr": 1e-3}
RARE_TOLERANCE = 0.03  # absolute share points for the rare category


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a busy 2-core machine two threads spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def ctr_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A small samples_ctr-like table: a 5% "rare" department, a label tied to it."""
    rng = np.random.default_rng(seed)
    dept = rng.choice(["a", "b", "c", "rare"], size=n, p=[0.5, 0.3, 0.15, 0.05])
    label = (rng.random(n) < np.where(dept == "rare", 0.7, 0.3)).astype(np.int32)
    price = np.where(dept == "a", rng.normal(5, 1, n), rng.normal(20, 2, n))
    events = rng.poisson(4, n).astype(np.int64)
    return pd.DataFrame({"dept": dept, "label": label, "price": price, "events": events})


def frame_with_nulls(n: int = 1500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    brand = rng.choice(["National", "Private"], size=n).astype(object)
    brand[rng.random(n) < 0.1] = None
    rate = rng.beta(2, 5, n)
    rate[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "brand": brand,
            "label": rng.integers(0, 2, n).astype(np.int32),
            "price": np.concatenate([rng.normal(-5, 1, n // 2), rng.normal(10, 0.5, n - n // 2)]),
            "user_events": rng.poisson(30, n).astype(np.int64),
            "item_purchase_rate": rate,
        }
    )


# -- transformer ------------------------------------------------------------------------------


def test_transformer_round_trip_keeps_values_dtypes_and_nulls():
    frame = frame_with_nulls()
    transformer = TabularTransformer.fit(frame, ["brand", "label"], seed=3)
    params = transformer.to_params()
    assert json.loads(json.dumps(params)) == params
    rebuilt = TabularTransformer.from_params(json.loads(json.dumps(params)))

    dense = rebuilt.transform(frame)
    assert dense.dtype == np.float32
    assert dense.shape == (len(frame), transformer.output_dim)
    np.testing.assert_array_equal(dense, transformer.transform(frame))  # seeded mode draws
    back = rebuilt.inverse_transform(dense)

    assert list(back.columns) == list(frame.columns)
    assert back.dtypes.to_dict() == frame.dtypes.to_dict()
    pd.testing.assert_series_equal(back["brand"], frame["brand"])  # None stays None
    np.testing.assert_array_equal(back["label"], frame["label"])
    np.testing.assert_array_equal(back["user_events"], frame["user_events"])  # ints back to ints
    # Values more than 4 std from their mode are clipped there (as in CTGAN): a tail value or
    # two of the normal modes; every other value comes back up to float32 rounding.
    error = np.abs(back["price"] - frame["price"])
    assert (error < 1e-4).mean() > 0.995
    assert error.max() < 0.5
    np.testing.assert_array_equal(
        back["item_purchase_rate"].isna(), frame["item_purchase_rate"].isna()
    )
    np.testing.assert_allclose(back["item_purchase_rate"], frame["item_purchase_rate"], atol=1e-5)


def test_continuous_nulls_get_a_null_mode_and_discrete_nulls_a_category():
    frame = frame_with_nulls()
    transformer = TabularTransformer.fit(frame, ["brand", "label"])
    spec = {c["name"]: c for c in transformer.columns}
    assert spec["brand"]["has_null"] and spec["item_purchase_rate"]["has_null"]
    assert not spec["price"]["has_null"]
    codes, scalars = transformer.encode(frame)
    rate = transformer.names.index("item_purchase_rate")
    null_mode = len(spec["item_purchase_rate"]["means"])
    nulls = frame["item_purchase_rate"].isna().to_numpy()
    np.testing.assert_array_equal(codes[:, rate] == null_mode, nulls)
    assert np.all(scalars[nulls, transformer.continuous.index(rate)] == 0.0)
    assert transformer.category_code("brand", None) == len(spec["brand"]["categories"])


def test_vgm_finds_both_modes_of_a_bimodal_column():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-5, 1, 3000), rng.normal(10, 0.5, 1000)])
    weights, means, stds = fit_vgm(x)
    assert len(means) == 2  # the eight spare components were emptied and pruned
    np.testing.assert_allclose(means, [-5, 10], atol=0.1)
    np.testing.assert_allclose(stds, [1, 0.5], rtol=0.1)
    np.testing.assert_allclose(weights, [0.75, 0.25], atol=0.02)


def test_vgm_matches_sklearns_bayesian_mixture_on_the_same_data():
    """The hand-written fit against sklearn's BayesianGaussianMixture (what CTGAN uses)."""
    from scipy.stats import norm
    from sklearn.mixture import BayesianGaussianMixture

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-5, 1, 3000), rng.normal(10, 0.5, 1000)])
    ours = fit_vgm(x)
    theirs = BayesianGaussianMixture(
        n_components=10,
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=1e-3,
        max_iter=500,
        random_state=0,
    ).fit(x[:, None])
    kept = theirs.weights_ > 0.005
    their_means = theirs.means_[kept, 0]
    their_weights = theirs.weights_[kept] / theirs.weights_[kept].sum()
    # Each of sklearn's kept components lies in one of our modes; the weights per mode agree.
    mode = np.abs(their_means[:, None] - ours[1][None, :]).argmin(axis=1)
    np.testing.assert_allclose(np.bincount(mode, their_weights, 2), ours[0], atol=0.01)
    np.testing.assert_allclose(their_means, ours[1][mode], atol=0.1)
    # Ours explains the data at least as well (mean log-likelihood per value): sklearn's
    # covariance prior widens the narrow mode.
    density = sum(w * norm.pdf(x, m, s) for w, m, s in zip(*ours, strict=True))
    assert np.log(density).mean() >= theirs.score(x[:, None]) - 1e-3


def test_transformer_samples_modes_from_the_posterior():
    rng = np.random.default_rng(1)
    # Two overlapping modes: values near the middle must be split between them.
    x = np.concatenate([rng.normal(0, 1, 2000), rng.normal(3, 1, 2000)])
    frame = pd.DataFrame({"x": x})
    transformer = TabularTransformer.fit(frame, [])
    codes, _ = transformer.encode(frame)
    middle = np.abs(x - 1.5) < 0.2
    shares = np.bincount(codes[middle, 0], minlength=2) / middle.sum()
    assert len(transformer.columns[0]["means"]) == 2
    assert shares.min() > 0.25  # drawn, not argmax
    codes_again, _ = transformer.encode(frame)
    np.testing.assert_array_equal(codes, codes_again)


# -- training-by-sampling ---------------------------------------------------------------------


def test_sampler_draws_rare_category_at_its_log_frequency_share():
    frame = ctr_frame(20_000)
    transformer = TabularTransformer.fit(frame, ["dept", "label"])
    codes, _ = transformer.encode(frame)
    sampler = ConditionalSampler.from_codes(codes, transformer)
    rng = np.random.default_rng(0)
    slots = sampler.sample_slots(200_000, rng)

    dept = transformer.names.index("dept")
    rare = sampler.offsets[0] + transformer.category_code("dept", "rare")
    counts = frame["dept"].value_counts()
    log_share = np.log1p(counts["rare"]) / np.log1p(counts).sum()
    # Half of the draws pick the dept column, and "rare" by its log-frequency share there.
    assert abs((slots == rare).mean() - 0.5 * log_share) < 0.005
    assert log_share > 3 * counts["rare"] / len(frame)  # much above the plain frequency

    rows = sampler.sample_rows(slots[:5000], rng, len(frame))
    drew_dept = sampler.slot_column[slots[:5000]] == 0
    np.testing.assert_array_equal(
        codes[rows[drew_dept], dept], slots[:5000][drew_dept] - sampler.offsets[0]
    )
    empirical = sampler.sample_slots(200_000, rng, empirical=True)
    assert abs((empirical == rare).mean() - 0.5 * counts["rare"] / len(frame)) < 0.004


# -- the GAN ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    frame = ctr_frame()
    model = TabularGAN.from_frame(frame, ["dept", "label"], params=SMALL, seed=0)
    before = model.conditional_loss()
    history = fit_frame(model, frame, epochs=20, batch_size=200, seed=0)
    return frame, model, before, history


def test_registered_and_params_are_plain():
    assert REGISTRY["tabular"] is TabularGAN
    model = TabularGAN.from_frame(ctr_frame(300), ["dept", "label"], params=SMALL)
    assert json.loads(json.dumps(model.params)) == model.params
    assert model.params["pac"] == 10 and model.params["betas"] == [0.5, 0.9]
    assert set(model.module.state_dict()) >= {"generator.2.weight", "critic.seq.0.weight"}


def test_loss_terms_are_finite_and_conditional_loss_falls(trained):
    _, model, before, history = trained
    assert len(history) == 20
    for record in history:
        for term in TabularGAN.loss_terms:
            assert math.isfinite(record[term])
    assert model.conditional_loss() < 0.5 * before


def test_rare_category_share_is_reproduced(trained):
    frame, model, _, _ = trained
    samples = model.sample(5000, seed=11)
    real_share = (frame["dept"] == "rare").mean()
    assert abs((samples["dept"] == "rare").mean() - real_share) < RARE_TOLERANCE
    assert samples.dtypes.to_dict() == frame.dtypes.to_dict()


def test_conditional_sampling_honours_the_condition(trained):
    _, model, _, _ = trained
    samples = model.sample(1000, seed=3, condition={"label": 1})
    assert len(samples) == 1000
    assert (samples["label"] == 1).all()
    rare = model.sample(300, seed=4, condition={"dept": "rare"})
    assert (rare["dept"] == "rare").all()
    with pytest.raises(ValueError, match="never occurs"):
        model.sample(10, condition={"label": 7})


def test_sampling_is_seeded(trained):
    _, model, _, _ = trained
    pd.testing.assert_frame_equal(model.sample(500, seed=5), model.sample(500, seed=5))
    assert not model.sample(500, seed=5).equals(model.sample(500, seed=6))


def test_save_load_round_trip_gives_identical_samples(trained, tmp_path):
    _, model, _, _ = trained
    model.save(tmp_path / "tabular")
    loaded = Generator.load(tmp_path / "tabular")
    assert isinstance(loaded, TabularGAN)
    pd.testing.assert_frame_equal(loaded.sample(800, seed=9), model.sample(800, seed=9))
    pd.testing.assert_frame_equal(
        loaded.sample(200, seed=9, condition={"label": 0}),
        model.sample(200, seed=9, condition={"label": 0}),
    )


def test_training_state_round_trip(trained):
    _, model, _, _ = trained
    other = TabularGAN(model.params)
    other.setup_training(1e-3, 0.0, torch.device("cpu"))
    other.load_training_state(model.training_state())
    assert set(model.training_state()["optimizers"]) == {"generator", "critic"}
    theirs = other.module.state_dict()
    for name, tensor in model.module.state_dict().items():
        assert torch.equal(tensor, theirs[name]), name


def test_same_seed_gives_same_weights():
    frame = ctr_frame(600, seed=2)

    def fit(seed):
        model = TabularGAN.from_frame(frame, ["dept", "label"], params=SMALL, seed=seed)
        fit_frame(model, frame, epochs=2, batch_size=100, seed=seed)
        return model.module.state_dict()

    first, second, third = fit(0), fit(0), fit(1)
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert any(not torch.equal(first[k], third[k]) for k in first if first[k].is_floating_point())


def test_batches_from_dense_rows_match_batches_from_the_frame():
    frame = ctr_frame(500)
    model = TabularGAN.from_frame(frame, ["dept", "label"], params=SMALL)
    dense = model.transformer.transform(frame)
    from_frame = next(model.batches(frame, 100, seed=1))
    from_dense = next(model.batches(dense, 100, seed=1))
    for key in from_frame:
        np.testing.assert_array_equal(from_frame[key], from_dense[key])
    batch = model.prepare_batch(from_frame, torch.device("cpu"))
    assert batch["real"].shape == (1, 100, model.transformer.output_dim)
    # Each real row carries the category it was drawn for.
    slots = batch["real_cond"][0].argmax(dim=1)
    pos = model.module.cond_pos[slots]
    assert torch.all(batch["real"][0, torch.arange(100), pos] == 1.0)
