"""A one-dimensional variational Gaussian mixture: the modes of a continuous column.

:func:`fit_vgm` is CTGAN's "VGM" step (sklearn's ``BayesianGaussianMixture`` with a
Dirichlet-process prior), written here as a deterministic mean-field fit followed by a BIC
pruning. It is kept rather than replaced by sklearn because it finds the same modes on
separated data (``tests/unit/test_tabular.py`` compares the two on one column) about ten times
faster (0.2 s against 2 s for 4,000 values on the 2-core dev machine), and every continuous
column of every tabular training is fitted on the driver.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, logsumexp


def fit_vgm(
    values: np.ndarray,
    max_components: int = 10,
    weight_threshold: float = 0.005,
    concentration: float = 1e-3,
    max_iter: int = 100,
    tol: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A variational Gaussian mixture on 1-D ``values``; returns ``(weights, means, stds)``.

    Two stages, both deterministic (no random initialisation):

    1. Variational Bayes (mean-field, Bishop PRML 10.2) for up to ``max_components`` (10)
       components, initialised by 1-D k-means from evenly spaced quantiles: a symmetric
       Dirichlet prior of small ``concentration`` (0.001) on the weights and a Normal-Gamma
       prior on each mean and precision (centred on the data mean and variance, one degree of
       freedom: sklearn's defaults). Components whose expected weight is at most
       ``weight_threshold`` (0.005) are dropped. This is CTGAN's "VGM" (sklearn's
       ``BayesianGaussianMixture``, Dirichlet-process prior of concentration 0.001, same
       threshold); the finite symmetric Dirichlet is the same sparsity device.
    2. Backward elimination by BIC: a small concentration empties unneeded components only
       slowly, and a component started inside one true mode tends to stay (sklearn's fit of
       N(-5, 1) + N(10, 0.5) keeps four components, of two overlapping normals all ten). So
       the kept mixture is polished by EM, then the component whose removal costs the least
       likelihood is removed and EM refits the rest, for as long as BIC
       (``-2 log L + (3K - 1) log n``) goes down.

    Values are standardised for the fit; variances have a floor of 1e-6 of the data
    variance, so point masses (e.g. many zeros, small integers) stay finite. Components are
    returned sorted by mean, weights summing to one.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    center, scale = float(x.mean()), float(x.std())
    unique = np.unique(x)
    if scale == 0.0 or unique.size == 1:
        return np.ones(1), np.array([center]), np.array([max(abs(center), 1.0) * 1e-6])
    z = (x - center) / scale
    weights, means, variances = _vb_mixture(
        z, min(max_components, unique.size), concentration, max_iter, tol
    )
    keep = weights > weight_threshold
    weights, means, variances = _bic_elimination(
        z, weights[keep] / weights[keep].sum(), means[keep], variances[keep], weight_threshold
    )
    order = np.argsort(means, kind="stable")
    return weights[order], center + scale * means[order], scale * np.sqrt(variances[order])


_VAR_FLOOR = 1e-6  # in units of the (standardised) data variance


def _vb_mixture(
    z: np.ndarray, k: int, concentration: float, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Variational Bayes for a k-component 1-D mixture; plug-in (weights, means, variances)."""
    # Arrays are (components, values): reductions over the few components run along rows.
    means = np.quantile(z, (np.arange(k) + 0.5) / k)
    for _ in range(20):  # 1-D k-means for the initial responsibilities
        assign = np.abs(z[None, :] - means[:, None]).argmin(axis=0)
        counts = np.bincount(assign, minlength=k)
        sums = np.bincount(assign, weights=z, minlength=k)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), means)
    resp = np.zeros((k, z.size))
    resp[assign, np.arange(z.size)] = 1.0
    # Priors on standardised data: m0 = 0, beta0 = 1, Gamma(a0, b0) on the precision with one
    # degree of freedom around the data variance (1).
    beta0, m0, a0, b0 = 1.0, 0.0, 0.5, 0.5
    previous = -np.inf
    for _ in range(max_iter):
        # M-step: posterior parameters from the responsibilities.
        nk = resp.sum(axis=1) + 1e-10
        xbar = (resp @ z) / nk
        sk = np.maximum((resp @ (z * z)) / nk - xbar * xbar, 0.0) + _VAR_FLOOR
        alpha = concentration + nk
        beta = beta0 + nk
        m = (beta0 * m0 + nk * xbar) / beta
        a = a0 + 0.5 * nk
        b = b0 + 0.5 * (nk * sk + beta0 * nk * (xbar - m0) ** 2 / (beta0 + nk))
        # E-step: expected log weights, log precisions and squared distances.
        log_pi = digamma(alpha) - digamma(alpha.sum())
        log_lambda = digamma(a) - np.log(b)
        quad = (1.0 / beta)[:, None] + (a / b)[:, None] * (z[None, :] - m[:, None]) ** 2
        log_rho = (log_pi + 0.5 * log_lambda - 0.5 * np.log(2 * np.pi))[:, None] - 0.5 * quad
        norm = _logsumexp_components(log_rho)
        log_rho -= norm
        resp = np.exp(log_rho, out=log_rho)
        bound = float(norm.mean())
        if abs(bound - previous) < tol:
            break
        previous = bound
    return alpha / alpha.sum(), m, b / a


def _log_joint(z: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray):
    """log(weight_k * N(z | mean_k, variance_k)), shape (components, values)."""
    const = np.log(weights) - 0.5 * np.log(2 * np.pi * variances)
    return const[:, None] - 0.5 * (z[None, :] - means[:, None]) ** 2 / variances[:, None]


def _em(
    z: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
    weight_threshold: float,
    iters: int = 30,
    tol: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Maximum-likelihood EM from the given mixture; returns it and its total log-likelihood.

    Stops when the mean log-likelihood gains less than ``tol``; components falling to
    ``weight_threshold`` or below are dropped on the way.
    """
    previous = -np.inf
    for _ in range(iters):
        resp = _log_joint(z, weights, means, variances)
        norm = _logsumexp_components(resp)
        loglik = float(norm.mean())
        resp -= norm
        np.exp(resp, out=resp)
        nk = resp.sum(axis=1)
        keep = nk / z.size > weight_threshold
        if not keep.all():
            resp, nk = resp[keep], nk[keep]
        weights = nk / nk.sum()
        means = (resp @ z) / nk
        variances = (resp @ (z * z)) / nk - means * means + _VAR_FLOOR
        variances = np.maximum(variances, _VAR_FLOOR)
        if loglik - previous < tol:
            break
        previous = loglik
    loglik = float(_logsumexp_components(_log_joint(z, weights, means, variances)).sum())
    return weights, means, variances, loglik


def _bic_elimination(
    z: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
    weight_threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop components one at a time (then refit by EM) while BIC improves."""

    def bic(loglik: float, k: int) -> float:
        return -2.0 * loglik + (3 * k - 1) * np.log(z.size)

    weights, means, variances, loglik = _em(z, weights, means, variances, weight_threshold)
    best = bic(loglik, weights.size)
    while weights.size > 1:
        log_joint = _log_joint(z, weights, means, variances)
        # Log-likelihood without component j (weights renormalised), for every j.
        losses = []
        for j in range(weights.size):
            rest = np.delete(log_joint, j, axis=0) - np.log1p(-weights[j])
            losses.append(float(_logsumexp_components(rest).sum()))
        j = int(np.argmax(losses))
        keep = np.arange(weights.size) != j
        trial = _em(
            z, weights[keep] / weights[keep].sum(), means[keep], variances[keep], weight_threshold
        )
        score = bic(trial[3], trial[0].size)
        if score >= best:
            break
        best = score
        weights, means, variances, loglik = trial
    return weights, means, variances


def sample_modes(
    x: np.ndarray, weights: np.ndarray, means: np.ndarray, stds: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """A mode per value, drawn from its posterior responsibilities by inverse CDF at ``u``."""
    log_joint = _log_joint(x, weights, means, stds * stds)
    cdf = np.exp(log_joint - log_joint.max(axis=0, keepdims=True)).cumsum(axis=0)
    return np.minimum((cdf < u[None, :] * cdf[-1:]).sum(axis=0), means.size - 1)


def _logsumexp_components(log_rho: np.ndarray) -> np.ndarray:
    """log-sum-exp over components of a (components, values) array: (1, values)."""
    return logsumexp(log_rho, axis=0, keepdims=True)
