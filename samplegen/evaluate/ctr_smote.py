"""The SMOTE-NC baseline of stage 4's CTR classifiers: interpolated rows instead of synthetic ones.

SMOTE-NC (Chawla et al. 2002, the variant for mixed nominal and continuous columns) makes a new
row of a label from a real train row of that label and one of its ``k`` nearest neighbours
among the label's rows: each numeric feature a random point between the two rows' values, each
categorical feature the most frequent value among the neighbours. It is the non-generative
control that, unlike random oversampling, writes rows no real user produced, so a generator
that beats it earns its model. The implementation is imbalanced-learn's ``SMOTENC`` (the
reference one, on scikit-learn), run on the driver over a seeded sample of the train rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from samplegen.evaluate.classifiers import LABEL, feature_columns
from samplegen.runinfo import LOG
from samplegen.spark import pinned

#: The categorical level a null takes while SMOTE-NC runs (new rows map it back to null).
MISSING = "(missing)"


class SmoteSkipped(ValueError):
    """SMOTE-NC cannot make the rows asked for (a label has too few train rows)."""


def imputed(frame: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    """``frame`` with no nulls, as SMOTE-NC's nearest neighbours need.

    A null numeric value becomes the column's median over ``frame`` (0.0 for a column with no
    value at all); a null categorical value becomes the level :data:`MISSING`, so a missing
    brand is a level of its own, as the classifiers' own null handling treats it. Numeric
    columns come back as float64, categorical ones as strings.
    """
    out = frame.copy()
    for column in numeric:
        values = pd.to_numeric(out[column], errors="coerce").astype("float64")
        out[column] = values.fillna(float(values.median()) if values.notna().any() else 0.0)
    for column in categorical:
        out[column] = out[column].astype(object).where(out[column].notna(), MISSING).astype(str)
    return out


def smote_nc_rows(
    train: DataFrame, extra: dict[int, int], seed: int, max_rows: int, k_neighbors: int
) -> DataFrame | None:
    """``extra[label]`` new SMOTE-NC rows of each label, as a Spark frame of ``train``'s schema.

    Rows of :data:`LABEL` and the feature columns (:func:`feature_columns`), drawn on the driver:
    a seeded sample of at most ``max_rows`` train rows per label is collected, nulls imputed
    (:func:`imputed`: numeric median, categorical level :data:`MISSING`), and
    ``SMOTENC.fit_resample`` (``k_neighbors`` neighbours, ``evaluate.smote_k_neighbors``) asked
    for ``n_sample + extra[label]`` rows of each label that gets rows (a label that gets none
    is sampled too: SMOTE needs two classes). Only the new rows are kept: numeric values are
    interpolated between real rows, so they lie within the real ranges (integer columns are
    rounded); categorical values are levels of the real rows, and :data:`MISSING` turns back
    into null. Returns ``None`` when no rows are asked for.

    Raises:
        SmoteSkipped: If a label that gets rows has fewer than ``k_neighbors + 1`` train rows
            (named), or the train rows have a single label (SMOTE needs two classes).
    """
    wanted = {label: n for label, n in sorted(extra.items()) if n > 0}
    if not wanted:
        return None
    categorical, numeric = feature_columns()
    columns = [*categorical, *numeric]
    counts = {
        int(r[LABEL]): int(r["n"])
        for r in train.groupBy(LABEL).agg(F.count("*").alias("n")).collect()
    }
    for label in wanted:
        if counts.get(label, 0) < k_neighbors + 1:
            raise SmoteSkipped(
                f"smote_nc: label={label} has {counts.get(label, 0)} CTR train rows; SMOTE-NC "
                f"needs at least k_neighbors + 1 = {k_neighbors + 1} "
                "(evaluate.smote_k_neighbors)"
            )
    if len(counts) < 2:
        raise SmoteSkipped("smote_nc: the CTR train rows have a single label")
    sample = _sample(train, counts, seed, max_rows).toPandas()
    new = smote_nc_frame(sample, categorical, numeric, wanted, seed, k_neighbors)
    schema = T.StructType([train.schema[c] for c in (LABEL, *columns)])
    return pinned(train.sparkSession.createDataFrame(_typed(new, schema), schema))


def smote_nc_frame(
    sample: pd.DataFrame,
    categorical: list[str],
    numeric: list[str],
    wanted: dict[int, int],
    seed: int,
    k_neighbors: int,
) -> pd.DataFrame:
    """``wanted[label]`` new rows of each label from the real rows ``sample``, on the driver.

    Each new row lies between a row and one of its ``k_neighbors`` nearest rows of its label.

    ``sample`` holds :data:`LABEL` and the feature columns, nulls allowed (:func:`imputed`
    fills them). Returns :data:`LABEL` and the feature columns of the new rows only (the rows
    ``SMOTENC.fit_resample`` appends after the originals), numeric values as floats,
    categorical ones as strings (:data:`MISSING` included).
    """
    from imblearn.over_sampling import SMOTENC

    columns = [*categorical, *numeric]
    X = imputed(sample[columns], categorical, numeric)
    y = sample[LABEL].astype("int64").to_numpy()
    n_sample = {int(label): int((y == label).sum()) for label in np.unique(y)}
    smote = SMOTENC(
        categorical_features=list(range(len(categorical))),
        sampling_strategy={label: n_sample[label] + n for label, n in wanted.items()},
        k_neighbors=k_neighbors,
        random_state=seed,
    )
    X_new, y_new = smote.fit_resample(X, y)
    new = pd.DataFrame(np.asarray(X_new, dtype=object)[len(X) :], columns=columns)
    new.insert(0, LABEL, np.asarray(y_new)[len(X) :].astype("int64"))
    LOG.info(
        "stage=evaluate ctr smote_nc: %s new rows from %s sampled train rows",
        {label: int((new[LABEL] == label).sum()) for label in wanted},
        n_sample,
    )
    return new


def _sample(train: DataFrame, counts: dict[int, int], seed: int, max_rows: int) -> DataFrame:
    """At most ``max_rows`` train rows of each label: all of them, or a seeded random draw."""
    parts = []
    for label, n in sorted(counts.items()):
        pool = train.where(F.col(LABEL) == label)
        if n > max_rows:
            pool = pool.withColumn("_u", F.rand(seed + label)).orderBy("_u").limit(max_rows)
            pool = pool.drop("_u")
        parts.append(pool)
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def _typed(new: pd.DataFrame, schema: T.StructType) -> pd.DataFrame:
    """``new`` with pandas dtypes that match ``schema`` (integers rounded, :data:`MISSING` null)."""
    out = pd.DataFrame(index=new.index)
    for field in schema.fields:
        values = new[field.name]
        if isinstance(field.dataType, T.StringType):
            out[field.name] = values.astype(object).where(values != MISSING, None)
        elif isinstance(field.dataType, T.IntegralType):
            dtype = "int64" if isinstance(field.dataType, T.LongType) else "int32"
            out[field.name] = np.rint(values.astype("float64")).astype(dtype)
        else:
            out[field.name] = values.astype("float64")
    return out.reset_index(drop=True)
