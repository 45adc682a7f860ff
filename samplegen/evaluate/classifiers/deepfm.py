"""``deepfm``: a small torch DeepFM (Guo et al. 2017) CTR classifier, trained on the driver.

The network: one embedding per categorical field (the field's train levels indexed by
frequency, index 0 the bucket of unseen and null values); the numerics median-imputed,
counts on a log scale (as ``logreg``), standardised, as dense inputs. Its logit is a
first-order term (a weight per level and per numeric), the FM second-order term over the field
embeddings (each numeric is a field too: its value times a learned vector) and an MLP over
the concatenated categorical embeddings and the dense values; a sigmoid gives the score,
trained on binary cross-entropy (weighted by the ``class_weight`` variant's weight column:
the weighted mean over each batch).

**Rows come to the driver**: training is single-process torch, through the project's training
loop (:func:`samplegen.evaluate.recommenders.fit_in_process`, as ``multvae`` and ``sasrec``:
the loop TorchDistributor runs for the generators, not distributed here, as the model is
small and scoring it is the point, not training it at scale), so at most
``evaluate.deepfm_max_rows`` train rows (and as many valid rows) are collected, a seeded
sample logged when it applies. Scoring stays distributed (``mapInPandas`` with the
fitted weights). One model is trained per ``evaluate.deepfm_embedding_dims`` value, each for
at most ``evaluate.deepfm_epochs`` epochs with early stopping on the real valid rows' AUC
(the best epoch's weights kept); the best of them by valid AUC scores the test rows once.
Seeded and deterministic on CPU: torch's random state is forked and seeded, batches are drawn
in a seeded order and the fit runs on one thread. Stage 4 fits it once per variant with
``evaluate.seed`` (registered ``stochastic``: another seed gives another model).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as TF
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from torch import nn

from samplegen.evaluate.classifiers import (
    LABEL,
    SCORE,
    feature_columns,
    require_both_labels,
    tune,
    usable_features,
)
from samplegen.evaluate.ctr_metrics import roc_auc
from samplegen.evaluate.recommenders import fit_in_process
from samplegen.models.base import Generator, StepTerms
from samplegen.runinfo import LOG

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import EvaluateConfig

#: Index of a categorical value not seen in the train rows (or null).
UNSEEN = 0
#: Rows scored per forward pass on the driver (valid AUC) and on the executors.
_SCORE_BATCH = 8192


@dataclass
class Encoding:
    """How rows become network inputs, fitted on the train rows.

    Attributes:
        categorical: The categorical fields, in input order.
        numeric: The numeric fields, in input order.
        counts: The numerics read on a log scale (integer counts).
        levels: Per categorical field, its train levels -> index (1.., most frequent first).
        medians: Per numeric, the train median (on the log scale for counts) imputing nulls.
        means: Per numeric, the mean after imputation.
        stds: Per numeric, the standard deviation after imputation (1 where it is 0).
    """

    categorical: list[str]
    numeric: list[str]
    counts: list[str]
    levels: dict[str, dict[str, int]]
    medians: dict[str, float]
    means: dict[str, float]
    stds: dict[str, float]

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, categorical: list[str], numeric: list[str], counts: list[str]
    ) -> Encoding:
        """Levels, medians and scales of the train ``frame``."""
        levels = {}
        for name in categorical:
            seen = frame[name].dropna().astype(str).value_counts()
            ordered = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
            levels[name] = {level: i + 1 for i, (level, _) in enumerate(ordered)}
        encoding = cls(categorical, numeric, counts, levels, {}, {}, {})
        for name in numeric:
            raw = encoding._raw(frame, name)
            median = float(np.nanmedian(raw)) if np.isfinite(raw).any() else 0.0
            filled = np.where(np.isnan(raw), median, raw)
            std = float(filled.std())
            encoding.medians[name] = median
            encoding.means[name] = float(filled.mean())
            encoding.stds[name] = std if std > 0 else 1.0
        return encoding

    def _raw(self, frame: pd.DataFrame, name: str) -> np.ndarray:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        if name in self.counts:
            values = np.log1p(np.maximum(values, 0.0))
        return values

    @property
    def field_sizes(self) -> list[int]:
        """Embedding rows of each categorical field: its levels and the unseen bucket."""
        return [len(self.levels[name]) + 1 for name in self.categorical]

    def encode(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(n, fields)`` int64 level indices and ``(n, numerics)`` float32 dense values."""
        cats = np.zeros((len(frame), len(self.categorical)), dtype=np.int64)
        for j, name in enumerate(self.categorical):
            mapped = frame[name].map(lambda v, lv=self.levels[name]: lv.get(str(v), UNSEEN))
            cats[:, j] = mapped.where(frame[name].notna(), UNSEEN).to_numpy(dtype=np.int64)
        dense = np.zeros((len(frame), len(self.numeric)), dtype=np.float32)
        for j, name in enumerate(self.numeric):
            raw = self._raw(frame, name)
            filled = np.where(np.isnan(raw), self.medians[name], raw)
            dense[:, j] = (filled - self.means[name]) / self.stds[name]
        return cats, dense


class DeepFMModule(nn.Module):
    """First-order terms + FM over field embeddings + MLP over the embeddings; a logit per row."""

    def __init__(self, field_sizes: list[int], n_numeric: int, dim: int, hidden: list[int]) -> None:
        super().__init__()
        offsets = np.concatenate([[0], np.cumsum(field_sizes)[:-1]]) if field_sizes else []
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long))
        total = max(1, int(sum(field_sizes)))
        self.embedding = nn.Embedding(total, dim)
        self.linear = nn.Embedding(total, 1)
        nn.init.normal_(self.embedding.weight, std=0.01)
        nn.init.zeros_(self.linear.weight)
        self.numeric_embedding = nn.Parameter(torch.randn(n_numeric, dim) * 0.01)
        self.numeric_linear = nn.Parameter(torch.zeros(n_numeric))
        self.bias = nn.Parameter(torch.zeros(1))
        layers: list[nn.Module] = []
        width = len(field_sizes) * dim + n_numeric
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, cats: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """Logits ``(n,)`` of ``(n, fields)`` level indices and ``(n, numerics)`` dense values."""
        index = cats + self.offsets
        embedded = self.embedding(index)  # (n, fields, dim)
        fields = torch.cat([embedded, dense.unsqueeze(-1) * self.numeric_embedding], dim=1)
        summed = fields.sum(dim=1)
        fm = 0.5 * (summed.pow(2) - fields.pow(2).sum(dim=1)).sum(dim=1)
        first = self.linear(index).sum(dim=(1, 2)) + dense @ self.numeric_linear + self.bias
        deep = self.mlp(torch.cat([embedded.flatten(1), dense], dim=1)).squeeze(-1)
        return first + fm + deep


class DeepFM(Generator):
    """The network with its optimizer step, for the project's training loop.

    Batches are one float tensor per row: label, weight, the dense values, then the level
    indices (exact as floats below 2^24 levels), so :func:`fit_in_process` can draw them.
    """

    name: ClassVar[str] = "deepfm"

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        self.n_numeric = int(p["n_numeric"])
        self.module = DeepFMModule(
            [int(s) for s in p["field_sizes"]],
            self.n_numeric,
            int(p["dim"]),
            [int(h) for h in p["hidden"]],
        )

    def train_step(self, batch: torch.Tensor, step: int) -> StepTerms:
        """One Adam step on the weighted mean binary cross-entropy of the batch."""
        label, weight = batch[:, 0], batch[:, 1]
        dense = batch[:, 2 : 2 + self.n_numeric]
        cats = batch[:, 2 + self.n_numeric :].long()
        losses = TF.binary_cross_entropy_with_logits(
            self.module(cats, dense), label, reduction="none"
        )
        loss = (losses * weight).sum() / weight.sum()
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def predict(self, cats: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Probabilities of label 1, float64 ``(n,)``."""
        return _predict(self.module, cats, dense)


@torch.no_grad()
def _predict(module: nn.Module, cats: np.ndarray, dense: np.ndarray) -> np.ndarray:
    module.eval()
    out = [np.zeros(0)]
    for start in range(0, len(cats), _SCORE_BATCH):
        logits = module(
            torch.from_numpy(cats[start : start + _SCORE_BATCH]),
            torch.from_numpy(dense[start : start + _SCORE_BATCH]),
        )
        out.append(torch.sigmoid(logits).double().numpy())
    return np.concatenate(out)


def packed(
    cats: np.ndarray, dense: np.ndarray, label: np.ndarray, weight: np.ndarray
) -> torch.Tensor:
    """The training rows as one float32 tensor (see :class:`DeepFM`)."""
    columns = [label[:, None], weight[:, None], dense, cats.astype(np.float64)]
    return torch.from_numpy(np.concatenate(columns, axis=1).astype(np.float32))


@contextlib.contextmanager
def _seeded_one_thread(seed: int) -> Iterator[None]:
    """Torch's random state forked and seeded, one intra-op thread, both restored after."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


def collected(rows: DataFrame, max_rows: int, seed: int, what: str) -> pd.DataFrame:
    """``rows`` on the driver: all of them, or a seeded sample of ``max_rows`` (logged).

    One Spark job when the rows fit (at most ``max_rows + 1`` are read to find out), a second
    one to draw the sample when they do not.
    """
    frame = rows.limit(max_rows + 1).toPandas()
    if len(frame) <= max_rows:
        return frame
    LOG.info(
        "stage=evaluate ctr deepfm: more than %d %s rows, a seeded sample of %d "
        "(evaluate.deepfm_max_rows) is collected to the driver",
        max_rows,
        what,
        max_rows,
    )
    drawn = rows.withColumn("_u", F.rand(seed)).orderBy("_u").limit(max_rows).drop("_u")
    return drawn.toPandas()


def checked_labels(frame: pd.DataFrame) -> np.ndarray:
    """The 0/1 labels of the collected train rows; a single label is an error."""
    labels = frame[LABEL].to_numpy(dtype=np.int64)
    positives = int(labels.sum())
    require_both_labels(len(labels) - positives, positives)
    return labels


@dataclass
class _Scorer:
    """What an executor needs to score rows: the encoding and the chosen network's weights."""

    encoding: Encoding
    params: dict[str, Any]
    state: dict[str, torch.Tensor]

    def partition(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        torch.set_num_threads(1)
        net = DeepFM(self.params)
        net.module.load_state_dict(self.state)
        for batch in batches:
            cats, dense = self.encoding.encode(batch)
            yield batch.assign(**{SCORE: _predict(net.module, cats, dense)})


class DeepFMCTR:
    """DeepFM CTR classifier: embedding size tuned, epochs early-stopped, on valid AUC.

    Attributes:
        dims: The embedding sizes tried, smallest first.
        hidden: MLP layer sizes.
        epochs, patience, batch_size, learning_rate: The training settings of each fit.
        max_rows: Most train (and valid) rows collected to the driver.
        seed: Seed of the weights, the batch order and the row sample.
        tuned: The chosen ``embedding_dim`` and its best ``epochs`` (after :meth:`fit`).
        valid_auc: Valid AUC of each ``embedding_dim=<d>`` tried (after :meth:`fit`).
    """

    def __init__(
        self,
        dims: list[int],
        hidden: list[int],
        epochs: int = 30,
        patience: int = 3,
        batch_size: int = 1024,
        learning_rate: float = 0.003,
        max_rows: int = 500_000,
        seed: int = 0,
    ) -> None:
        if not dims or min(dims) < 1 or min(hidden, default=1) < 1:
            raise ValueError(f"deepfm needs positive embedding and layer sizes: {dims}, {hidden}")
        if epochs < 1 or batch_size < 1 or patience < 0 or max_rows < 2:
            raise ValueError("deepfm needs positive epochs, batch_size, max_rows; patience >= 0")
        self.dims, self.hidden = sorted(dims), list(hidden)
        self.epochs, self.patience, self.batch_size = epochs, patience, batch_size
        self.learning_rate, self.max_rows, self.seed = learning_rate, max_rows, seed
        self.tuned: dict[str, float] = {}
        self.valid_auc: dict[str, float] = {}
        self._scorer: _Scorer | None = None

    def fit(self, train: DataFrame, valid: DataFrame, weight_col: str | None = None) -> Self:
        """Collect the rows, encode them on ``train``, fit one model per embedding size."""
        categorical, numeric = feature_columns()
        wanted = [c for c in categorical + numeric if c in train.columns]
        frame = collected(
            train.select(LABEL, *wanted, *([weight_col] if weight_col else [])),
            self.max_rows,
            self.seed,
            "train",
        )
        labels = checked_labels(frame)
        categorical, numeric = usable_features(train, frame[wanted].notna().sum().to_dict())
        counts = [
            c for c in numeric if isinstance(train.schema[c].dataType, T.IntegerType | T.LongType)
        ]
        features = [*categorical, *numeric]
        valid_frame = collected(valid.select(LABEL, *features), self.max_rows, self.seed, "valid")
        encoding = Encoding.fit(frame, categorical, numeric, counts)
        weight = frame[weight_col] if weight_col else pd.Series(1.0, index=frame.index)
        rows = packed(
            *encoding.encode(frame),
            labels.astype(np.float64),
            weight.fillna(0.0).to_numpy(dtype=np.float64),
        )
        valid_x = encoding.encode(valid_frame)
        valid_y = valid_frame[LABEL].to_numpy(dtype=np.int64)
        best_epochs: dict[int, int] = {}

        def fit_one(dim: int) -> DeepFM:
            net, best_epochs[dim] = self._train(rows, encoding, dim, valid_x, valid_y)
            return net

        def scored_valid(net: DeepFM) -> pd.DataFrame:
            return pd.DataFrame({LABEL: valid_y, SCORE: net.predict(*valid_x)})

        chosen, net, aucs = tune(
            "deepfm", self.dims, fit_one, scored_valid, lambda d: f"embedding_dim={d}"
        )
        self.tuned = {"embedding_dim": chosen, "epochs": best_epochs[chosen]}
        self.valid_auc = {f"embedding_dim={d}": auc for d, auc in aucs.items()}
        state = {k: v.detach().cpu().clone() for k, v in net.module.state_dict().items()}
        self._scorer = _Scorer(encoding, dict(net.params), state)
        return self

    def _train(
        self,
        rows: torch.Tensor,
        encoding: Encoding,
        dim: int,
        valid_x: tuple[np.ndarray, np.ndarray],
        valid_y: np.ndarray,
    ) -> tuple[DeepFM, int]:
        """One network of embedding size ``dim``; returns it and its best epoch (1-based)."""
        with _seeded_one_thread(self.seed):
            net = DeepFM(
                {
                    "field_sizes": encoding.field_sizes,
                    "n_numeric": len(encoding.numeric),
                    "dim": dim,
                    "hidden": self.hidden,
                }
            )
            history = fit_in_process(
                net,
                rows,
                self.epochs,
                self.batch_size,
                self.seed,
                self.learning_rate,
                validate=lambda model: roc_auc(valid_y, model.predict(*valid_x)),
                patience=self.patience,
            )
        net.module.eval()
        scored = [r for r in history if "valid_score" in r]
        best = max(scored, key=lambda r: (r["valid_score"], -r["epoch"]))
        return net, int(best["epoch"]) + 1

    def score(self, rows: DataFrame) -> DataFrame:
        """``rows`` (their own columns) with :data:`SCORE`, scored on the executors."""
        if self._scorer is None:
            raise RuntimeError("deepfm: score before fit")
        schema = T.StructType([*rows.schema.fields, T.StructField(SCORE, T.DoubleType())])
        return rows.mapInPandas(self._scorer.partition, schema=schema)


def make(cfg: EvaluateConfig, spark: SparkSession | None, seed: int) -> DeepFMCTR:
    """The registry factory: the run's ``evaluate.deepfm_*`` settings and ``seed``."""
    del spark
    return DeepFMCTR(
        cfg.deepfm_embedding_dims,
        cfg.deepfm_hidden_dims,
        epochs=cfg.deepfm_epochs,
        patience=cfg.deepfm_patience,
        batch_size=cfg.deepfm_batch_size,
        learning_rate=cfg.deepfm_learning_rate,
        max_rows=cfg.deepfm_max_rows,
        seed=seed,
    )
