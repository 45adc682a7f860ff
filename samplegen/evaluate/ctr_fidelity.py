"""Fidelity and privacy of synthetic CTR rows (``synthetic_ctr``) against real ``samples_ctr`` rows.

The row counterparts of :mod:`samplegen.evaluate.fidelity` and
:mod:`samplegen.evaluate.disclosure`, which compare item-set records: here each row is a
handful of feature columns, categorical (strings, nulls a level of their own) and numeric.
The figures reuse those modules' names and code where the notion is the same (TVD and KS,
the detection test's classifier and split, the DCR figures).

Everything works on pandas frames the caller has sampled; it is deterministic given the seed.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder

from samplegen.evaluate.detection import (
    DETECTION_L2,
    DETECTION_MIN_RECORDS,
    balanced_halves,
    fit_logistic,
)
from samplegen.evaluate.disclosure import DisclosureResult, dcr_figures
from samplegen.evaluate.fidelity import ks_or_nan, share_tvd
from samplegen.evaluate.stats import roc_auc

#: Quantile bins of each numeric column in the detection test's one-hot features.
DETECTION_NUMERIC_BINS = 10

#: Query rows per block of the Gower distance (a block holds ``rows x references`` floats).
GOWER_CHUNK_ROWS = 256

#: The text a null categorical value is compared as (a level of its own).
NULL_LEVEL = "<null>"


def column_fidelity(
    real: pd.DataFrame, synthetic: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str]
) -> dict[str, float]:
    """Per-column figures of synthetic vs real rows; 0 means the same marginal.

    - ``tvd:<column>`` for each categorical column: total variation distance between the
      value shares (null a value of its own);
    - ``ks:<column>`` for each numeric column: KS statistic between the non-null values
      (:func:`scipy.stats.ks_2samp`); NaN when a side has none;
    - ``null_share_diff:<column>`` for each numeric column: synthetic minus real share of
      nulls (KS does not see them; a generator that leaves a column empty shows here).
    """
    out: dict[str, float] = {}
    for column in categorical:
        out[f"tvd:{column}"] = share_tvd(real[column], synthetic[column])
    for column in numeric:
        a, b = _floats(real[column]), _floats(synthetic[column])
        out[f"ks:{column}"] = ks_or_nan(a[~np.isnan(a)], b[~np.isnan(b)])
    for column in numeric:
        if len(real) == 0 or len(synthetic) == 0:
            out[f"null_share_diff:{column}"] = math.nan
            continue
        real_nulls = float(np.isnan(_floats(real[column])).mean())
        out[f"null_share_diff:{column}"] = float(np.isnan(_floats(synthetic[column])).mean()) - (
            real_nulls
        )
    return out


def _floats(column: pd.Series) -> np.ndarray:
    """A column as float64, nulls NaN."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def encoded(
    rows: pd.DataFrame, real: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str]
) -> pd.DataFrame:
    """``rows`` as numbers: numeric columns as floats, categorical ones by frequency encoding.

    A level is replaced by its share among the ``real`` rows (null a level of its own; a level
    no real row has is 0), so a categorical column becomes "how common this level is", a
    number whose correlation with the others means the same on both sides.
    """
    out = pd.DataFrame(index=rows.index)
    for column in categorical:
        shares = _levels(real[column]).value_counts(normalize=True)
        out[column] = _levels(rows[column]).map(shares).astype(np.float64).fillna(0.0)
    for column in numeric:
        out[column] = _floats(rows[column])
    return out


def _levels(column: pd.Series) -> pd.Series:
    """A categorical column as strings, null as :data:`NULL_LEVEL`."""
    return column.astype(object).where(column.notna(), NULL_LEVEL).astype(str)


def correlation_difference(
    real: pd.DataFrame, synthetic: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str]
) -> float:
    """Mean absolute difference between the real and synthetic Pearson correlation matrices.

    Columns are :func:`encoded` (categoricals by their real frequency); each correlation uses
    the rows where both columns are non-null (:meth:`pandas.DataFrame.corr`). The mean runs
    over the column pairs whose correlation is defined on both sides (a constant column has
    none); 0 means the same pairwise linear structure.

    Returns:
        The mean, or NaN when no pair is defined on both sides.
    """
    if len(real) < 2 or len(synthetic) < 2:
        return math.nan
    a = encoded(real, real, categorical, numeric).corr(min_periods=2).to_numpy()
    b = encoded(synthetic, real, categorical, numeric).corr(min_periods=2).to_numpy()
    upper = np.triu_indices(a.shape[0], k=1)
    diff = np.abs(a[upper] - b[upper])
    diff = diff[~np.isnan(diff)]
    return float(diff.mean()) if diff.size else math.nan


def detection_auc_rows(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical: Sequence[str],
    numeric: Sequence[str],
    seed: int,
) -> float:
    """Held-out AUC of a logistic regression telling real (0) from synthetic (1) rows.

    The protocol and classifier of :func:`~samplegen.evaluate.detection.detection_auc`
    (balanced sample of at most 2,000 rows a side, halves to train and test, the same
    L2-penalised logistic regression); only the features differ, since a row is not an item
    set: each categorical column one-hot (null a level, levels unseen in train ignored), each
    numeric column one-hot over its :data:`DETECTION_NUMERIC_BINS` quantile bins (median
    imputed) plus a null flag. Bins rather than the raw value let a linear model see a
    difference in a column's shape, not only in its mean. The encoding is fitted on the train
    half only.

    Returns:
        The raw AUC (0.5: indistinguishable), or NaN with fewer than 10 rows on a side.
    """
    if min(len(real), len(synthetic)) < DETECTION_MIN_RECORDS:
        return math.nan
    rng = np.random.default_rng(seed)
    real_train, real_test, synthetic_train, synthetic_test = balanced_halves(
        len(real), len(synthetic), rng
    )
    columns = [*categorical, *numeric]

    def stacked(real_idx: np.ndarray, synthetic_idx: np.ndarray) -> pd.DataFrame:
        rows = pd.concat([real.iloc[real_idx][columns], synthetic.iloc[synthetic_idx][columns]])
        rows = rows.reset_index(drop=True)
        for column in categorical:
            rows[column] = _levels(rows[column])
        for column in numeric:
            rows[column] = _floats(rows[column])
        return rows

    x_train, x_test = stacked(real_train, synthetic_train), stacked(real_test, synthetic_test)
    y_train = np.repeat([0.0, 1.0], [real_train.size, synthetic_train.size])
    y_test = np.repeat([0, 1], [real_test.size, synthetic_test.size])
    encoder = _detection_encoder(categorical, numeric)
    with warnings.catch_warnings():  # a column with few distinct values has fewer bins
        warnings.simplefilter("ignore", UserWarning)
        train_features = encoder.fit_transform(x_train)
        test_features = encoder.transform(x_test)
    weights, bias = fit_logistic(train_features, y_train, DETECTION_L2)
    return roc_auc(test_features @ weights + bias, y_test)


#: scikit-learn 1.7 added ``quantile_method`` (and warns without it until 1.9 makes this the
#: default); Databricks Runtime 15.4-17.3 ML ship 1.3-1.6, which have neither.
_QUANTILES = (
    {"quantile_method": "averaged_inverted_cdf"}
    if "quantile_method" in inspect.signature(KBinsDiscretizer).parameters
    else {}
)


def _detection_encoder(categorical: Sequence[str], numeric: Sequence[str]) -> ColumnTransformer:
    """One-hot categoricals, one-hot quantile bins of numerics, and null flags (dense)."""
    bins = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        KBinsDiscretizer(
            n_bins=DETECTION_NUMERIC_BINS, encode="onehot-dense", strategy="quantile", **_QUANTILES
        ),
    )
    return ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(categorical),
            ),
            ("bins", bins, list(numeric)),
            ("nulls", MissingIndicator(features="all"), list(numeric)),
        ],
        sparse_threshold=0.0,
    )


def ctr_fidelity_metrics(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical: Sequence[str],
    numeric: Sequence[str],
    seed: int,
) -> dict[str, float]:
    """Every fidelity figure of synthetic vs real rows (the ``fidelity`` rows of a CTR run).

    :func:`column_fidelity`'s per-column ``tvd:`` / ``ks:`` / ``null_share_diff:`` figures,
    ``corr_diff`` (:func:`correlation_difference`) and ``detection_auc``
    (:func:`detection_auc_rows`).
    """
    return {
        **column_fidelity(real, synthetic, categorical, numeric),
        "corr_diff": correlation_difference(real, synthetic, categorical, numeric),
        "detection_auc": detection_auc_rows(real, synthetic, categorical, numeric, seed),
    }


# --- privacy -----------------------------------------------------------------------------------


def gower_dcr(
    queries: pd.DataFrame,
    references: pd.DataFrame,
    categorical: Sequence[str],
    numeric: Sequence[str],
    chunk_rows: int = GOWER_CHUNK_ROWS,
) -> np.ndarray:
    """Each query row's Gower distance to its closest reference row (its DCR).

    Gower's distance is the mean over the columns of a per-column distance in ``[0, 1]``: for a
    categorical column 0 when the values are equal (two nulls are equal) and 1 otherwise; for a
    numeric column ``|x - y| / range`` (range over the references' non-null values; a range of
    0 divides by 1), capped at 1, with 0 for two nulls and 1 for a null against a value.
    0 means the query equals a reference row on every column.

    Args:
        queries: Rows to score.
        references: Rows to match against.
        categorical: Categorical columns of both.
        numeric: Numeric columns of both.
        chunk_rows: Queries per block, so memory stays ``chunk_rows x len(references)``.

    Returns:
        ``(len(queries),)`` float64 distances; NaN for every query when there is no
        reference or no column.

    Raises:
        ValueError: If ``chunk_rows`` is not positive.
    """
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    n_columns = len(categorical) + len(numeric)
    if len(references) == 0 or n_columns == 0:
        return np.full(len(queries), math.nan)
    codes_q, codes_r = [], []
    for column in categorical:
        q_levels, r_levels = _levels(queries[column]), _levels(references[column])
        levels = pd.Index(pd.concat([r_levels, q_levels]).unique())
        codes_q.append(levels.get_indexer(q_levels))
        codes_r.append(levels.get_indexer(r_levels))
    values_q = [_floats(queries[c]) for c in numeric]
    values_r = [_floats(references[c]) for c in numeric]
    spans = []
    for r in values_r:
        known = r[~np.isnan(r)]
        span = float(known.max() - known.min()) if known.size else 0.0
        spans.append(span if span > 0 else 1.0)

    out = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), chunk_rows):
        stop = min(start + chunk_rows, len(queries))
        total = np.zeros((stop - start, len(references)), dtype=np.float64)
        for q, r in zip(codes_q, codes_r, strict=True):
            total += q[start:stop, None] != r[None, :]
        for q, r, span in zip(values_q, values_r, spans, strict=True):
            qs = q[start:stop, None]
            term = np.minimum(np.abs(qs - r[None, :]) / span, 1.0)
            nulls = np.isnan(qs) | np.isnan(r)[None, :]
            term[nulls] = 1.0
            term[np.isnan(qs) & np.isnan(r)[None, :]] = 0.0
            total += term
        out[start:stop] = total.min(axis=1) / n_columns
    return out


def ctr_disclosure(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical: Sequence[str],
    numeric: Sequence[str],
) -> DisclosureResult:
    """DCR of synthetic rows and of held-out real rows to the real train rows.

    The figures of :func:`~samplegen.evaluate.disclosure.dcr_figures` (medians, 5th
    percentiles, ``dcr_closer_share``) over :func:`gower_dcr` distances, plus ``n_synthetic``,
    ``n_holdout`` and ``n_reference`` (the rows compared). Held-out rows are the baseline: a
    generator that generalises puts its rows no closer to the train rows than unseen real rows
    are. Both sides are measured against the same ``train`` rows, so a sample of them keeps the
    comparison fair (distances are larger than to every train row, on both sides alike).
    """
    dcr_synthetic = gower_dcr(synthetic, train, categorical, numeric)
    dcr_holdout = gower_dcr(holdout, train, categorical, numeric)
    metrics = {
        **dcr_figures(dcr_synthetic, dcr_holdout),
        "n_synthetic": float(len(synthetic)),
        "n_holdout": float(len(holdout)),
        "n_reference": float(len(train)),
    }
    return DisclosureResult(metrics=metrics, dcr_synthetic=dcr_synthetic, dcr_holdout=dcr_holdout)
