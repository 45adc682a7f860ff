import dataclasses
import json
import math
import threading
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from samplegen.cli import main
from samplegen.evaluate import load_eval_data, run_evaluate
from samplegen.evaluate.compare import compare_runs
from samplegen.evaluate.recommenders.als import SparkALSRecommender
from samplegen.evaluate.utility import VARIANTS, seeds_of, slices
from samplegen.generate import run_generate
from samplegen.tables import EVAL_METRICS, INTERACTIONS, read_table
from tests.conftest import RUN_ID

pytestmark = [pytest.mark.spark, pytest.mark.slow]

USER_SLICES = ("all", "cold", "activity_q2", "activity_q3", "activity_q4")
ITEM_SLICES = ("items_head", "items_torso", "items_tail")


def _rows(spark, cfg, run_id=RUN_ID):
    return read_table(spark, cfg.lakehouse, EVAL_METRICS).where(F.col("run_id") == run_id).collect()


def test_eval_metrics_cover_every_recommender_slice_k_and_seed(spark, cfg, pipeline_run):
    rows = _rows(spark, cfg)
    keys = {(r.recommender, r.variant, r.slice, r.metric, r.k, r.seed) for r in rows}
    categories = {r.slice for r in rows if r.slice.startswith("category:")}
    assert 1 <= len(categories) <= cfg.evaluate.top_categories
    for recommender in cfg.evaluate.recommenders:
        seeds = seeds_of(recommender, cfg.evaluate)
        assert len(seeds) == (2 if recommender in ("als", "multvae") else 1)
        for seed in seeds:
            for k in cfg.evaluate.cutoffs():
                for slice_name in (*USER_SLICES, *ITEM_SLICES, *categories):
                    for metric in ("recall", "ndcg"):
                        for variant in (*VARIANTS, "augmented_minus_real"):
                            assert (recommender, variant, slice_name, metric, k, seed) in keys
                for slice_name in USER_SLICES:
                    for variant in VARIANTS:
                        assert (recommender, variant, slice_name, "coverage", k, seed) in keys
    for row in rows:
        assert row.dataset == "completejourney"
        if row.variant in VARIANTS:
            assert 0.0 <= row.value <= 1.0
        if row.ci_low is not None and row.metric != "coverage":
            assert row.ci_low <= row.value + 1e-12 and row.value <= row.ci_high + 1e-12


def test_recall_grows_with_k(spark, cfg, pipeline_run):
    recall = {
        (r.recommender, r.seed, r.k): r.value
        for r in _rows(spark, cfg)
        if r.variant == "real" and r.slice == "all" and r.metric == "recall"
    }
    for (recommender, seed, k), value in recall.items():
        if k == 50:
            assert value >= recall[(recommender, seed, 10)] - 1e-9


def test_fidelity_privacy_and_dose_rows(spark, cfg, pipeline_run):
    rows = _rows(spark, cfg)
    fidelity = {r.metric: r.value for r in rows if r.recommender == "fidelity"}
    privacy = {r.metric: r.value for r in rows if r.recommender == "privacy"}
    for metric in ("popularity_tvd", "basket_size_ks", "category_tvd", "detection_auc"):
        assert metric in fidelity
    assert 0.0 <= fidelity["popularity_tvd"] <= 1.0
    assert privacy["exact_copy_share"] == 0.0  # densify never returns a user's own items
    assert 0.0 <= privacy["mia_auc"] <= 1.0
    dose = {r.variant: r for r in rows if r.variant.startswith("dose=")}
    ratios = {
        r.variant: r.value
        for r in rows
        if r.variant.startswith("dose=") and r.metric == "synthetic_to_real"
    }
    assert {f"dose={d:g}" for d in cfg.evaluate.dose_ratios} == set(dose)
    assert ratios["dose=0.5"] < ratios["dose=1"]
    full = [r for r in rows if r.variant == "dose=1" and r.metric == "ndcg"][0]
    paired = [
        r
        for r in rows
        if r.recommender == cfg.evaluate.dose_recommender
        and r.variant == "augmented_minus_real"
        and r.slice == "all"
        and r.metric == "ndcg"
        and r.k == cfg.evaluate.k
    ][0]
    assert full.value == pytest.approx(paired.value, abs=1e-9)  # dose 1 = the whole run


def test_slices_partition_users_and_items(spark, cfg, pipeline_run):
    data = load_eval_data(spark, cfg, RUN_ID)
    where = slices(data, cfg.evaluate)
    quartiles = sum(where[s].users.astype(int) for s in USER_SLICES[1:] if s in where)
    assert (quartiles == 1).all()
    groups = sum(where[s].items.astype(int) for s in ITEM_SLICES)
    assert (groups == 1).all()
    popularity = np.count_nonzero(data.real[:, : data.n_items], axis=0)
    assert (
        popularity[where["items_head"].items].min() >= popularity[where["items_tail"].items].max()
    )


def test_max_users_collects_a_seeded_sample_of_real_users(spark, cfg, pipeline_run):
    full = load_eval_data(spark, cfg, RUN_ID)
    small = dataclasses.replace(cfg, evaluate=dataclasses.replace(cfg.evaluate, max_users=25))
    first, again = load_eval_data(spark, small, RUN_ID), load_eval_data(spark, small, RUN_ID)
    assert len(first.user_idx) == 25 < len(full.user_idx)
    assert first.user_idx.tolist() == again.user_idx.tolist()
    assert set(first.user_idx) <= set(full.user_idx)
    rows = {u: i for i, u in enumerate(full.user_idx)}
    picked = [rows[u] for u in first.user_idx]
    assert np.array_equal(first.real, full.real[picked])  # the same rows, only fewer
    assert np.array_equal(first.augmented, full.augmented[picked])
    assert all(
        np.array_equal(a, full.targets[i]) for a, i in zip(first.targets, picked, strict=True)
    )
    assert first.new_users.shape == full.new_users.shape  # every new user of the run is kept
    other = dataclasses.replace(small, evaluate=dataclasses.replace(small.evaluate, seed=12))
    assert load_eval_data(spark, other, RUN_ID).user_idx.tolist() != first.user_idx.tolist()


def test_ease_beats_popularity_on_real_data(spark, cfg, pipeline_run):
    recall = {
        r.recommender: r.value
        for r in _rows(spark, cfg)
        if r.variant == "real" and r.slice == "all" and r.metric == "recall" and r.k == 20
    }
    assert recall["ease"] > recall["popularity"]


def test_spark_als_is_seeded_and_scores_observed_items_higher(spark):
    rng = np.random.default_rng(3)
    interactions = (rng.random((60, 40)) < 0.15).astype(np.float32)
    interactions[:, 0] = 1.0
    model = SparkALSRecommender(spark, rank=4, iterations=8, reg=0.1, alpha=5.0, seed=1)
    scores = model.fit(interactions).score(interactions)
    again = SparkALSRecommender(spark, rank=4, iterations=8, reg=0.1, alpha=5.0, seed=1)
    assert np.allclose(again.fit(interactions).score(interactions), scores, atol=1e-4)
    # Observed items score higher than unobserved ones on average: the factors learnt something.
    assert scores[interactions > 0].mean() > scores[interactions == 0].mean() + 0.1


def test_compare_runs_and_cli(spark, cfg, pipeline_run, tmp_path, capsys):
    same = compare_runs(spark, cfg.lakehouse, RUN_ID, RUN_ID, k=cfg.evaluate.k)
    assert len(same) > 0 and (same["b_minus_a"].abs() < 1e-12).all()
    with pytest.raises(ValueError, match="no-such-run"):
        compare_runs(spark, cfg.lakehouse, RUN_ID, "no-such-run")
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"lakehouse: {cfg.lakehouse}\nspark:\n  master: active\n")
    assert main(["compare", "--conf", str(conf), RUN_ID, RUN_ID]) == 0  # the running session
    out = capsys.readouterr().out
    assert "augmented_minus_real" in out and "B - A" in out and "detection_auc" in out


def test_report_and_manifest_are_written(cfg, pipeline_run):
    report = Path(pipeline_run["evaluate"].outputs["report"])
    html = report.read_text()
    assert RUN_ID in html
    assert 'id="verdict"' in html
    for plot in ("utility-by-slice", "dose-response", "popularity", "basket-size", "dcr"):
        assert f'id="plot-{plot}"' in html
    assert 'id="explain"' in html
    for part in ("plot-user-map", "neighbours-table", "category-shift-table"):
        assert f'id="{part}"' in html
    assert 'id="latent-directions-table"' in html  # the run's multvae, read from its folder
    manifest = json.loads((Path(cfg.reports_root) / RUN_ID / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"aggregate", "train", "generate", "evaluate"}
    assert manifest["versions"]["pyspark"] == version("pyspark")  # the installed Spark line
    assert manifest["config"]["train"]["num_processes"] == 2
    assert manifest["stages"]["aggregate"]["rows"]["raw_events"] > 0
    assert "detection_auc" in manifest["stages"]["evaluate"]["metrics"]["fidelity"]


def test_a_baseline_run_is_evaluated_next_to_the_model_run(spark, cfg, pipeline_run):
    run = "substitute-eval-run"
    generate = dataclasses.replace(cfg.generate, strategy="substitute", synthetic_users=30)
    evaluate = dataclasses.replace(
        cfg.evaluate, recommenders=["popularity", "ease"], dose_ratios=[1.0], other_runs=[RUN_ID]
    )
    baseline = dataclasses.replace(cfg, generate=generate, evaluate=evaluate)
    run_generate(spark, baseline, run)
    result = run_evaluate(spark, baseline, run)
    rows = _rows(spark, cfg, run)
    privacy = {r.metric: r.value for r in rows if r.recommender == "privacy"}
    assert privacy["n_synthetic"] == 30 and privacy["exact_copy_share"] == 0.0
    assert {r.variant for r in rows if r.recommender == "fidelity"} == {"substitute"}
    assert all(
        line.split(" ")[1] in ("slice=all", "slice=cold") for line in result.metrics["verdict"]
    )
    html = Path(result.outputs["report"]).read_text()
    table = html.split('id="strategies-table"')[1].split("</table>")[0]
    assert f"{run} (substitute)" in table and f"{RUN_ID} (densify)" in table
    # header + every recommender of either run x (all, cold); this run has no als / multvae
    assert table.count("<tr>") == 1 + 2 * len(cfg.evaluate.recommenders)
    assert table.count("<td>n/a</td>") == 2 * (len(cfg.evaluate.recommenders) - 2)
    missing = dataclasses.replace(evaluate, other_runs=["never-evaluated"])
    with pytest.raises(ValueError, match="never-evaluated"):
        run_evaluate(spark, dataclasses.replace(baseline, evaluate=missing), run)


def test_every_paired_difference_has_a_p_value_and_small_slices_get_no_verdict(
    spark, cfg, pipeline_run
):
    rows = _rows(spark, cfg)
    key = ("recommender", "slice", "k", "seed")
    diffs = {
        (*(getattr(r, f) for f in key), r.metric): r
        for r in rows
        if r.variant == "augmented_minus_real" and r.metric in ("recall", "ndcg")
    }
    p_values = {
        (*(getattr(r, f) for f in key), r.metric.removesuffix("_p_value")): r
        for r in rows
        if r.metric.endswith("_p_value")
    }
    assert set(p_values) == set(diffs)
    # A 95% percentile CI that excludes zero leaves at most floor(0.025 (B - 1)) + 1 resampled
    # means on the other side of it, so p <= 2 (that + 1) / (B + 1) (about 0.05).
    samples = cfg.evaluate.bootstrap_samples
    largest = 2 * (math.floor(0.025 * (samples - 1)) + 2) / (samples + 1)
    for name, p in p_values.items():
        assert 0 < p.value <= 1 and p.n_users == diffs[name].n_users
        diff = diffs[name]
        if diff.ci_low > 0 or diff.ci_high < 0:  # the CI and the p-value agree
            assert p.value <= largest
    small = {
        r.slice
        for r in rows
        if r.variant == "augmented_minus_real" and r.n_users < cfg.evaluate.min_users
    }
    assert small, "the small run should have slices under evaluate.min_users"
    for line in pipeline_run["evaluate"].metrics["verdict"]:
        slice_ = line.split(" ")[1].removeprefix("slice=")
        if slice_ in small:
            assert "too few users (n=" in line and "augmented is" not in line


def _spark_scoring(cfg):
    """The run's settings with ``evaluate.scoring=spark`` on the recommenders it ranks, 1 seed
    (2 ALS sweeps: the comparison needs the same factors on both paths, not good ones)."""
    settings = dataclasses.replace(
        cfg.evaluate,
        scoring="spark",
        recommenders=["popularity", "ease", "als"],
        repeats=1,
        als_iterations=2,
    )
    return dataclasses.replace(cfg, evaluate=settings)


class _NoDenseUserRows:
    """Refuses any 2-D array with one row per user and a column per item, on the driver.

    Wraps numpy's allocators (scipy's ``toarray`` and pandas use them too) while Spark scoring
    runs: the Gram matrix and the per-user value columns pass, a user x item matrix fails.
    """

    def __init__(self, monkeypatch, n_users: set[int], n_items: int) -> None:
        self.n_users, self.n_items = n_users, n_items
        for name in ("zeros", "empty", "ones", "full"):
            monkeypatch.setattr(np, name, self._guard(getattr(np, name)))

    def _guard(self, allocate):
        def allocate_checked(shape, *args, **kwargs):
            dims = (shape,) if isinstance(shape, int) else tuple(shape)
            if len(dims) == 2 and dims[0] in self.n_users and dims[1] >= self.n_items:
                raise AssertionError(f"a dense user x item array {dims} on the driver")
            return allocate(shape, *args, **kwargs)

        return allocate_checked


def test_valid_targets_are_the_valid_items_outside_train_for_a_validated_recommender(
    spark, cfg, pipeline_run
):
    """Mult-VAE (validated) chooses its epochs on them; no other run of the data reads them."""
    assert "multvae" in cfg.evaluate.recommenders
    data = load_eval_data(spark, cfg, RUN_ID)
    position = {int(u): i for i, u in enumerate(data.user_idx)}
    expected = [np.array([], np.int64)] * len(data.user_idx)
    for row in read_table(spark, cfg.lakehouse, INTERACTIONS["valid"]).collect():
        if row.user_idx in position:
            at = position[row.user_idx]
            expected[at] = np.setdiff1d(np.unique(row.item_idx), data.train_items[at])
    assert [t.tolist() for t in data.valid_targets] == [t.tolist() for t in expected]
    assert sum(len(t) > 0 for t in data.valid_targets) > len(data.user_idx) // 2

    def targets_with(**settings):
        evaluate = dataclasses.replace(cfg.evaluate, **settings)
        return load_eval_data(spark, dataclasses.replace(cfg, evaluate=evaluate), RUN_ID)

    assert cfg.evaluate.dose_ratios and cfg.evaluate.dose_recommender == "ease"
    assert targets_with(recommenders=["ease"]).valid_targets is None
    assert targets_with(recommenders=["ease"], dose_recommender="multvae").valid_targets
    assert load_eval_data(spark, cfg, RUN_ID, split="valid").valid_targets is None


def test_only_profile_expansion_gives_spark_scoring_the_added_items(spark, cfg, pipeline_run):
    """``evaluate.score_with``: the augmented row of a scored user holds the run's added items
    only under ``augmented``; the run's summary and manifest say which was used."""
    from samplegen.evaluate.spark_scoring import evaluated_users

    assert pipeline_run["evaluate"].metrics["score_with"] == "real"
    last = int(load_eval_data(spark, cfg, RUN_ID).last_real_user)
    expanded = dataclasses.replace(
        cfg, evaluate=dataclasses.replace(cfg.evaluate, score_with="augmented")
    )

    def with_added(settings) -> int:
        users = evaluated_users(spark, settings, RUN_ID, last)
        return users.where(F.size("added_items") > 0).count()

    assert with_added(cfg) == 0
    assert with_added(expanded) > 0


def test_spark_scoring_equals_the_driver_path(spark, cfg, pipeline_run, monkeypatch):
    from samplegen.evaluate.spark_scoring import spark_utility_rows
    from samplegen.evaluate.utility import Scorer, _per_user, utility_rows
    from samplegen.tables import EVAL_USER_METRICS

    settings = _spark_scoring(cfg)
    driver = dataclasses.replace(
        settings, evaluate=dataclasses.replace(settings.evaluate, scoring="driver")
    )
    data = load_eval_data(spark, cfg, RUN_ID)
    where = {n: s for n, s in slices(data, cfg.evaluate).items() if n in ("all", "cold")}
    scorer = Scorer(data, driver, spark)
    expected = utility_rows(data, driver, spark, where, scorer)
    n_new = len(data.new_users)
    threads: list[str] = []
    fit_frame = SparkALSRecommender.fit_frame

    def fit_recording_thread(self, *args):
        threads.append(threading.current_thread().name)
        return fit_frame(self, *args)

    with monkeypatch.context() as patched:
        users = {len(data.user_idx), len(data.user_idx) + n_new, int(data.evaluated.sum())}
        _NoDenseUserRows(patched, users, data.n_items)
        patched.setattr(SparkALSRecommender, "fit_frame", fit_recording_thread)
        got = spark_utility_rows(spark, settings, RUN_ID)
    assert len(threads) == 2 and all(t.startswith("fit-ahead") for t in threads)  # real, aug

    # Per user: the same users, and the same values (ALS: the same seed and input frame).
    evaluated = data.user_idx[scorer.rows]
    everyone = slices(data, cfg.evaluate)["all"]
    for name in settings.evaluate.recommenders:
        mine = got.per_user[got.per_user["recommender"] == name]
        assert mine["user_idx"].tolist() == evaluated.tolist()
        for variant in VARIANTS:
            top = scorer._tops[(name, settings.evaluate.seed, variant)]
            for k in settings.evaluate.cutoffs():
                values = _per_user(top, scorer.targets, k, everyone)
                for metric in ("recall", "ndcg"):
                    column = mine[f"{variant}_{metric}_{k}"].to_numpy()
                    tolerance = 1e-9 if name != "als" else 0.05
                    assert np.allclose(column, values[metric], atol=tolerance), (name, variant)
                    assert abs(column.mean() - values[metric].mean()) <= tolerance / 5

    # Rows: the same keys, and equal means, CIs and user counts (ALS within its tolerance).
    def keyed(rows):
        return {(r.recommender, r.variant, r.slice, r.metric, r.k, r.seed): r for r in rows}

    want, have = keyed(expected), keyed(got.rows)
    assert set(have) == set(want) and len(have) == len(got.rows)
    assert {key[1] for key in have} == {*VARIANTS, "augmented_minus_real"}
    for key, row in want.items():
        tolerance = 1e-9 if key[0] != "als" else 0.02
        assert have[key].n_users == row.n_users, key
        for field in ("value", "ci_low", "ci_high"):
            a, b = getattr(have[key], field), getattr(row, field)
            assert (a is None and b is None) or abs(a - b) <= tolerance, (key, field, a, b)

    # The per-user table holds every value once; its means are the rows' values.
    table = read_table(spark, cfg.lakehouse, EVAL_USER_METRICS).where(F.col("run_id") == RUN_ID)
    n_values = len(evaluated) * 3 * len(VARIANTS) * len(settings.evaluate.cutoffs()) * 2
    assert table.count() == n_values
    mean = (
        table.where("recommender = 'ease' AND variant = 'augmented' AND metric = 'ndcg'")
        .where(F.col("k") == cfg.evaluate.k)
        .agg(F.avg("value"))
        .first()[0]
    )
    key = ("ease", "augmented", "all", "ndcg", cfg.evaluate.k, settings.evaluate.seed)
    assert mean == pytest.approx(have[key].value, abs=1e-12)
