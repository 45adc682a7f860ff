"""``gbt``: Spark ML gradient-boosted trees (``GBTClassifier``) over indexed categoricals.

Why Spark ML and not LightGBM/XGBoost: it needs no new dependency and trains distributed on
the cluster that already holds ``samples_ctr``, the tree model a data-platform team already
has; a driver-side library would cap the rows at one machine's memory. The pipeline:
StringIndexer for the categoricals (unseen and null values in their own bucket), kept as
nominal features up to ``evaluate.gbt_max_categories`` levels (``maxBins`` is raised to fit
them) and as their frequency rank beyond; numerics imputed by their median (trees need no
scaling). ``maxDepth`` x ``maxIter`` are chosen from ``evaluate.gbt_max_depth_grid`` x
``evaluate.gbt_max_iter_grid`` by AUC on the real valid rows; the chosen model scores the test
rows once. Full rows and all features per tree, so a fit is deterministic given its rows.
"""

from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING, Self

from pyspark.ml import Pipeline, PipelineModel, Transformer
from pyspark.ml.classification import GBTClassifier
from pyspark.ml.feature import Imputer, SQLTransformer, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.evaluate.classifiers import LABEL, SCORE, check_labels, tune, usable_features
from samplegen.runinfo import LOG

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig

#: Prefix of the columns the pipeline adds, so they never clash with a table's.
_P = "_gbt_"
#: Spark's default number of bins of a continuous feature.
_MIN_BINS = 32


def _prepared(rows: DataFrame, numeric: list[str]) -> DataFrame:
    """The label and the numerics as doubles (the Imputer's input type)."""
    out = rows.withColumn(LABEL, F.col(LABEL).cast("double"))
    for name in numeric:
        out = out.withColumn(_P + name, F.col(name).cast("double"))
    return out


def _features(
    indexer: Transformer, levels: dict[str, int], numeric: list[str], max_categories: int
) -> tuple[Pipeline, int]:
    """The stages after the fitted ``indexer`` (ending in ``_gbt_features``) and ``maxBins``.

    A categorical of at most ``max_categories`` levels stays nominal (its index carries the
    indexer's metadata); a larger one becomes its frequency rank, a plain number (the
    arithmetic drops the metadata), so ``maxBins`` need not grow with it.
    """
    inputs: list[str] = []
    ordinal: list[str] = []
    nominal_levels = [0]
    for name, n in levels.items():
        if n <= max_categories:
            inputs.append(_P + name + "_idx")
            nominal_levels.append(n + 1)  # the bucket of unseen values
        else:
            LOG.info("stage=evaluate ctr gbt: %s has %d levels, used as frequency rank", name, n)
            ordinal.append(name)
    stages: list[Transformer | Imputer] = [indexer]
    if ordinal:
        ranks = ", ".join(f"`{_P}{c}_idx` + 0.0 AS `{_P}{c}_rank`" for c in ordinal)
        stages.append(SQLTransformer(statement=f"SELECT *, {ranks} FROM __THIS__"))
        inputs += [_P + c + "_rank" for c in ordinal]
    if numeric:
        raw = [_P + c for c in numeric]
        imputed = [_P + c + "_imp" for c in numeric]
        stages.append(Imputer(inputCols=raw, outputCols=imputed, strategy="median"))
        inputs += imputed
    stages.append(VectorAssembler(inputCols=inputs, outputCol=_P + "features"))
    return Pipeline(stages=stages), max(_MIN_BINS, *nominal_levels)


def _with_score(scored: DataFrame, columns: list[str]) -> DataFrame:
    """The input ``columns`` and :data:`SCORE`, the probability of label 1."""
    return scored.select(*columns, vector_to_array(_P + "probability")[1].alias(SCORE))


class GbtCTR:
    """Gradient-boosted trees CTR classifier, ``maxDepth`` x ``maxIter`` tuned on valid AUC.

    Attributes:
        grid: The ``(maxDepth, maxIter)`` pairs tried, shallow and short first.
        max_categories: Levels up to which a categorical is a nominal feature.
        seed: Seed of the trees (fixed; the fit uses every row and feature).
        tuned: The chosen ``maxDepth`` and ``maxIter`` (after :meth:`fit`).
        valid_auc: Valid AUC of each ``maxDepth=<d>,maxIter=<n>`` tried (after :meth:`fit`).
    """

    def __init__(
        self, depths: list[int], iterations: list[int], max_categories: int = 256, seed: int = 0
    ) -> None:
        if not depths or not iterations or min(depths) < 1 or min(iterations) < 1:
            raise ValueError(
                f"gbt needs positive maxDepth and maxIter values, got {depths} and {iterations}"
            )
        self.grid = list(product(sorted(depths), sorted(iterations)))
        self.max_categories = max_categories
        self.seed = seed
        self.tuned: dict[str, float] = {}
        self.valid_auc: dict[str, float] = {}
        self._model: PipelineModel | None = None
        self._numeric: list[str] = []

    def fit(self, train: DataFrame, valid: DataFrame, weight_col: str | None = None) -> Self:
        """Fit the features on ``train``, one model per grid pair; keep the best on valid."""
        check_labels(train)
        categorical, numeric = usable_features(train)
        self._numeric = numeric
        prepared = _prepared(train, numeric)
        stages: list[Transformer] = []
        levels: dict[str, int] = {}
        if categorical:
            indexer = StringIndexer(
                inputCols=categorical,
                outputCols=[_P + c + "_idx" for c in categorical],
                handleInvalid="keep",
                stringOrderType="frequencyDesc",
            ).fit(prepared)
            labels = indexer.labelsArray
            levels = {c: len(v) for c, v in zip(categorical, labels, strict=True)}
            stages.append(indexer)
        pipeline, max_bins = _features(
            stages[0] if stages else SQLTransformer(statement="SELECT * FROM __THIS__"),
            levels,
            numeric,
            self.max_categories,
        )
        features = pipeline.fit(prepared)
        train_x = features.transform(prepared).cache()
        valid_x = features.transform(_prepared(valid, numeric)).cache()
        try:
            chosen, model, aucs = tune(
                "gbt",
                self.grid,
                lambda pair: self._estimator(*pair, max_bins, weight_col).fit(train_x),
                lambda m: _with_score(m.transform(valid_x), [LABEL]),
                lambda pair: f"maxDepth={pair[0]},maxIter={pair[1]}",
            )
        finally:
            train_x.unpersist()
            valid_x.unpersist()
        self.tuned = {"maxDepth": chosen[0], "maxIter": chosen[1]}
        self.valid_auc = {f"maxDepth={d},maxIter={n}": auc for (d, n), auc in aucs.items()}
        self._model = PipelineModel(stages=[features, model])
        return self

    def _estimator(
        self, depth: int, iterations: int, max_bins: int, weight_col: str | None
    ) -> GBTClassifier:
        gbt = (
            GBTClassifier(
                featuresCol=_P + "features",
                labelCol=LABEL,
                predictionCol=_P + "prediction",
                maxDepth=depth,
                maxIter=iterations,
                maxBins=max_bins,
                stepSize=0.1,
                subsamplingRate=1.0,
                featureSubsetStrategy="all",
                seed=self.seed,
            )
            .setProbabilityCol(_P + "probability")
            .setRawPredictionCol(_P + "raw")
        )
        if weight_col:
            gbt.setWeightCol(weight_col)
        return gbt

    def score(self, rows: DataFrame) -> DataFrame:
        """``rows`` (their own columns) with :data:`SCORE`."""
        if self._model is None:
            raise RuntimeError("gbt: score before fit")
        return _with_score(self._model.transform(_prepared(rows, self._numeric)), rows.columns)


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> GbtCTR:
    """The registry factory: the run's ``maxDepth`` x ``maxIter`` grid and ``seed``."""
    del spark
    return GbtCTR(cfg.gbt_max_depth_grid, cfg.gbt_max_iter_grid, cfg.gbt_max_categories, seed=seed)
