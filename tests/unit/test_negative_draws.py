"""How many popularity draws a positive gets for its sampled negatives (``draws_needed``)."""

import numpy as np
import pytest
from scipy.stats import binom

from samplegen.features.tabular import MAX_DRAWS_PER_NEGATIVE, draws_needed


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("accepted", [0.02, 0.3, 0.8, 0.97])
def test_draws_are_the_fewest_that_keep_the_shortfall_below_the_bound(k, accepted):
    max_share = 0.001
    n = draws_needed(k, accepted, max_share, shortfall=1e-8)
    success = accepted - (k - 1) * max_share
    assert binom.cdf(k - 1, n, success) <= 1e-8  # fewer than k new accepted items in n draws
    assert binom.cdf(k - 1, n - 1, success) > 1e-8  # one draw fewer is not enough


def test_no_draws_when_nothing_can_be_accepted_and_the_cap_when_almost_nothing_can():
    assert draws_needed(1, 0.0, 0.01) == 0
    assert draws_needed(3, 0.01, 0.01) == 3 * MAX_DRAWS_PER_NEGATIVE  # 0.01 - 2 * 0.01 < 0
    assert draws_needed(1, 1e-6, 0.0) == MAX_DRAWS_PER_NEGATIVE


def test_repeated_candidates_are_accounted_for_on_a_skewed_catalogue():
    """One item holds 40% of the draws; 2 distinct negatives from a user who blocks nothing.

    Ignoring repeats (two draws for two negatives) falls short about 16% of the time; the bound
    must keep the simulated shortfall at the asked 1%.
    """
    rng = np.random.default_rng(0)
    shares = np.r_[0.4, np.full(100, 0.006)]
    n = draws_needed(2, 1.0, 0.4, shortfall=0.01)
    drawn = rng.choice(len(shares), size=(20_000, n), p=shares)
    distinct = np.array([len(set(row)) for row in drawn])
    assert (distinct < 2).mean() <= 0.01
