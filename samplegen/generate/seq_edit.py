"""``insert`` and ``substitute_seq``: model-guided edits inside a time-ordered sequence.

They are the generative counterparts of ``crop``, ``mask`` and ``reorder``
(:mod:`samplegen.generate.baselines`) and write the same way: ``generate.synthetic_users`` new
users, each made from one thin seed user (:class:`~samplegen.generate.new_users.NewUserPlan`:
ids ``syn:<run_id>:<n>``, seed user and random stream from ``(run seed, stream tag, n)``),
whose row holds the edited sequence in time order. Stage 4's sequential recommenders train on
a new user's row in the written order
(:func:`samplegen.evaluate.sequential.augmented_sequences`); the matrix recommenders see a set.

The seed user's train sequence is read from stage 1's ``sequences`` table. The items put into
it are ``generate.insert_candidates`` draws from the trained model's posterior for the seed
user: never an item the seed user has in any split (train, valid or test:
:func:`~samplegen.generate.transitions.excluded_items`; a test item in a near copy of the
user would teach the next-item model the user's target). Where they go is decided by the
train-sequence transition estimate ``P(next | current)`` that ``prepend`` uses
(:class:`~samplegen.generate.transitions.Transitions`):

- **Gap score** (:func:`gap_scores`): how much putting ``c`` in a gap changes the
  sequence's likelihood under the first-order chain (the first item is given): between ``a``
  and ``b`` the transitions ``a -> c -> b`` replace ``a -> b``, a factor
  ``P(c | a) P(b | c) / P(b | a)``; before the first item ``b`` it adds ``P(b | c)``, after the
  last item ``a`` it adds ``P(c | a)``. So an item that explains a weak transition of the
  user's better than the transition itself scores above 1, and one placed at an end is
  judged by the one transition it makes.
- **insert** (:func:`insert_items`): ``generate.insert_items`` times, the best (candidate,
  gap) pair of all candidates left and all gaps of the current sequence is inserted (two
  inserted items may end up next to each other).
- **substitute_seq** (:func:`substitute_items`): ``generate.insert_items`` times, the item
  that fits its place worst (the lowest gap score of putting it back into the sequence
  without it) is replaced by the candidate with the best gap score there; a replaced
  position is not judged again.

Ties go to the earlier candidate (the posterior's draw order), then the earlier position, so
a row depends only on the run seed and ``n``. A new user keeps all (``insert``) or all but a
few (``substitute_seq``) of a real user's items, which the privacy filter drops as a near
copy: like ``reorder``, both need ``generate.privacy_filter=false``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from samplegen.generate.context import DrawContext, Metrics
from samplegen.generate.new_users import SCHEMA, NewUserPlan, seed_users, thin_segment
from samplegen.generate.transitions import (
    HELD_OUT,
    Transitions,
    excluded_items,
    train_transitions,
)
from samplegen.generate.udf import item_mask, map_with_model, row_rng
from samplegen.models.base import Generator
from samplegen.registry import Stream
from samplegen.tables import SEQUENCES

#: The smallest probability a broken transition counts with (no division by zero).
FLOOR = 1e-12
#: An edit: (sequence, candidates in draw order, how many, transitions) -> edited sequence.
Edit = Callable[[Sequence[int], Sequence[int], int, Transitions], list[int]]


def gap_scores(
    sequence: Sequence[int], candidates: Sequence[int], model: Transitions
) -> np.ndarray:
    """``(len(candidates), len(sequence) + 1)`` likelihood factors of each candidate in each gap.

    Gap ``g`` lies before ``sequence[g]`` (gap ``len(sequence)``: after the last item); the
    factor is the product of the transitions the candidate creates there over the transition
    it breaks (none at the ends). A broken transition the estimate gives probability 0 (e.g.
    into an item that is never a next item) counts as :data:`FLOOR`.
    """
    seq = np.asarray(sequence, dtype=np.int64)
    cands = np.asarray(candidates, dtype=np.int64)
    n = len(seq)
    into = np.ones((len(cands), n + 1))  # P(c | item before the gap)
    out = np.ones((len(cands), n + 1))  # P(item after the gap | c)
    broken = np.ones(n + 1)  # P(item after the gap | item before it)
    if n and len(cands):
        into[:, 1:] = model.prob(seq, cands).T
        out[:, :n] = model.prob(cands, seq)
    if n > 1:
        broken[1:n] = model.prob(seq[:-1], seq[1:]).diagonal()
    return into * out / np.maximum(broken, FLOOR)


def insert_items(
    sequence: Sequence[int], candidates: Sequence[int], k: int, model: Transitions
) -> list[int]:
    """``sequence`` with up to ``k`` candidates inserted where their gap score is highest."""
    seq = [int(i) for i in sequence]
    pool = [int(c) for c in candidates]
    for _ in range(k):
        if not pool:
            break
        scores = gap_scores(seq, pool, model)
        # argmax of the row-major array: the earlier candidate, then the earlier gap, wins ties
        best, gap = np.unravel_index(int(np.argmax(scores)), scores.shape)
        seq.insert(int(gap), pool.pop(int(best)))
    return seq


def weakest_position(sequence: Sequence[int], skip: set[int], model: Transitions) -> int:
    """The position not in ``skip`` whose item fits worst: lowest gap score between its neighbours.

    Ties go to the earlier position; -1 when every position is skipped.
    """
    seq = [int(i) for i in sequence]
    scores = [
        gap_scores(seq[:p] + seq[p + 1 :], [seq[p]], model)[0, p] if p not in skip else np.inf
        for p in range(len(seq))
    ]
    if not scores or np.isinf(min(scores)):
        return -1
    return int(np.argmin(scores))


def substitute_items(
    sequence: Sequence[int], candidates: Sequence[int], k: int, model: Transitions
) -> list[int]:
    """``sequence`` with up to ``k`` of its weakest items replaced by the best-fitting candidate."""
    seq = [int(i) for i in sequence]
    pool = [int(c) for c in candidates]
    replaced: set[int] = set()
    for _ in range(k):
        position = weakest_position(seq, replaced, model)
        if not pool or position < 0:
            break
        scores = gap_scores(seq[:position] + seq[position + 1 :], pool, model)[:, position]
        seq[position] = pool.pop(int(np.argmax(scores)))
        replaced.add(position)
    return seq


#: The edit and the random-stream tag of each strategy of this module.
EDITS: dict[str, tuple[Edit, Stream]] = {
    "insert": (insert_items, Stream.INSERT),
    "substitute_seq": (substitute_items, Stream.SUBSTITUTE_SEQ),
}


def edit_batch(
    batch: pd.DataFrame,
    generator: Generator,
    model: Transitions,
    strategy: str,
    k: int,
    n_candidates: int,
    plan: NewUserPlan,
) -> pd.DataFrame:
    """New-user rows of ``batch`` (``n``, ``train_items`` in time order and the held-out items).

    Each row's candidates are drawn from the posterior of the seed user's train items with
    the stream of ``(plan.seed, strategy's tag, n)``.
    """
    edit, tag = EDITS[strategy]
    owned = item_mask(batch["train_items"], generator.n_items)
    rngs = [row_rng(plan.seed, tag, int(n)) for n in batch["n"]]
    drawn = generator.sample_items(owned.float(), n_candidates, excluded_items(batch, owned), rngs)
    baskets = [
        np.asarray(edit(sequence, row[row >= 0], k, model), dtype=np.int32)
        for sequence, row in zip(batch["train_items"], drawn, strict=True)
    ]
    return plan.rows([int(n) for n in batch["n"]], baskets)


def seed_sequences(
    train: DataFrame, sequences: DataFrame, plan: NewUserPlan, tag: Stream
) -> DataFrame:
    """``(n, train_items, *HELD_OUT)``: each new user's seed user's sequences (stage 1's)."""
    seeds = seed_users(thin_segment(train, plan.segment_max_items), plan.n_users, plan.seed, tag)
    return seeds.join(sequences.select("user_idx", "train_items", *HELD_OUT), "user_idx").select(
        "n", "train_items", *HELD_OUT
    )


def edited_users(
    train: DataFrame,
    sequences: DataFrame,
    model_dir: str,
    n_items: int,
    strategy: str,
    k: int,
    n_candidates: int,
    plan: NewUserPlan,
) -> DataFrame:
    """``plan.n_users`` new users ``(user_id, user_idx, item_idx, weight)``, items in order.

    ``strategy`` is a key of :data:`EDITS`; ``n_items`` bounds every item index (the
    transition matrix's size).
    """
    model = train_transitions(sequences, n_items)
    seeds = seed_sequences(train, sequences, plan, EDITS[strategy][1])
    return map_with_model(
        seeds.where(F.size("train_items") > 0),
        model_dir,
        lambda chunk, generator: edit_batch(
            chunk, generator, model.sized(generator.n_items), strategy, k, n_candidates, plan
        ),
        SCHEMA,
    )


def draw(ctx: DrawContext) -> tuple[DataFrame, Metrics]:
    """The run's new users with edited sequences (before the privacy filter)."""
    gen = ctx.gen
    rows = edited_users(
        ctx.real,
        ctx.table(SEQUENCES),
        ctx.model_dir,
        ctx.first_item_idx,
        gen.strategy,
        gen.insert_items,
        gen.insert_candidates,
        NewUserPlan.of(ctx),
    )
    return rows, {}
