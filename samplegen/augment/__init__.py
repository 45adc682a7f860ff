"""Non-generative augmentation: the operators and how a strategy name picks one.

``oversample``, ``mask`` and ``substitute`` (see :mod:`samplegen.augment.operators`) each make
a new user from one real user's items; ``crop`` and ``reorder`` from their items in time
order (:data:`SEQUENCE_OPERATORS`). :mod:`samplegen.generate.baselines` runs them in Spark
with the same ids, seeds, provenance and privacy filter as ``synthetic_users``, so a baseline
and a generator are compared on equal terms.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from samplegen.augment.operators import crop, mask, oversample, reorder, substitute

#: The operators by strategy name.
OPERATORS = ("oversample", "mask", "substitute", "crop", "reorder")
#: Operators that read a user's items in time order and keep the order they return.
SEQUENCE_OPERATORS = ("crop", "reorder")

Operator = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def make_operator(name: str, keep: float, share: float, item_categories: np.ndarray) -> Operator:
    """The operator ``name`` with its settings bound.

    ``keep`` is the share of items ``mask`` and ``crop`` keep; ``share`` the share of items
    ``substitute`` replaces and ``reorder`` shuffles.
    """
    if name == "oversample":
        return oversample
    if name == "mask":
        return partial(mask, keep=keep)
    if name == "crop":
        return partial(crop, keep=keep)
    if name == "substitute":
        return partial(substitute, share=share, item_categories=item_categories)
    if name == "reorder":
        return partial(reorder, share=share)
    raise ValueError(f"unknown augmentation operator {name!r}; one of {sorted(OPERATORS)}")
