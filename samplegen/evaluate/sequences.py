"""The next-item protocol of sequential recommenders: time-ordered histories, leave-last split.

Each user's history is the vocabulary items in the order of their first interaction (a
repeat of an item already in the history adds nothing: like the other slices, the task is to
rank items the user has not had, and those are masked). The last item is the test target, the
one before it the valid target, the rest is the training sequence (leave-last-one, the usual
protocol of SASRec and its successors). A model is tuned on valid (history: the training
sequence) and scored once on test (history: the training sequence + the valid item), over
the full catalogue, with the history masked.

Stage 4 does not split the histories itself: it takes stage 1's split (the ``sequences``
table, :meth:`LeaveLast.from_splits`): the valid target is the first valid item not in the
train sequence, the test target the first test item not in train + valid (each split's items
in order of first event in that split). What that target is depends on ``aggregate.split``:

- ``temporal``: an item not had before the period, so its first event follows every item of
  the history: the next *new* item in first-event order, the order the model trains on.
- ``leave_last`` with ``aggregate.leave_last_by=first`` (the default): the item the user
  first had latest (:func:`~samplegen.features.interactions.split_leave_last`), all its
  events held out with it; no train item was first had after it, so it too is the next new
  item of the order the model trains on.
- ``leave_last`` with ``leave_last_by=last``: the item whose *last* event is the user's
  latest. It is never in the history, but its first event may precede some or all of the
  train items (a staple bought since the first week and again in the last basket), so the
  model learns "next new item" and is asked "the item bought last" (48.9% of the test
  targets on completejourney, bench/README.md, issue 23). Where each (user, item) has one
  event (ratings: MovieLens) first and last coincide and the two settings agree.

Slices are by training-sequence length: ``short_history`` (≤ 5 items, where sequence
augmentation reports its largest gains), ``history_6_10``, ``history_11_20``,
``history_over_20``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from samplegen.evaluate.metrics import ndcg_at_k, recall_at_k, top_k_items

#: Fewest items a user needs to have a training sequence, a valid and a test target.
MIN_SEQUENCE = 3

#: The ``sequences`` table's item columns: each split's items in order of first event.
SEQUENCE_COLUMNS = ("train_items", "valid_items", "test_items")

#: The slice of the users with the shortest histories, where augmentation should help most.
SHORT_HISTORY = "short_history"

#: ``(slice name, shortest, longest training sequence)``; the bounds are inclusive.
HISTORY_SLICES: tuple[tuple[str, int, int], ...] = (
    (SHORT_HISTORY, 1, 5),
    ("history_6_10", 6, 10),
    ("history_11_20", 11, 20),
    ("history_over_20", 21, 2**31 - 1),
)


def item_arrays(frame: pd.DataFrame) -> dict[str, list[np.ndarray]]:
    """Each :data:`SEQUENCE_COLUMNS` column of ``sequences`` rows as int32 arrays, row order."""
    return {c: [np.asarray(a, dtype=np.int32) for a in frame[c]] for c in SEQUENCE_COLUMNS}


def ordered_histories(events: pd.DataFrame) -> pd.Series:
    """Each user's distinct items in order of first interaction.

    Args:
        events: rows with ``user_idx``, ``item_idx`` and ``event_time`` (vocabulary items
            only). Ties in time are broken by ``item_idx`` so the order is deterministic.

    Returns:
        int32 arrays indexed by ``user_idx`` (sorted).
    """
    missing = {"user_idx", "item_idx", "event_time"} - set(events.columns)
    if missing:
        raise ValueError(f"events need columns {sorted(missing)} to build sequences")
    firsts = (
        events.sort_values(["user_idx", "event_time", "item_idx"], kind="stable")
        .drop_duplicates(["user_idx", "item_idx"], keep="first")
        .groupby("user_idx", sort=True)["item_idx"]
    )
    return firsts.apply(lambda items: items.to_numpy(dtype=np.int32))


@dataclass(frozen=True)
class LeaveLast:
    """The leave-last-one split of the users with at least :data:`MIN_SEQUENCE` items."""

    users: np.ndarray
    train: list[np.ndarray]
    valid: np.ndarray
    test: np.ndarray
    #: The history before the test target when it is more than train + the valid target
    #: (stage 1's leave-last-n with n > 1, see :meth:`from_splits`); None: train + valid.
    before_test: list[np.ndarray] | None = None
    #: Items put before every history a model is scored on, per user (see
    #: :meth:`with_prefixes`); None: the histories as split. The slices stay by ``train``.
    prefixes: list[np.ndarray] | None = None

    @classmethod
    def from_splits(
        cls,
        users: Sequence[int],
        train: Sequence[np.ndarray],
        valid: Sequence[np.ndarray],
        test: Sequence[np.ndarray],
    ) -> LeaveLast:
        """The next-item split of stage 1's time-ordered splits (the ``sequences`` table).

        The valid target is the user's first valid item not in the train sequence; the test
        history is the train sequence followed by the valid items not in it, and the test
        target the first test item not in that history. Under ``aggregate.split=leave_last``
        with n = 1 this is :meth:`of` on the whole history. Users without a train item, or
        without such a valid or test target, are left out.
        """
        kept: list[tuple[int, np.ndarray, int, np.ndarray, int]] = []
        for user, history, later, last in zip(users, train, valid, test, strict=True):
            history = np.asarray(history, dtype=np.int32)
            seen = set(history.tolist())
            added = np.array([i for i in later if i not in seen], dtype=np.int32)
            before = np.concatenate([history, added])
            targets = [i for i in last if i not in set(before.tolist())]
            if len(history) and len(added) and targets:
                kept.append((int(user), history, int(added[0]), before, int(targets[0])))
        return cls(
            users=np.array([k[0] for k in kept], dtype=np.int64),
            train=[k[1] for k in kept],
            valid=np.array([k[2] for k in kept], dtype=np.int64),
            test=np.array([k[4] for k in kept], dtype=np.int64),
            before_test=[k[3] for k in kept],
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> LeaveLast:
        """:meth:`from_splits` of rows of the ``sequences`` table, in ``frame``'s row order.

        Args:
            frame: ``user_idx``, ``train_items``, ``valid_items`` and ``test_items`` (arrays
                of item indices in time order), one row per user, as ``toPandas`` reads them.
        """
        missing = {"user_idx", *SEQUENCE_COLUMNS} - set(frame.columns)
        if missing:
            raise ValueError(f"sequences rows need columns {sorted(missing)}")
        arrays = item_arrays(frame)
        return cls.from_splits(frame["user_idx"].tolist(), *(arrays[c] for c in SEQUENCE_COLUMNS))

    @classmethod
    def of(cls, histories: pd.Series) -> LeaveLast:
        """Split ``histories`` (from :func:`ordered_histories`); shorter users are left out."""
        kept = histories[histories.map(len) >= MIN_SEQUENCE]
        return cls(
            users=kept.index.to_numpy(dtype=np.int64),
            train=[h[:-2] for h in kept],
            valid=np.array([h[-2] for h in kept], dtype=np.int64),
            test=np.array([h[-1] for h in kept], dtype=np.int64),
        )

    def with_prefixes(self, prefixes: Sequence[np.ndarray]) -> LeaveLast:
        """The same split, each user ``i`` scored on ``prefixes[i]`` followed by their history.

        A prefix item already in the history is left out of the prefix (the history keeps
        its place). The targets and the slices (by the real training-sequence length) do not
        change, so the users stay paired with an unprefixed split; the ranking masks the
        whole prefixed history (:func:`next_item_metrics` masks what it scores on).
        """
        if len(prefixes) != len(self.users):
            raise ValueError(f"{len(prefixes)} prefixes for {len(self.users)} users")
        as_arrays = [np.asarray(p, dtype=np.int32) for p in prefixes]
        return dataclasses.replace(self, prefixes=as_arrays)

    def histories(self, split: str) -> list[np.ndarray]:
        """What a model sees before the ``split`` target: train, plus the valid item for test.

        With :attr:`prefixes`, each history is preceded by the user's prefix.
        """
        if split == "valid":
            histories = self.train
        elif split == "test":
            if self.before_test is not None:
                histories = self.before_test
            else:
                histories = [np.append(h, v) for h, v in zip(self.train, self.valid, strict=True)]
        else:
            raise ValueError(f"split must be valid or test, got {split!r}")
        if self.prefixes is None:
            return histories
        return [_prefixed(p, h) for p, h in zip(self.prefixes, histories, strict=True)]

    def targets(self, split: str) -> np.ndarray:
        """The next item of every user for ``split``."""
        return {"valid": self.valid, "test": self.test}[split]

    def slice_of(self) -> np.ndarray:
        """Each user's :data:`HISTORY_SLICES` name, by training-sequence length."""
        lengths = np.array([len(h) for h in self.train])
        names = np.empty(len(lengths), dtype=object)
        for name, low, high in HISTORY_SLICES:
            names[(lengths >= low) & (lengths <= high)] = name
        return names


def _prefixed(prefix: np.ndarray, history: np.ndarray) -> np.ndarray:
    """``prefix``'s items not in ``history`` (in their order), then ``history``."""
    seen = set(history.tolist())
    kept = np.array([i for i in prefix.tolist() if i not in seen], dtype=np.int32)
    return np.concatenate([kept, np.asarray(history, dtype=np.int32)])


def next_item_metrics(
    scores: Callable[[list[np.ndarray]], np.ndarray],
    split: LeaveLast,
    which: str,
    ks: Sequence[int],
    batch_size: int = 2048,
) -> pd.DataFrame:
    """Per-user HR@K and NDCG@K of the next item, full ranking with the history masked.

    Args:
        scores: ``histories -> (n, n_items)`` scores (a fitted model's scoring function).
        split: the users and their sequences.
        which: ``valid`` or ``test``.
        ks: cut-offs.
        batch_size: users scored at once (bounds the dense score block).

    Returns:
        one row per user: ``user_idx``, ``slice`` and ``hr@K`` / ``ndcg@K`` per K.
    """
    histories, targets = split.histories(which), split.targets(which)
    k_max = max(ks)
    tops = []
    for start in range(0, len(histories), batch_size):
        block = histories[start : start + batch_size]
        tops.append(top_k_items(scores(block), k_max, exclude=block))
    top = np.concatenate(tops) if tops else np.zeros((0, k_max), dtype=np.int64)
    target_lists = [np.array([t]) for t in targets]
    frame = pd.DataFrame({"user_idx": split.users, "slice": split.slice_of()})
    for k in ks:
        frame[f"hr@{k}"] = recall_at_k(top, target_lists, k)
        frame[f"ndcg@{k}"] = ndcg_at_k(top, target_lists, k)
    return frame
