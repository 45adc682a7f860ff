"""The conditional generators (cvae, gan), category sampling and validation-based selection."""

import numpy as np
import pytest
import torch

from samplegen.evaluate.metrics import ndcg_at_k, top_k_items
from samplegen.models import REGISTRY, Generator, make_generator
from samplegen.models.sampling import category_mix, quota_counts, quota_top_k
from samplegen.train.loaders import sparse_rows
from samplegen.train.loop import train_loop
from samplegen.train.validation import ValidationSet, validation_ndcg

N_ITEMS = 40
N_CATEGORIES = 4
ITEM_CATEGORIES = [i // 10 for i in range(N_ITEMS)]
CATEGORIES = ["a", "b", "c", "d"]


def category_batches(seed, batch_size=32):
    """Users who buy 4-6 items of one category, plus one item of another (noise)."""
    rng = np.random.default_rng(seed)
    while True:
        x = torch.zeros(batch_size, N_ITEMS)
        for row in range(batch_size):
            home = rng.integers(N_CATEGORIES)
            items = rng.choice(10, size=rng.integers(4, 7), replace=False) + 10 * home
            x[row, torch.as_tensor(items)] = 1.0
            x[row, rng.integers(N_ITEMS)] = 1.0
        yield x


def conditional(name, **params):
    base = {
        "n_items": N_ITEMS,
        "item_categories": ITEM_CATEGORIES,
        "categories": CATEGORIES,
    }
    if name == "cvae":
        base |= {"hidden_dims": [32, 8], "anneal_steps": 50}
    else:
        base |= {"noise_dim": 8, "generator_dims": [64], "critic_dims": [64], "critic_steps": 2}
    return make_generator(name, base | params)


def test_registry_has_every_interaction_model():
    assert {"multvae", "cvae", "gan"} <= set(REGISTRY)
    with pytest.raises(ValueError, match="train.model"):
        make_generator("nope", {})


def test_registry_entries_and_defaults_come_from_the_config():
    from samplegen.config import GanConfig, TrainConfig
    from samplegen.registry import GENERATORS, INTERACTION_MODELS, generator

    assert set(REGISTRY) == set(GENERATORS)
    interaction = [g.name for g in GENERATORS.values() if g.family == "interaction"]
    assert tuple(interaction) == INTERACTION_MODELS
    with pytest.raises(ValueError, match="known: multvae"):
        generator("nope")
    vae = make_generator("multvae", {"n_items": 5})
    assert vae.params["dropout"] == TrainConfig().dropout
    assert vae.params["hidden_dims"] == TrainConfig().hidden_dims
    gan = conditional("gan")
    assert gan.params["zr_weight"] == GanConfig().zr_weight and gan.critic_steps == 2


def test_cvae_rejects_a_category_list_of_the_wrong_length():
    with pytest.raises(ValueError, match="one category per item"):
        make_generator("cvae", {"n_items": 5, "item_categories": [0, 1], "categories": ["a"]})


def _home_share(generator, seed):
    """Share of drawn items in the category a user mostly buys (chance: about 0.15)."""
    x = next(category_batches(seed))
    categories = torch.as_tensor(ITEM_CATEGORIES)
    home = (x @ torch.nn.functional.one_hot(categories, N_CATEGORIES).float()).argmax(1)
    rngs = [np.random.default_rng([seed, i]) for i in range(x.shape[0])]
    drawn = torch.as_tensor(generator.sample_items(x, 3, x.bool(), rngs))
    return (categories[drawn] == home[:, None]).float().mean().item()


def test_cvae_learns_the_structure_and_decodes_the_requested_category():
    torch.manual_seed(0)
    generator = conditional("cvae")
    history = train_loop(generator, category_batches(0), epochs=15, steps_per_epoch=20)
    assert all(np.isfinite(r[t]) for r in history for t in generator.loss_terms)
    assert history[-1]["nll"] < history[0]["nll"] - 0.5
    assert _home_share(generator, 1) > 0.6
    shares = []
    for category in range(N_CATEGORIES):
        mix = np.eye(N_CATEGORIES)[category]
        rngs = [np.random.default_rng([5, i]) for i in range(50)]
        drawn = generator.sample_users(mix, 4, rngs, quotas=False)
        share = np.mean(np.asarray(ITEM_CATEGORIES)[drawn] == category)
        shares.append(share)
    # Chance is 0.25; the decoder follows the condition even for latent codes from the prior.
    assert min(shares) > 0.4, shares


def test_gan_learns_the_category_structure():
    torch.manual_seed(0)
    generator = conditional("gan")
    before = _home_share(generator, 1)
    history = train_loop(generator, category_batches(0), epochs=6, steps_per_epoch=50)
    assert all(np.isfinite(r[t]) for r in history for t in generator.loss_terms)
    # The critic's Wasserstein estimate shrinks as the generator catches up.
    assert history[-1]["critic_loss"] < history[0]["critic_loss"]
    assert before < 0.3 < 0.5 < _home_share(generator, 1)


@pytest.mark.parametrize("name", ["cvae", "gan"])
def test_quota_sampling_meets_the_requested_mix(name):
    torch.manual_seed(3)
    generator = conditional(name)
    train_loop(generator, category_batches(3), epochs=2, steps_per_epoch=5)
    x = next(category_batches(4, batch_size=20))
    target = np.tile([0.5, 0.3, 0.2, 0.0], (20, 1))
    rngs = [np.random.default_rng([1, i]) for i in range(20)]
    drawn = generator.sample_items(x, 10, x.bool(), rngs, mix=target, quotas=True)
    categories = np.asarray(ITEM_CATEGORIES)[drawn]
    for row in range(20):
        counts = np.bincount(categories[row], minlength=4)
        unowned = np.bincount(np.asarray(ITEM_CATEGORIES)[x[row].numpy() == 0], minlength=4)
        # A category with fewer unowned items than its quota gives the rest to other ones.
        assert (counts[:3] == np.minimum([5, 3, 2], unowned[:3])).all()
        assert counts.sum() == 10
        assert not set(drawn[row]) & set(torch.nonzero(x[row]).flatten().tolist())
        assert len(set(drawn[row])) == 10


def test_quota_counts_sum_to_k_by_largest_remainder():
    counts = quota_counts(np.array([[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3], [0, 0, 1]]), 7)
    assert counts.sum(axis=1).tolist() == [7, 7, 7]
    assert counts[0].tolist() in ([4, 2, 1], [3, 2, 2], [4, 1, 2])
    assert counts[2].tolist() == [0, 0, 7]


def test_quota_shortfall_is_filled_from_other_categories():
    logits = np.zeros((1, 6))
    categories = np.array([0, 0, 1, 1, 1, 1])
    exclude = np.array([[True, False, False, False, False, False]])
    drawn = quota_top_k(
        logits, 4, np.array([[1.0, 0.0]]), categories, exclude, [np.random.default_rng(0)]
    )
    assert 1 in drawn[0] and 0 not in drawn[0]
    assert len(set(drawn[0])) == 4 and (drawn >= 0).all()


def test_category_mix_rows_sum_to_one():
    x = torch.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    matrix = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1]), 2).float()
    mix = category_mix(x, matrix)
    assert torch.allclose(mix[0], torch.tensor([2 / 3, 1 / 3]))
    assert mix[1].sum() == 0


@pytest.mark.parametrize("name", ["cvae", "gan"])
def test_save_load_round_trip_and_determinism(name, tmp_path):
    def trained():
        torch.manual_seed(7)
        generator = conditional(name)
        train_loop(generator, category_batches(7), epochs=2, steps_per_epoch=4)
        return generator

    first, second = trained(), trained()
    for key, value in first.module.state_dict().items():
        assert torch.equal(value, second.module.state_dict()[key]), key
    first.save(tmp_path / "m")
    loaded = Generator.load(tmp_path / "m")
    x = next(category_batches(8, batch_size=5))
    rngs = lambda: [np.random.default_rng([3, i]) for i in range(5)]  # noqa: E731
    np.testing.assert_array_equal(
        first.sample_items(x, 4, x.bool(), rngs()), loaded.sample_items(x, 4, x.bool(), rngs())
    )
    state = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert "category_matrix" not in state


def test_gan_resumes_both_optimizers_from_a_checkpoint(tmp_path):
    torch.manual_seed(4)
    generator = conditional("gan")
    train_loop(generator, category_batches(4), epochs=1, steps_per_epoch=3, checkpoint_dir=tmp_path)
    resumed = conditional("gan")
    history = train_loop(
        resumed, category_batches(5), epochs=2, steps_per_epoch=3, checkpoint_dir=tmp_path
    )
    assert [r["epoch"] for r in history] == [1]
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert set(state["optimizers"]) == {"generator", "critic"}


def _validation_set(seed, users=30):
    rng = np.random.default_rng(seed)
    history, targets = [], []
    for _ in range(users):
        home = rng.integers(N_CATEGORIES)
        items = rng.permutation(10)[:6] + 10 * home
        history.append(np.sort(items[:4]).astype("<i4").tobytes())
        targets.append(np.sort(items[4:]).astype("<i4").tobytes())
    return ValidationSet(sparse_rows(history), sparse_rows(targets)), history, targets


def test_validation_ndcg_matches_the_evaluation_metrics():
    torch.manual_seed(6)
    generator = conditional("cvae")
    train_loop(generator, category_batches(6), epochs=1, steps_per_epoch=3)
    validation, history, targets = _validation_set(6)
    x = validation.history.to_dense(N_ITEMS)
    scores = generator.scores(x).numpy()
    owned = [np.frombuffer(b, dtype="<i4") for b in history]
    expected = ndcg_at_k(
        top_k_items(scores, 10, owned), [np.frombuffer(b, dtype="<i4") for b in targets], 10
    ).mean()
    assert validation_ndcg(generator, validation, k=10, batch_size=7) == pytest.approx(expected)


def test_patience_stops_after_epochs_without_a_better_score_and_keeps_the_best():
    torch.manual_seed(8)
    generator = conditional("cvae")
    scores = iter([0.1, 0.5, 0.2, 0.3, 0.9, 0.9])
    snapshots = []

    def validate(g):
        snapshots.append({k: v.clone() for k, v in g.module.state_dict().items()})
        return next(scores)

    history = train_loop(
        generator, category_batches(8), epochs=6, steps_per_epoch=2, validate=validate, patience=2
    )
    assert [r["epoch"] for r in history] == [0, 1, 2, 3]  # epochs 2 and 3 brought nothing
    for key, value in generator.module.state_dict().items():
        assert torch.equal(value, snapshots[1][key]), key


def test_validation_keeps_the_best_epoch(tmp_path):
    torch.manual_seed(8)
    generator = conditional("cvae")
    scores = iter([0.1, 0.5, 0.2])
    snapshots = []

    def validate(g):
        snapshots.append({k: v.clone() for k, v in g.module.state_dict().items()})
        return next(scores)

    history = train_loop(
        generator,
        category_batches(8),
        epochs=3,
        steps_per_epoch=3,
        checkpoint_dir=tmp_path,
        validate=validate,
    )
    assert [r["valid_score"] for r in history] == [0.1, 0.5, 0.2]
    assert [r["best"] for r in history] == [True, True, False]
    for key, value in generator.module.state_dict().items():
        assert torch.equal(value, snapshots[1][key]), key
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["best_epoch"] == 1 and state["best_score"] == 0.5


def test_validation_picks_a_trained_model_over_an_untrained_one():
    torch.manual_seed(9)
    generator = conditional("cvae")
    validation, _, _ = _validation_set(9)
    before = validation_ndcg(generator, validation, k=10)
    history = train_loop(
        generator,
        category_batches(9),
        epochs=6,
        steps_per_epoch=15,
        validate=lambda g: validation_ndcg(g, validation, k=10),
    )
    assert max(r["valid_score"] for r in history) > before + 0.1


def test_cvae_text_condition_is_the_mean_item_text_and_is_saved(tmp_path):
    text = np.random.default_rng(0).normal(size=(N_ITEMS, 6)).astype(np.float32)
    np.save(tmp_path / "item_text.npy", text)
    generator = conditional("cvae", text_dim=6, item_text_file=str(tmp_path / "item_text.npy"))
    x = torch.zeros((2, N_ITEMS))
    x[0, [0, 1, 12]] = 1.0
    x[1, 35] = 1.0
    condition = generator.condition_of(x)
    assert condition.shape == (2, N_CATEGORIES + 6)
    assert torch.allclose(condition[0, N_CATEGORIES:], torch.from_numpy(text[[0, 1, 12]].mean(0)))
    assert torch.allclose(condition[:, :N_CATEGORIES].sum(1), torch.ones(2))
    mix = generator.module.condition_for_mix(torch.eye(N_CATEGORIES)[[3]])
    assert torch.allclose(mix[0, N_CATEGORIES:], torch.from_numpy(text[30:40].mean(0)), atol=1e-6)
    train_loop(generator, category_batches(0), epochs=1, steps_per_epoch=3)
    drawn = generator.sample_users(np.eye(N_CATEGORIES)[1], 4, [np.random.default_rng(1)])
    assert drawn.shape == (1, 4)
    generator.save(tmp_path / "model")
    (tmp_path / "item_text.npy").unlink()  # the saved weights carry the matrix
    loaded = Generator.load(tmp_path / "model")
    assert torch.equal(loaded.module.item_text, torch.from_numpy(text))
    assert torch.allclose(loaded.condition_of(x), condition)


def test_gan_text_condition_is_the_mean_item_text_and_is_saved(tmp_path):
    text = np.random.default_rng(0).normal(size=(N_ITEMS, 6)).astype(np.float32)
    np.save(tmp_path / "item_text.npy", text)
    generator = conditional("gan", text_dim=6, item_text_file=str(tmp_path / "item_text.npy"))
    x = torch.zeros((2, N_ITEMS))
    x[0, [0, 1, 12]] = 1.0
    x[1, 35] = 1.0
    condition = generator.module.condition(x)
    mix_end = N_ITEMS + N_CATEGORIES
    assert condition.shape == (2, mix_end + 6)
    assert torch.equal(condition[:, :N_ITEMS], x)
    assert torch.allclose(condition[0, mix_end:], torch.from_numpy(text[[0, 1, 12]].mean(0)))
    target = generator.module.condition(x, torch.eye(N_CATEGORIES)[[3, 3]])
    assert torch.allclose(target[0, mix_end:], torch.from_numpy(text[30:40].mean(0)), atol=1e-6)
    train_loop(generator, category_batches(0), epochs=1, steps_per_epoch=3)
    rngs = [np.random.default_rng(1), np.random.default_rng(2)]
    drawn = generator.sample_items(
        x, 4, x.bool(), rngs, mix=np.eye(N_CATEGORIES)[[2, 2]], quotas=True
    )
    assert [sorted({i // 10 for i in row}) for row in drawn] == [[2], [2]]  # quotas: category c
    generator.save(tmp_path / "model")
    (tmp_path / "item_text.npy").unlink()  # the saved weights carry the matrix
    loaded = Generator.load(tmp_path / "model")
    assert torch.equal(loaded.module.item_text, torch.from_numpy(text))
    assert torch.allclose(loaded.module.condition(x), condition)
