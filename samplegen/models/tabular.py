"""A CTGAN-style conditional GAN for table rows, behind the ``Generator`` interface.

The method is CTGAN's (Xu et al., 2019, "Modeling Tabular Data using Conditional GAN").

Three parts, each vectorised over rows (no Python loop over rows anywhere):

* :class:`TabularTransformer` encodes a row as ``[continuous scalars | one-hot blocks]``.
  A continuous column is modelled by a one-dimensional variational Gaussian mixture
  (:func:`fit_vgm`); a value becomes the scalar ``(x - mean_k) / (4 std_k)`` clipped to
  [-1, 1] and the one-hot of its mode ``k`` (mode-specific normalisation). A discrete column
  becomes the one-hot of its category. Nulls are categories of their own (see below).
* :class:`ConditionalSampler` implements training-by-sampling: per row a discrete column is
  picked uniformly, a category of it with probability proportional to ``log(1 + count)``, and
  a real row with that category; the generator is given the category as a one-hot condition
  and is penalised (cross-entropy) when it does not produce it.
* :class:`TabularGAN`: a generator of residual blocks (linear, batch norm, ReLU, input
  concatenated to the output) and a "pac" critic that judges ``pac`` rows at once, trained with
  the WGAN-GP loss (Gulrajani et al., 2017). Outputs are ``tanh`` for scalars and Gumbel-softmax
  (temperature 0.2) for modes and categories.

Differences from the ``ctgan`` library, chosen for speed (same method otherwise):

* The critic step runs the generator under ``no_grad`` (the library backpropagates the critic
  loss through the generator and throws those gradients away); the generator step freezes the
  critic's weights. The critic loss and the gradient penalty share one backward pass.
* Gumbel-softmax and the conditional cross-entropy work on all one-hot blocks at once
  (segment softmax through ``index_add``) instead of one small op chain per column.
* Batches are drawn as integer codes (modes, categories) and continuous scalars and made dense
  on the device; rows of a category are found through one argsort per column, not a Python
  loop per row; the mode of each value is drawn by inverse CDF over all rows at once.
* Sampling draws discrete outputs with the Gumbel-max trick on the logits, which has exactly
  the distribution of the library's ``argmax(gumbel_softmax(logits, tau))``, in eval mode (the
  library samples with batch-norm in training mode). Unconditioned sampling draws conditions
  from the empirical category frequencies (the library uses the log-frequencies there).

Null handling: a null in a discrete column is an explicit extra category (the last slot of
the column's block, flagged by ``has_null`` in :meth:`TabularTransformer.to_params`, its count
last in ``counts``; ``None`` asks for it as a condition) and comes back as a null. A
continuous column with nulls at fit time gets an extra "null" mode after its Gaussian modes:
the row's scalar is 0 and the mode one-hot points at that slot, so the generator learns when a
value is missing jointly with the other columns, and a generated null mode decodes to NaN
(``pd.NA`` for nullable integer dtypes). The library refuses nulls in continuous columns.

Decoding clips continuous values to the range seen at fit time and rounds columns whose
fitted values were all whole numbers; dtypes are restored (ints come back as ints).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from samplegen.models.base import Generator, StepTerms, synced_step

STD_MULTIPLIER = 4.0
"""A value is normalised within its mode as ``(x - mean) / (STD_MULTIPLIER * std)``."""
DEFAULT_PARAMS: dict[str, Any] = {
    "embedding_dim": 32,
    "generator_dims": [64],
    "critic_dims": [64],
    "pac": 10,
    "critic_steps": 1,
    "gp_weight": 10.0,
    "tau": 0.2,
    "lr": 2e-4,
    "betas": [0.5, 0.9],
    "weight_decay": 1e-6,
}


# --------------------------------------------------------------------------------------------
# Variational Gaussian mixture (one dimension)
# --------------------------------------------------------------------------------------------


def _digamma(x: np.ndarray) -> np.ndarray:
    """Digamma for positive ``x`` (recurrence up to 6, then the asymptotic series)."""
    x = np.array(x, dtype=np.float64)
    result = np.zeros_like(x)
    small = x < 6.0
    while small.any():
        result[small] -= 1.0 / x[small]
        x[small] += 1.0
        small = x < 6.0
    f = 1.0 / (x * x)
    series = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))
    return result + np.log(x) - 0.5 / x - series


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
        log_pi = _digamma(alpha) - _digamma(alpha.sum())
        log_lambda = _digamma(a) - np.log(b)
        quad = (1.0 / beta)[:, None] + (a / b)[:, None] * (z[None, :] - m[:, None]) ** 2
        log_rho = (log_pi + 0.5 * log_lambda - 0.5 * np.log(2 * np.pi))[:, None] - 0.5 * quad
        norm = _logsumexp(log_rho)
        log_rho -= norm
        resp = np.exp(log_rho, out=log_rho)
        bound = float(norm.mean())
        if abs(bound - previous) < tol:
            break
        previous = bound
    return alpha / alpha.sum(), m, b / a


def _logsumexp(log_rho: np.ndarray) -> np.ndarray:
    """log-sum-exp over components of a (components, values) array: (1, values)."""
    top = log_rho.max(axis=0, keepdims=True)
    return top + np.log(np.exp(log_rho - top).sum(axis=0, keepdims=True))


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
        norm = _logsumexp(resp)
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
    loglik = float(_logsumexp(_log_joint(z, weights, means, variances)).sum())
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
            losses.append(float(_logsumexp(rest).sum()))
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


def _sample_modes(
    x: np.ndarray, weights: np.ndarray, means: np.ndarray, stds: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """A mode per value, drawn from its posterior responsibilities by inverse CDF at ``u``."""
    log_joint = _log_joint(x, weights, means, stds * stds)
    cdf = np.exp(log_joint - log_joint.max(axis=0, keepdims=True)).cumsum(axis=0)
    return np.minimum((cdf < u[None, :] * cdf[-1:]).sum(axis=0), means.size - 1)


# --------------------------------------------------------------------------------------------
# Transformer
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-friendly Python scalar for a category value (numpy scalars unwrapped)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"category value {value!r} of type {type(value).__name__} is not supported")


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


class TabularTransformer:
    """Rows <-> ``[scalars of continuous columns | one-hot blocks of every column]``.

    The dense layout puts the continuous scalars first (one per continuous column, in column
    order), then one block per column in column order: a continuous column's modes (plus a
    null mode if it had nulls), a discrete column's categories (plus a null slot if it had
    nulls). Internally rows travel as integer ``codes`` (rows, columns: mode or category index)
    and float ``scalars`` (rows, continuous columns); :meth:`densify` makes them dense.

    Build with :meth:`fit`; :meth:`to_params` / :meth:`from_params` round-trip through plain
    JSON-serialisable dicts.
    """

    def __init__(self, columns: list[dict[str, Any]], seed: int = 0) -> None:
        self.columns = columns
        self.seed = int(seed)
        self.names = [c["name"] for c in columns]
        self.continuous = [i for i, c in enumerate(columns) if c["kind"] == "continuous"]
        self.discrete = [i for i, c in enumerate(columns) if c["kind"] == "discrete"]
        self.n_scalars = len(self.continuous)
        self.block_sizes = np.array([self._block_size(c) for c in columns], dtype=np.int64)
        self.block_offsets = self.n_scalars + np.concatenate([[0], np.cumsum(self.block_sizes)])[
            :-1
        ].astype(np.int64)
        self.output_dim = int(self.n_scalars + self.block_sizes.sum())
        # The condition vector: the discrete blocks side by side.
        sizes = self.block_sizes[self.discrete]
        self.cond_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.cond_dim = int(sizes.sum())

    @staticmethod
    def _block_size(column: dict[str, Any]) -> int:
        if column["kind"] == "continuous":
            return len(column["means"]) + int(column["has_null"])
        return len(column["categories"]) + int(column["has_null"])

    # -- fitting and params ------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        discrete_columns: Sequence[str],
        seed: int = 0,
        max_components: int = 10,
        weight_threshold: float = 0.005,
        max_fit_rows: int = 10_000,
    ) -> TabularTransformer:
        """Learn every column of ``frame``: the listed discrete ones, the rest continuous.

        Each continuous column's mixture is fitted on at most ``max_fit_rows`` non-null values
        drawn without replacement (seeded). Continuous columns must be numeric (not bool).
        """
        unknown = set(discrete_columns) - set(frame.columns)
        if unknown:
            raise ValueError(f"discrete columns not in the frame: {sorted(unknown)}")
        rng = np.random.default_rng([int(seed), 0x7AB])
        columns: list[dict[str, Any]] = []
        for name in frame.columns:
            series = frame[name]
            nulls = series.isna().to_numpy()
            base = {"name": str(name), "dtype": str(series.dtype), "has_null": bool(nulls.any())}
            if name in discrete_columns:
                counts = series[~nulls].value_counts(sort=True)
                columns.append(
                    base
                    | {
                        "kind": "discrete",
                        "categories": [_plain(v) for v in counts.index],
                        "counts": [int(c) for c in counts.to_numpy()]
                        + ([int(nulls.sum())] if nulls.any() else []),
                    }
                )
                continue
            if series.dtype == bool or not pd.api.types.is_numeric_dtype(series.dtype):
                raise ValueError(
                    f"column {name!r} ({series.dtype}) is not numeric: list it as discrete"
                )
            values = series[~nulls].to_numpy(dtype=np.float64)
            fit_values = values
            if values.size > max_fit_rows:
                fit_values = values[rng.choice(values.size, max_fit_rows, replace=False)]
            weights, means, stds = fit_vgm(fit_values, max_components, weight_threshold)
            columns.append(
                base
                | {
                    "kind": "continuous",
                    "integral": bool(values.size and np.all(np.mod(values, 1.0) == 0.0)),
                    "min": float(values.min()) if values.size else None,
                    "max": float(values.max()) if values.size else None,
                    "weights": weights.tolist(),
                    "means": means.tolist(),
                    "stds": stds.tolist(),
                }
            )
        return cls(columns, seed)

    def to_params(self) -> dict[str, Any]:
        """A plain JSON-serialisable dict that :meth:`from_params` turns back into this."""
        return {"seed": self.seed, "columns": [dict(c) for c in self.columns]}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TabularTransformer:
        """Rebuild from :meth:`to_params`."""
        return cls([dict(c) for c in params["columns"]], int(params.get("seed", 0)))

    # -- rows -> codes -> dense --------------------------------------------------------------

    def category_code(self, column: str, value: Any) -> int:
        """The slot of ``value`` in discrete ``column`` (a null goes to the null slot)."""
        if column not in self.names:
            raise ValueError(f"unknown column {column!r}; known: {', '.join(self.names)}")
        spec = self.columns[self.names.index(column)]
        if spec["kind"] != "discrete":
            raise ValueError(f"column {column!r} is continuous: only discrete columns condition")
        if _is_null(value):
            if not spec["has_null"]:
                raise ValueError(f"column {column!r} had no nulls")
            return len(spec["categories"])
        index = pd.Index(spec["categories"]).get_indexer([value])[0]
        if index < 0:
            raise ValueError(f"value {value!r} never occurs in column {column!r}")
        return int(index)

    def encode(self, frame: pd.DataFrame, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(codes int64 (rows, columns), scalars float32 (rows, continuous columns))``.

        The mode of a continuous value is drawn from its posterior responsibilities (inverse
        CDF, one uniform per value) with a generator seeded by ``seed`` (default: the
        transformer's), so the encoding is deterministic.
        """
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks columns {missing}")
        n = len(frame)
        rng = np.random.default_rng([self.seed if seed is None else int(seed), 0xE2C])
        codes = np.zeros((n, len(self.columns)), dtype=np.int64)
        scalars = np.zeros((n, self.n_scalars), dtype=np.float32)
        for j, spec in enumerate(self.columns):
            series = frame[spec["name"]]
            nulls = series.isna().to_numpy()
            if nulls.any() and not spec["has_null"]:
                raise ValueError(f"column {spec['name']!r} has nulls but had none at fit time")
            if spec["kind"] == "discrete":
                index = pd.Index(spec["categories"]).get_indexer(series)
                unseen = (index < 0) & ~nulls
                if unseen.any():
                    value = series[unseen].iloc[0]
                    raise ValueError(f"value {value!r} of column {spec['name']!r} is unknown")
                codes[:, j] = np.where(nulls, len(spec["categories"]), index)
                continue
            s = self.continuous.index(j)
            weights, means, stds = (np.asarray(spec[k]) for k in ("weights", "means", "stds"))
            uniform = rng.random(n)  # drawn for every row, so codes don't shift with nulls
            if means.size:
                x = series.to_numpy(dtype=np.float64, na_value=np.nan)
                x = np.where(nulls, means[0], x)
                mode = _sample_modes(x, weights, means, stds, uniform)
                scaled = (x - means[mode]) / (STD_MULTIPLIER * stds[mode])
                scalars[:, s] = np.where(nulls, 0.0, np.clip(scaled, -1.0, 1.0))
                codes[:, j] = np.where(nulls, means.size, mode)
            else:
                codes[:, j] = 0  # only the null mode
        return codes, scalars

    def densify(self, codes: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """Dense float32 rows from :meth:`encode`'s codes and scalars."""
        dense = np.zeros((codes.shape[0], self.output_dim), dtype=np.float32)
        dense[:, : self.n_scalars] = scalars
        rows = np.arange(codes.shape[0])[:, None]
        dense[rows, self.block_offsets[None, :] + codes] = 1.0
        return dense

    def transform(self, frame: pd.DataFrame, seed: int | None = None) -> np.ndarray:
        """Dense float32 ``(rows, output_dim)`` encoding of ``frame`` (see the class doc)."""
        return self.densify(*self.encode(frame, seed))

    def split_dense(
        self, array: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Codes and scalars of dense rows: argmax per block, or a draw from it with ``rng``.

        With ``rng`` each block is read as (unnormalised) probabilities and a slot is drawn in
        proportion to them (inverse CDF, one uniform per row and block); one-hot blocks give
        the same answer either way.
        """
        array = np.asarray(array, dtype=np.float32)
        codes = np.zeros((array.shape[0], len(self.columns)), dtype=np.int64)
        for j, (start, size) in enumerate(zip(self.block_offsets, self.block_sizes, strict=True)):
            block = array[:, start : start + size]
            if rng is None:
                codes[:, j] = block.argmax(axis=1)
            else:
                cdf = np.clip(block, 0.0, None).astype(np.float64).cumsum(axis=1)
                u = rng.random(array.shape[0])[:, None] * cdf[:, -1:]
                drawn = np.minimum((cdf <= u).sum(axis=1), size - 1)
                codes[:, j] = np.where(cdf[:, -1] > 0, drawn, block.argmax(axis=1))
        return codes, array[:, : self.n_scalars].copy()

    # -- codes -> rows -----------------------------------------------------------------------

    def decode(self, codes: np.ndarray, scalars: np.ndarray) -> pd.DataFrame:
        """Rows from codes and scalars, with the fitted columns' dtypes and nulls restored.

        A continuous value is ``clip(scalar, -1, 1) * 4 * std + mean`` of its mode, clipped to
        the range seen at fit time and rounded when every fitted value was a whole number.
        """
        data: dict[str, pd.Series] = {}
        for j, spec in enumerate(self.columns):
            code = codes[:, j]
            if spec["kind"] == "discrete":
                values = np.empty(len(spec["categories"]) + 1, dtype=object)
                values[:-1] = spec["categories"]
                values[-1] = None
                series = pd.Series(values[code], name=spec["name"])
            else:
                means, stds = np.asarray(spec["means"]), np.asarray(spec["stds"])
                k = means.size
                x = np.full(code.shape[0], np.nan)
                valid = code < k
                if k:
                    mode = np.minimum(code, k - 1)
                    scalar = np.clip(scalars[:, self.continuous.index(j)].astype(np.float64), -1, 1)
                    x = scalar * STD_MULTIPLIER * stds[mode] + means[mode]
                    x = np.clip(x, spec["min"], spec["max"])
                    if spec["integral"]:
                        x = np.round(x)
                    x = np.where(valid, x, np.nan)
                series = pd.Series(x, name=spec["name"])
            data[spec["name"]] = _restore_dtype(series, spec["dtype"])
        return pd.DataFrame(data)

    def inverse_transform(
        self, array: np.ndarray, rng: np.random.Generator | None = None
    ) -> pd.DataFrame:
        """Rows from dense ``array`` (see :meth:`split_dense` for ``rng``)."""
        return self.decode(*self.split_dense(array, rng))


def _restore_dtype(series: pd.Series, dtype: str) -> pd.Series:
    """``series`` cast to the fitted dtype; object when that cannot hold it (e.g. nulls)."""
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series.astype(object)


# --------------------------------------------------------------------------------------------
# Training-by-sampling
# --------------------------------------------------------------------------------------------


class ConditionalSampler:
    """Condition draws (global slots of the condition vector) and matching real rows.

    ``counts`` holds each discrete column's category counts (null slot last). Training draws
    pick a discrete column uniformly and a category with probability proportional to
    ``log(1 + count)``; :meth:`sample_rows` then picks a real row of that category uniformly
    (needs ``codes``, the encoded rows, one column per discrete column). Generation draws use
    the empirical frequencies. Everything is vectorised: one ``searchsorted`` for the
    categories, one gather for the rows.
    """

    def __init__(self, counts: Sequence[np.ndarray], codes: np.ndarray | None = None) -> None:
        self.counts = [np.asarray(c, dtype=np.int64) for c in counts]
        self.n_columns = len(self.counts)
        sizes = np.array([c.size for c in self.counts], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.cond_dim = int(sizes.sum())
        self.slot_column = np.repeat(np.arange(self.n_columns), sizes)
        self._log_keys = self._keys([np.log1p(c) for c in self.counts])
        self._freq_keys = self._keys([c.astype(np.float64) for c in self.counts])
        self.rows_by_slot: np.ndarray | None = None
        if codes is not None:
            n = codes.shape[0]
            orders = [np.argsort(codes[:, j], kind="stable") for j in range(self.n_columns)]
            self.rows_by_slot = (
                np.concatenate(orders) if orders else np.zeros(0, dtype=np.int64)
            ).astype(np.int64)
            # Slot g's rows are rows_by_slot[start[g] : start[g] + count[g]].
            self.slot_count = np.concatenate(self.counts) if self.counts else np.zeros(0, int)
            within = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in self.counts]
            self.slot_start = (
                np.concatenate([j * n + w for j, w in enumerate(within)])
                if within
                else np.zeros(0, dtype=np.int64)
            ).astype(np.int64)

    @classmethod
    def from_codes(cls, codes: np.ndarray, transformer: TabularTransformer) -> ConditionalSampler:
        """A sampler over encoded rows (counts taken from these rows)."""
        discrete = codes[:, transformer.discrete]
        counts = [
            np.bincount(discrete[:, j], minlength=int(transformer.block_sizes[col]))
            for j, col in enumerate(transformer.discrete)
        ]
        return cls(counts, discrete)

    @classmethod
    def from_transformer(cls, transformer: TabularTransformer) -> ConditionalSampler:
        """A sampler for generation, from the category counts seen at fit time."""
        return cls([np.asarray(transformer.columns[j]["counts"]) for j in transformer.discrete])

    def _keys(self, weights: list[np.ndarray]) -> np.ndarray:
        """Column ``j``'s cumulative probabilities shifted by ``j``: one increasing array."""
        keys = []
        for j, w in enumerate(weights):
            total = w.sum()
            cdf = np.cumsum(w) / total if total > 0 else np.zeros(w.size)
            keys.append(j + cdf)
        return np.concatenate(keys) if keys else np.zeros(0)

    def sample_slots(self, n: int, rng: np.random.Generator, empirical: bool = False) -> np.ndarray:
        """``n`` condition slots: a uniform discrete column, then a category of it.

        Categories are drawn by ``log(1 + count)`` (training) or by ``count`` (``empirical``).
        """
        if self.n_columns == 0:
            return np.zeros(n, dtype=np.int64)
        keys = self._freq_keys if empirical else self._log_keys
        column = rng.integers(0, self.n_columns, size=n)
        u = rng.random(n)
        slot = np.searchsorted(keys, column + u, side="right")
        # Guard float edges: stay inside the column's block.
        return np.clip(slot, self.offsets[column], self.offsets[column + 1] - 1).astype(np.int64)

    def sample_rows(self, slots: np.ndarray, rng: np.random.Generator, n_rows: int) -> np.ndarray:
        """One real row index per slot, uniform among the rows with that category."""
        if self.n_columns == 0 or self.rows_by_slot is None:
            return rng.integers(0, n_rows, size=slots.shape[0])
        count = self.slot_count[slots]
        if (count == 0).any():
            raise ValueError("a drawn category has no rows")
        pick = (rng.random(slots.shape[0]) * count).astype(np.int64)
        return self.rows_by_slot[self.slot_start[slots] + np.minimum(pick, count - 1)]


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


class _Residual(nn.Module):
    """Linear, batch norm, ReLU; the input is concatenated to the output (CTGAN)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class _PacCritic(nn.Module):
    """Scores groups of ``pac`` rows: (rows, d) -> (rows / pac,)."""

    def __init__(self, d_in: int, dims: list[int], pac: int) -> None:
        super().__init__()
        self.pac = pac
        self.d_in = d_in * pac
        layers: list[nn.Module] = []
        d = self.d_in
        for width in dims:
            layers += [nn.Linear(d, width), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            d = width
        layers.append(nn.Linear(d, 1))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x.reshape(-1, self.d_in)).squeeze(1)


class TabularGANModule(nn.Module):
    """Container of ``generator`` (noise + condition -> raw row) and ``critic``.

    Non-persistent buffers describe the dense layout (derived from the params), so the state
    dict holds weights and batch-norm statistics only.
    """

    def __init__(
        self,
        transformer: TabularTransformer,
        embedding_dim: int,
        generator_dims: list[int],
        critic_dims: list[int],
        pac: int,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.n_scalars = transformer.n_scalars
        self.data_dim = transformer.output_dim
        self.cond_dim = transformer.cond_dim
        self.n_blocks = len(transformer.columns)
        layers: list[nn.Module] = []
        d = embedding_dim + self.cond_dim
        for width in generator_dims:
            layers.append(_Residual(d, width))
            d += width
        layers.append(nn.Linear(d, self.data_dim))
        self.generator = nn.Sequential(*layers)
        self.critic = _PacCritic(self.data_dim + self.cond_dim, critic_dims, pac)
        # Block (segment) of each one-hot position, counted from the first one-hot position.
        segment = np.repeat(np.arange(self.n_blocks), transformer.block_sizes)
        self.register_buffer("segment", torch.as_tensor(segment), persistent=False)
        # Dense position and block of each condition slot (discrete blocks only).
        cond_pos = np.concatenate(
            [
                transformer.block_offsets[j] + np.arange(transformer.block_sizes[j])
                for j in transformer.discrete
            ]
            or [np.zeros(0, dtype=np.int64)]
        )
        cond_block = np.repeat(
            np.asarray(transformer.discrete, dtype=np.int64),
            transformer.block_sizes[transformer.discrete],
        )
        self.register_buffer("cond_pos", torch.as_tensor(cond_pos), persistent=False)
        self.register_buffer("cond_block", torch.as_tensor(cond_block), persistent=False)
        self.register_buffer(
            "block_offsets", torch.as_tensor(transformer.block_offsets), persistent=False
        )

    def _segment_shift(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-segment maxima of ``logits`` (rows, positions), gathered back per position."""
        with torch.no_grad():
            top = torch.full(
                (logits.shape[0], self.n_blocks),
                -torch.inf,
                device=logits.device,
                dtype=logits.dtype,
            )
            index = self.segment.expand(logits.shape[0], -1)
            top = top.scatter_reduce(1, index, logits, reduce="amax", include_self=True)
        return top.index_select(1, self.segment)

    def _segment_sum(self, values: torch.Tensor) -> torch.Tensor:
        sums = torch.zeros(values.shape[0], self.n_blocks, device=values.device, dtype=values.dtype)
        return sums.index_add(1, self.segment, values)

    def activate(self, raw: torch.Tensor, tau: float) -> torch.Tensor:
        """``tanh`` on the scalars, Gumbel-softmax (temperature ``tau``) on each block."""
        scalars = torch.tanh(raw[:, : self.n_scalars])
        logits = raw[:, self.n_scalars :]
        gumbel = -torch.empty_like(logits).exponential_().clamp_min_(1e-30).log()  # no log(0)
        keys = (logits + gumbel) / tau
        e = (keys - self._segment_shift(keys)).exp()
        soft = e / self._segment_sum(e).index_select(1, self.segment)
        return torch.cat([scalars, soft], dim=1)

    def conditional_loss(self, raw: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of each row's conditioned block against its condition slot."""
        if self.cond_dim == 0:
            return raw.new_zeros(())
        logits = raw[:, self.n_scalars :]
        shift = self._segment_shift(logits)
        sums = self._segment_sum((logits - shift).exp())
        rows = torch.arange(raw.shape[0], device=raw.device)
        block = self.cond_block[slots]
        position = self.cond_pos[slots]
        start = self.block_offsets[block] - self.n_scalars
        log_norm = sums[rows, block].log() + shift[rows, start]
        return (log_norm - raw[rows, position]).mean()

    def generate_raw(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Pre-activation generator output for noise and one-hot conditions."""
        return self.generator(torch.cat([noise, cond], dim=1))


# --------------------------------------------------------------------------------------------
# The Generator
# --------------------------------------------------------------------------------------------


class TabularGAN(Generator):
    """CTGAN-style conditional WGAN-GP over table rows (see the module doc).

    Params: ``transformer`` (:meth:`TabularTransformer.to_params`), ``embedding_dim`` (32),
    ``generator_dims`` ([64], residual blocks), ``critic_dims`` ([64]), ``pac`` (10),
    ``critic_steps`` (1), ``gp_weight`` (10), ``tau`` (0.2, Gumbel-softmax temperature),
    ``lr`` (2e-4), ``betas`` ([0.5, 0.9]), ``weight_decay`` (1e-6). All but the sizes are
    CTGAN's; the sizes are smaller than the library's (noise 128, generator (256, 256),
    discriminator (256, 256)): on samples_ctr-like rows (bench/README.md, "Tabular generator
    vs ctgan") these reach at least the library's fidelity in 30 epochs at about a fifth of
    its CPU time per epoch. Only that table was measured; a wider one may need larger sizes
    (pass them in ``params``).

    :meth:`setup_training` uses ``lr`` and ``weight_decay`` from the params when they are
    there (they are whenever the model came from :meth:`from_frame`) and the loop's learning
    rate and weight decay only when they are not: the WGAN-GP settings are part of the model.
    """

    name = "tabular"
    loss_terms = ("loss", "critic_loss", "generator_loss", "gradient_penalty")

    def __init__(self, params: dict[str, Any]) -> None:
        if "transformer" not in params:
            raise ValueError("tabular needs params['transformer'] (see TabularGAN.from_frame)")
        super().__init__(params)
        self.transformer = TabularTransformer.from_params(params["transformer"])
        get = self._param
        self.embedding_dim = int(get("embedding_dim"))
        self.pac = int(get("pac"))
        self.critic_steps = int(get("critic_steps"))
        self.gp_weight = float(get("gp_weight"))
        self.tau = float(get("tau"))
        self.module = TabularGANModule(
            self.transformer,
            self.embedding_dim,
            [int(d) for d in get("generator_dims")],
            [int(d) for d in get("critic_dims")],
            self.pac,
        )
        self._generation_sampler = ConditionalSampler.from_transformer(self.transformer)

    def _param(self, key: str) -> Any:
        return self.params.get(key, DEFAULT_PARAMS[key])

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        discrete_columns: Sequence[str],
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> TabularGAN:
        """An untrained model for the columns of ``frame`` (transformer fitted on it).

        ``params`` override :data:`DEFAULT_PARAMS`; the weights are initialised from ``seed``.
        """
        transformer = TabularTransformer.fit(frame, discrete_columns, seed=seed)
        full = {**DEFAULT_PARAMS, **dict(params or {}), "transformer": transformer.to_params()}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(full)

    # -- training ----------------------------------------------------------------------------

    def setup_training(
        self, learning_rate: float, weight_decay: float, device: torch.device
    ) -> None:
        """One Adam per network, betas (0.5, 0.9); ``lr``/``weight_decay`` from the params."""
        self.device = device
        self.module.to(device)
        lr = float(self.params.get("lr", learning_rate))
        decay = float(self.params.get("weight_decay", weight_decay))
        betas = tuple(float(b) for b in self._param("betas"))
        # The fused kernel (CPU and CUDA since torch 2.4) saves a few ms per step on CPU.
        fused = device.type in ("cpu", "cuda")
        self.optimizers = {
            part: torch.optim.Adam(
                getattr(self.module, part).parameters(),
                lr=lr,
                betas=betas,
                weight_decay=decay,
                fused=fused,
            )
            for part in ("generator", "critic")
        }

    def batches(
        self, rows: pd.DataFrame | np.ndarray, batch_size: int, seed: int = 0
    ) -> Iterator[dict[str, np.ndarray]]:
        """Endless training-by-sampling stream over ``rows`` (a frame, or dense rows).

        Each item holds, for ``critic_steps`` critic updates, real rows (``codes``, ``scalars``)
        with their condition slots (``real_slots``) and the fake rows' slots, plus the slots of
        the generator update (last row of ``slots``). The real rows of a critic step match the
        fake rows' conditions, shuffled (as in CTGAN). ``batch_size`` is rounded up to a
        multiple of ``pac``. Plain numpy, so each rank can build it from its own rows.
        """
        if isinstance(rows, pd.DataFrame):
            codes, scalars = self.transformer.encode(rows)
        else:
            codes, scalars = self.transformer.split_dense(rows)
        n_rows = codes.shape[0]
        if n_rows == 0:
            raise ValueError("no rows to train on")
        sampler = ConditionalSampler.from_codes(codes, self.transformer)
        batch_size = -(-int(batch_size) // self.pac) * self.pac
        rng = np.random.default_rng([int(seed), 0xBA7])
        k = self.critic_steps
        while True:
            slots = sampler.sample_slots((k + 1) * batch_size, rng).reshape(k + 1, batch_size)
            real = sampler.sample_rows(slots[:k].reshape(-1), rng, n_rows).reshape(k, batch_size)
            perm = np.argsort(rng.random((k, batch_size)), axis=1)
            real = np.take_along_axis(real, perm, axis=1)
            yield {
                "codes": codes[real],
                "scalars": scalars[real],
                "real_slots": np.take_along_axis(slots[:k], perm, axis=1),
                "slots": slots,
            }

    def prepare_batch(self, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        """Dense real rows and one-hot conditions on ``device``."""
        codes = torch.as_tensor(batch["codes"]).to(device, non_blocking=True)
        scalars = torch.as_tensor(batch["scalars"]).to(device, non_blocking=True)
        slots = torch.as_tensor(batch["slots"]).to(device, non_blocking=True)
        real_slots = torch.as_tensor(batch["real_slots"]).to(device, non_blocking=True)
        k, b = codes.shape[:2]
        module = self.module
        real = torch.zeros(k, b, module.data_dim, device=device)
        real[..., : module.n_scalars] = scalars
        real.scatter_(2, codes + module.block_offsets.to(device), 1.0)
        return {
            "real": real,
            "real_cond": self._one_hot(real_slots, device),
            "cond": self._one_hot(slots, device),
            "slots": slots,
        }

    def _one_hot(self, slots: torch.Tensor, device: torch.device) -> torch.Tensor:
        cond = torch.zeros(*slots.shape, self.module.cond_dim, device=device)
        if self.module.cond_dim:
            cond.scatter_(-1, slots.unsqueeze(-1), 1.0)
        return cond

    def batch_rows(self, batch: Any) -> int:
        """Rows per step: the batch size."""
        return int(batch["real"].shape[1])

    def _noise(self, rows: int, device: torch.device) -> torch.Tensor:
        return torch.randn(rows, self.embedding_dim, device=device)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> StepTerms:
        """``critic_steps`` WGAN-GP critic updates, then one generator update."""
        module = self.module
        generator, critic = module.generator, module.critic
        critic_opt, generator_opt = self.optimizers["critic"], self.optimizers["generator"]
        real, real_cond, cond = batch["real"], batch["real_cond"], batch["cond"]
        rows = real.shape[1]
        device = real.device
        for i in range(self.critic_steps):
            with torch.no_grad():
                raw = module.generate_raw(self._noise(rows, device), cond[i])
                fake = torch.cat([module.activate(raw, self.tau), cond[i]], dim=1)
            real_in = torch.cat([real[i], real_cond[i]], dim=1)
            alpha = torch.rand(rows // self.pac, 1, device=device).repeat_interleave(self.pac, 0)
            mixed = (alpha * real_in + (1 - alpha) * fake).requires_grad_(True)
            scores = critic(torch.cat([real_in, fake], dim=0))
            score_real, score_fake = scores.chunk(2)
            (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
            penalty = ((grad.reshape(-1, critic.d_in).norm(2, dim=1) - 1) ** 2).mean()
            critic_loss = score_fake.mean() - score_real.mean()
            synced_step(critic_loss + self.gp_weight * penalty, critic_opt, critic)
        gen_cond = cond[self.critic_steps]
        raw = module.generate_raw(self._noise(rows, device), gen_cond)
        fake = torch.cat([module.activate(raw, self.tau), gen_cond], dim=1)
        critic.requires_grad_(False)
        try:
            adversarial = -critic(fake).mean()
        finally:
            critic.requires_grad_(True)
        conditional = module.conditional_loss(raw, batch["slots"][self.critic_steps])
        generator_loss = adversarial + conditional
        synced_step(generator_loss, generator_opt, generator)
        return {
            "loss": generator_loss.detach(),
            "critic_loss": critic_loss.detach(),
            "generator_loss": generator_loss.detach(),
            "gradient_penalty": penalty.detach(),
        }

    def fit(
        self, frame: pd.DataFrame, epochs: int, batch_size: int = 500, seed: int = 0
    ) -> list[dict[str, Any]]:
        """Single-process training on ``frame`` with the shared loop; per-epoch records.

        ``ceil(rows / batch_size)`` steps per epoch; torch's random state is forked and seeded
        with ``seed``, so the same seed gives the same weights.
        """
        from samplegen.train.loop import train_loop

        steps = max(1, math.ceil(len(frame) / batch_size))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            history = train_loop(
                self,
                self.batches(frame, batch_size, seed),
                epochs=epochs,
                steps_per_epoch=steps,
                learning_rate=float(self._param("lr")),
                weight_decay=float(self._param("weight_decay")),
            )
        self.module.eval()
        return history

    # -- generation --------------------------------------------------------------------------

    def condition_slots(
        self, n: int, rng: np.random.Generator, condition: Mapping[str, Any] | None
    ) -> np.ndarray:
        """Condition slots for generation: empirical frequencies, or the requested values.

        With several conditioned columns each row is conditioned on one of them, uniformly.
        """
        sampler = self._generation_sampler
        if not condition:
            return sampler.sample_slots(n, rng, empirical=True)
        wanted = []
        for column, value in condition.items():
            code = self.transformer.category_code(column, value)
            d = self.transformer.discrete.index(self.transformer.names.index(column))
            wanted.append(sampler.offsets[d] + code)
        wanted_arr = np.asarray(wanted, dtype=np.int64)
        return wanted_arr[rng.integers(0, wanted_arr.size, size=n)]

    @torch.no_grad()
    def _generate_codes(
        self, slots: np.ndarray, generator: torch.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        module = self.module
        device = next(module.parameters()).device
        cond = self._one_hot(torch.as_tensor(slots).to(device), device)
        noise = torch.randn(len(slots), self.embedding_dim, generator=generator).to(device)
        raw = module.generate_raw(noise, cond).cpu()
        scalars = torch.tanh(raw[:, : module.n_scalars]).numpy()
        logits = raw[:, module.n_scalars :]
        uniform = torch.rand(logits.shape, generator=generator).clamp_(1e-12, 1.0)
        keys = (logits - torch.log(-torch.log(uniform))).numpy()
        offsets = self.transformer.block_offsets - module.n_scalars
        codes = np.zeros((len(slots), len(offsets)), dtype=np.int64)
        for j, (start, size) in enumerate(zip(offsets, self.transformer.block_sizes, strict=True)):
            codes[:, j] = keys[:, start : start + size].argmax(axis=1)
        return codes, scalars

    def sample(
        self,
        n: int,
        seed: int = 0,
        condition: Mapping[str, Any] | None = None,
        chunk_rows: int = 8192,
        max_rounds: int = 20,
    ) -> pd.DataFrame:
        """``n`` generated rows (eval mode; the same ``seed`` gives the same rows).

        ``condition`` maps discrete columns to values, e.g. ``{"label": 1}``: the generator is
        given that condition (as in CTGAN) and rows that still come out different are rejected
        and drawn again, up to ``max_rounds`` rounds; rows still missing after that (a
        condition the model has not learnt) get the requested values written in.
        """
        self.module.eval()
        rng = np.random.default_rng([int(seed), 0x5A3])
        generator = torch.Generator().manual_seed(int(seed))
        wanted = [
            (self.transformer.names.index(c), self.transformer.category_code(c, v))
            for c, v in (condition or {}).items()
        ]
        codes_parts = [np.zeros((0, len(self.transformer.columns)), dtype=np.int64)]
        scalar_parts = [np.zeros((0, self.transformer.n_scalars), dtype=np.float32)]
        have = 0
        for round_ in range(max_rounds if wanted else 1):
            missing = n - have
            if missing <= 0:
                break
            # Later rounds draw more than is missing: the acceptance rate was below one.
            todo = missing if round_ == 0 else min(4 * missing + 64, 50 * n)
            for start in range(0, todo, chunk_rows):
                slots = self.condition_slots(min(chunk_rows, todo - start), rng, condition)
                codes, scalars = self._generate_codes(slots, generator)
                keep = np.ones(codes.shape[0], dtype=bool)
                for j, code in wanted:
                    keep &= codes[:, j] == code
                codes_parts.append(codes[keep])
                scalar_parts.append(scalars[keep])
                have += int(keep.sum())
        if have < n:  # a condition the model has not learnt: write the values in
            codes, scalars = self._generate_codes(
                self.condition_slots(n - have, rng, condition), generator
            )
            for j, code in wanted:
                codes[:, j] = code
            codes_parts.append(codes)
            scalar_parts.append(scalars)
        codes, scalars = np.concatenate(codes_parts)[:n], np.concatenate(scalar_parts)[:n]
        return self.transformer.decode(codes, scalars)

    @torch.no_grad()
    def conditional_loss(self, n: int = 2000, seed: int = 0) -> float:
        """Mean conditional cross-entropy of ``n`` generated rows (eval mode).

        Conditions are drawn as in training (log-frequency); the lower, the better the
        generator produces the category it is asked for.
        """
        self.module.eval()
        rng = np.random.default_rng([int(seed), 0xC0D])
        sampler = ConditionalSampler(
            [np.asarray(self.transformer.columns[j]["counts"]) for j in self.transformer.discrete]
        )
        slots = torch.as_tensor(sampler.sample_slots(n, rng))
        generator = torch.Generator().manual_seed(int(seed))
        device = next(self.module.parameters()).device
        noise = torch.randn(n, self.embedding_dim, generator=generator).to(device)
        slots = slots.to(device)
        raw = self.module.generate_raw(noise, self._one_hot(slots, device))
        return float(self.module.conditional_loss(raw, slots))
