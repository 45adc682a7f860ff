"""The training spec: everything a training process needs, as typed plain values.

Built on the driver by :func:`samplegen.train.build_spec` from the config and the tables, then
pickled to TorchDistributor's processes or written as JSON for ``torchrun`` on a machine
without Spark (:meth:`TrainSpec.to_json` / :meth:`TrainSpec.from_json`). Defaults are not
repeated here: every value comes from :class:`samplegen.config.TrainConfig`; only the parts a
model family does not use are optional.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from samplegen.registry import TABULAR, generator


@dataclass(frozen=True)
class ValidationSpec:
    """Validation users for an interaction model: rank 0 keeps the epoch with the best NDCG@k.

    ``view_files`` hold the users' training histories, ``valid_files`` their held-out items;
    at most ``max_users`` users (seeded) are scored. Training stops after ``patience`` epochs
    without a better score (0: never early).
    """

    view_files: list[str]
    valid_files: list[str]
    max_users: int
    k: int
    patience: int = 0


@dataclass(frozen=True)
class TrainData:
    """The part of a spec that depends on the model family: what is read and what is built.

    Interaction models read item rows from ``files`` (the training view) and may validate;
    tabular models read the ``columns`` of a table's ``files``, only the rows where column
    ``where[0]`` equals ``where[1]`` when ``where`` is set.
    """

    params: dict[str, Any]
    files: list[str]
    n_rows: int
    batch_size: int
    validation: ValidationSpec | None = None
    columns: list[str] | None = None
    where: tuple[str, Any] | None = None


@dataclass(frozen=True)
class TrainSpec:
    """One training run as every rank sees it.

    ``params`` rebuild the generator ``model``; ``batch_size`` is per rank and every rank runs
    ``steps_per_epoch`` steps per epoch; rank 0 writes the model to ``output_dir``.
    ``n_rows`` (training rows, for the driver's report) may be unknown in a hand-written spec.
    """

    model: str
    params: dict[str, Any]
    files: list[str]
    loader: str
    batch_size: int
    epochs: int
    steps_per_epoch: int
    learning_rate: float
    weight_decay: float
    seed: int
    use_gpu: bool
    allow_tf32: bool
    output_dir: str
    n_rows: int | None = None
    validation: ValidationSpec | None = None
    columns: list[str] | None = None
    where: tuple[str, Any] | None = None

    @property
    def tabular(self) -> bool:
        """Whether the model learns table rows (read by column) rather than users' items."""
        return generator(self.model).family == TABULAR

    def settings(self) -> dict[str, Any]:
        """The plain fields, minus per-item params, file lists and unset optional parts."""
        skip = ("params", "files", "validation")
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in skip and getattr(self, f.name) is not None
        }

    def to_json(self) -> str:
        """The spec as JSON (what ``python -m samplegen.train.distributed --spec`` reads)."""
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrainSpec:
        """Rebuild a spec from :meth:`to_json`'s text; unknown or missing keys raise."""
        data = json.loads(text)
        if data.get("validation") is not None:
            data["validation"] = ValidationSpec(**data["validation"])
        if data.get("where") is not None:
            data["where"] = tuple(data["where"])
        return cls(**data)
