"""Mode-specific normalisation: table rows <-> ``[continuous scalars | one-hot blocks]``.

A continuous column is modelled by a one-dimensional variational Gaussian mixture
(:func:`~samplegen.models.tabular.mixture.fit_vgm`); a value becomes the scalar
``(x - mean_k) / (4 std_k)`` clipped to [-1, 1] and the one-hot of its mode ``k``, drawn from
its posterior responsibilities. A discrete column becomes the one-hot of its category. Nulls
are categories (or modes) of their own (see :mod:`samplegen.models.tabular`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from samplegen.models.tabular.mixture import fit_vgm, sample_modes

STD_MULTIPLIER = 4.0
"""A value is normalised within its mode as ``(x - mean) / (STD_MULTIPLIER * std)``."""


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
        return cls([dict(c) for c in params["columns"]], int(params["seed"]))

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
                mode = sample_modes(x, weights, means, stds, uniform)
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
