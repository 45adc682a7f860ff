"""``logreg``: Spark ML logistic regression over one-hot categoricals and scaled numerics.

The baseline a data-platform team already has: a distributed Spark ML ``Pipeline``
(StringIndexer + OneHotEncoder for the categoricals, unseen and null values in their own
bucket; Imputer + StandardScaler for the numerics, counts on a log scale) ending in a
``LogisticRegression``. ``regParam`` is chosen from ``evaluate.logreg_reg_grid`` by AUC on
the real valid rows; the chosen model then scores the test rows once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import (
    Imputer,
    OneHotEncoder,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from samplegen.evaluate.classifiers import LABEL, SCORE, check_labels, tune, usable_features

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig

#: Prefix of the columns the pipeline adds, so they never clash with a table's.
_P = "_lr_"


def _prepared(rows: DataFrame, categorical: list[str], numeric: list[str]) -> DataFrame:
    """Feature columns as the pipeline reads them: numerics as doubles, counts as log1p."""
    out = rows.withColumn(LABEL, F.col(LABEL).cast("double"))
    for name in numeric:
        value = F.col(name).cast("double")
        if isinstance(rows.schema[name].dataType, T.IntegerType | T.LongType):
            value = F.log1p(F.greatest(value, F.lit(0.0)))
        out = out.withColumn(_P + name, value)
    return out


def _features(categorical: list[str], numeric: list[str]) -> Pipeline:
    """The feature stages, ending in the column ``_lr_features``."""
    stages = []
    inputs: list[str] = []
    if categorical:
        indexed = [_P + c + "_idx" for c in categorical]
        encoded = [_P + c + "_ohe" for c in categorical]
        stages += [
            StringIndexer(inputCols=categorical, outputCols=indexed, handleInvalid="keep"),
            OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"),
        ]
        inputs += encoded
    if numeric:
        raw = [_P + c for c in numeric]
        imputed = [_P + c + "_imp" for c in numeric]
        stages += [
            Imputer(inputCols=raw, outputCols=imputed, strategy="median"),
            VectorAssembler(inputCols=imputed, outputCol=_P + "numeric"),
            StandardScaler(
                inputCol=_P + "numeric", outputCol=_P + "scaled", withMean=True, withStd=True
            ),
        ]
        inputs.append(_P + "scaled")
    stages.append(VectorAssembler(inputCols=inputs, outputCol=_P + "features"))
    return Pipeline(stages=stages)


def _with_score(scored: DataFrame, columns: list[str]) -> DataFrame:
    """The input ``columns`` and :data:`SCORE`, the probability of label 1."""
    return scored.select(*columns, vector_to_array(_P + "probability")[1].alias(SCORE))


class LogisticCTR:
    """Logistic regression CTR classifier, ``regParam`` tuned on valid AUC.

    Attributes:
        reg_grid: The ``regParam`` values tried.
        max_iter: Iterations of each fit.
        chosen: ``regParam`` of the fitted model (after :meth:`fit`).
        tuned: ``{"regParam": chosen}`` (after :meth:`fit`).
        valid_auc: Valid AUC of each ``regParam=<value>`` tried (after :meth:`fit`).
    """

    def __init__(self, reg_grid: list[float], max_iter: int = 100) -> None:
        if not reg_grid or min(reg_grid) < 0:
            raise ValueError(f"logreg needs non-negative regParam values, got {reg_grid}")
        self.reg_grid = list(reg_grid)
        self.max_iter = max_iter
        self.chosen: float | None = None
        self.tuned: dict[str, float] = {}
        self.valid_auc: dict[str, float] = {}
        self._model: PipelineModel | None = None
        self._columns: tuple[list[str], list[str]] = ([], [])

    def fit(self, train: DataFrame, valid: DataFrame, weight_col: str | None = None) -> Self:
        """Fit the features on ``train``, one model per ``regParam``; keep the best on valid."""
        check_labels(train)
        categorical, numeric = usable_features(train)
        self._columns = (categorical, numeric)
        features = _features(categorical, numeric).fit(_prepared(train, categorical, numeric))
        train_x = features.transform(_prepared(train, categorical, numeric)).cache()
        valid_x = features.transform(_prepared(valid, categorical, numeric)).cache()
        try:
            chosen, model, aucs = tune(
                "logreg",
                self.reg_grid,
                lambda reg: self._estimator(reg, weight_col).fit(train_x),
                lambda m: _with_score(m.transform(valid_x), [LABEL]),
                lambda reg: f"regParam={reg}",
            )
        finally:
            train_x.unpersist()
            valid_x.unpersist()
        self.chosen = chosen
        self.tuned = {"regParam": chosen}
        self.valid_auc = {f"regParam={reg}": auc for reg, auc in aucs.items()}
        self._model = PipelineModel(stages=[features, model])
        return self

    def _estimator(self, reg: float, weight_col: str | None) -> LogisticRegression:
        lr = LogisticRegression(
            featuresCol=_P + "features",
            labelCol=LABEL,
            regParam=reg,
            elasticNetParam=0.0,
            maxIter=self.max_iter,
            probabilityCol=_P + "probability",
            predictionCol=_P + "prediction",
            rawPredictionCol=_P + "raw",
        )
        if weight_col:
            lr.setWeightCol(weight_col)
        return lr

    def score(self, rows: DataFrame) -> DataFrame:
        """``rows`` (their own columns) with :data:`SCORE`."""
        if self._model is None:
            raise RuntimeError("logreg: score before fit")
        categorical, numeric = self._columns
        return _with_score(
            self._model.transform(_prepared(rows, categorical, numeric)), rows.columns
        )


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> LogisticCTR:
    """The registry factory: the run's ``regParam`` grid (the fit is deterministic)."""
    del spark, seed
    return LogisticCTR(cfg.logreg_reg_grid)
