"""Stage 4 fits the Spark recommenders (ALS) on background threads, without changing a ranking.

Hand-built rows (those of ``tests/unit/test_score_with.py``) and a real Spark ALS with two
seeds: the utility rows with the fits started ahead equal those of a scorer whose rankings
were made one model at a time on the main thread, and the ALS fits ran on the pool's threads.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from samplegen.config import load_config
from samplegen.evaluate.recommenders.als import SparkALSRecommender
from samplegen.evaluate.utility import VARIANTS, Scorer, Slice, seeds_of, utility_rows
from tests.conftest import REPO
from tests.unit.test_score_with import _data

pytestmark = pytest.mark.spark


def _cfg():
    return load_config(
        REPO / "conf" / "local.yaml",
        [
            "evaluate.recommenders=[als, ease]",
            "evaluate.repeats=2",
            "evaluate.als_rank=4",
            "evaluate.als_iterations=2",
            "evaluate.k=3",
            "evaluate.ks=[3]",
            "evaluate.ease_lambda=5.0",
            "evaluate.bootstrap_samples=50",
        ],
    )


def test_spark_fits_ahead_rank_as_fits_one_at_a_time(spark, monkeypatch):
    data, cfg = _data(), _cfg()
    where = {"all": Slice(np.ones(int(data.evaluated.sum()), bool))}
    threads: list[str] = []
    fit = SparkALSRecommender.fit

    def fit_recording_thread(self, interactions):
        threads.append(threading.current_thread().name)
        return fit(self, interactions)

    monkeypatch.setattr(SparkALSRecommender, "fit", fit_recording_thread)
    ahead = utility_rows(data, cfg, spark, where, Scorer(data, cfg, spark))
    assert len(threads) == 4 and all(name.startswith("fit-ahead") for name in threads)

    threads.clear()
    one_at_a_time = Scorer(data, cfg, spark)
    for name in cfg.evaluate.recommenders:
        for seed in seeds_of(name, cfg.evaluate):
            for variant in VARIANTS:
                training = data.training_matrix(variant)
                one_at_a_time.top(
                    name, seed, variant, training, data.scored_matrix(variant, "real")
                )
    assert threads == [threading.main_thread().name] * 4
    expected = utility_rows(data, cfg, spark, where, one_at_a_time)
    assert len(threads) == 4  # every ranking was known: nothing was fitted ahead again
    assert ahead == expected
