"""Non-generative augmentation: new users made from one real user's items, without a model.

These are the baselines a generator has to beat, and strategies in their own right. Each
operator takes one real user's items and that row's random generator, and returns the new
user's items. They are plain numpy so they can be checked by hand; :mod:`samplegen.augment`
runs them in Spark like the model strategies.

Set operators (``oversample``, ``mask``, ``substitute``) read the user's item indices in any
order and return them sorted. Sequence operators (``crop``, ``reorder``, as in CL4SRec, Xie
et al. 2022) read the user's items in time order (first interaction first) and return a
sequence in time order, which the synthetic row keeps.
"""

from __future__ import annotations

import numpy as np


def oversample(items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random oversampling: an exact copy of the user (the privacy filter must be off)."""
    del rng  # nothing is random once the user is chosen
    return np.sort(np.asarray(items, dtype=np.int32))


def mask(items: np.ndarray, rng: np.random.Generator, keep: float) -> np.ndarray:
    """Crop/mask: a random ``keep`` share of the user's items (at least one)."""
    items = np.asarray(items, dtype=np.int32)
    size = min(len(items), max(1, round(keep * len(items))))
    return np.sort(rng.choice(items, size=size, replace=False))


def substitute(
    items: np.ndarray,
    rng: np.random.Generator,
    share: float,
    item_categories: np.ndarray,
) -> np.ndarray:
    """Same-category substitution: a ``share`` of the items (at least one) swapped for others.

    Each replaced item gets a random item of its own category that neither the real user nor
    the new user holds yet; an item whose category has no such item stays.

    Args:
        items: the real user's item indices.
        rng: this row's random generator.
        share: share of the items to replace.
        item_categories: category code of every item index (``-1`` for none; such items
            count as one category of their own).
    """
    original = np.unique(np.asarray(items, dtype=np.int64))
    chosen = set(original.tolist())
    for item in rng.permutation(original)[: max(1, round(share * len(original)))]:
        pool = np.flatnonzero(item_categories == item_categories[item])
        pool = pool[~np.isin(pool, original) & ~np.isin(pool, list(chosen))]
        if len(pool):
            chosen.discard(int(item))
            chosen.add(int(rng.choice(pool)))
    return np.asarray(sorted(chosen), dtype=np.int32)


def crop(sequence: np.ndarray, rng: np.random.Generator, keep: float) -> np.ndarray:
    """Crop: a contiguous window of ``keep`` of the time-ordered items (at least one).

    Unlike :func:`mask`, the new user keeps one stretch of the history: what the real user
    did in a period, sessions intact.
    """
    sequence = np.asarray(sequence, dtype=np.int32)
    size = min(len(sequence), max(1, round(keep * len(sequence))))
    start = int(rng.integers(0, len(sequence) - size + 1))
    return sequence[start : start + size].copy()


def reorder(sequence: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Reorder: the items of a contiguous window of ``share`` of the sequence shuffled.

    The set of items is the real user's (the privacy filter drops such copies, so this
    operator needs it off); only the order inside the window changes. A window of at least
    two items is shuffled until its order differs, when its items allow it.
    """
    sequence = np.asarray(sequence, dtype=np.int32).copy()
    size = min(len(sequence), max(2, round(share * len(sequence))))
    if size < 2:
        return sequence
    start = int(rng.integers(0, len(sequence) - size + 1))
    window = sequence[start : start + size]
    shuffled = rng.permutation(window)
    while np.array_equal(shuffled, window) and len(np.unique(window)) > 1:
        shuffled = rng.permutation(window)
    sequence[start : start + size] = shuffled
    return sequence
