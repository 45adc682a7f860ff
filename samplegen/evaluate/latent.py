"""A VAE generator's latent space, read as items: which items each strong direction pushes up.

For a Mult-VAE or CVAE, :func:`latent_directions` names the latent dimensions that change the
decoder's output most after the categories of the items they favour, so a reader can check
what the generator learned (the report's "Latent directions" table).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from samplegen.generate.quotas import NO_CATEGORY
from samplegen.models.base import Generator
from samplegen.models.multvae import MultVAE

#: Real records read to average a CVAE's condition over users.
CONDITION_RECORDS = 2000


def _mean_condition(model: MultVAE, real: Sequence[np.ndarray] | None) -> torch.Tensor | None:
    """The condition a model decodes under: none for a Mult-VAE, the users' mean for a CVAE.

    Without ``real`` records a CVAE gets the condition of the catalogue's category mix.
    """
    probe = model.condition_of(torch.zeros(1, model.n_items))
    if probe is None:
        return None
    if not real:
        matrix = model.module.category_matrix
        return model.module.condition_for_mix(matrix.mean(dim=0, keepdim=True))
    step = -(-len(real) // CONDITION_RECORDS)  # ceil: at most CONDITION_RECORDS rows
    x = torch.zeros(len(real[::step]), model.n_items)
    for row, items in enumerate(real[::step]):
        items = np.asarray(items, dtype=np.int64)
        x[row, torch.from_numpy(items[items < model.n_items])] = 1.0
    return model.condition_of(x).mean(dim=0, keepdim=True)


def _category_name(item: int, item_category: np.ndarray, category_names: Sequence[str]) -> str:
    """The category name of an item index, :data:`NO_CATEGORY` if it has none."""
    code = int(item_category[item]) if item < len(item_category) else -1
    return category_names[code] if code >= 0 else NO_CATEGORY


@torch.no_grad()
def latent_directions(
    model: Generator,
    item_category: np.ndarray,
    category_names: Sequence[str],
    n_directions: int = 4,
    top: int = 5,
    real: Sequence[np.ndarray] | None = None,
    scale: float = 2.0,
) -> pd.DataFrame | None:
    """The items most associated with a VAE's strongest latent directions, named by category.

    For each latent dimension ``j`` the decoder's item logits at ``+scale e_j`` minus those at
    ``-scale e_j`` (every other coordinate 0, the prior mean; a CVAE decodes under the mean
    condition of ``real`` users) say which items moving along ``j`` makes likelier. As the
    softmax ignores a shift shared by all items, each difference is centred over items; the
    ``n_directions`` dimensions whose centred difference varies most are kept (collapsed
    dimensions change nothing), and each is named by the most frequent category of its
    ``top`` items (ties by the larger summed difference, then name).

    Args:
        model: A loaded generator; only Mult-VAE and CVAE have a latent space to read.
        item_category: Category code of every item index, -1 for unknown.
        category_names: Name of each code.
        n_directions: Latent dimensions shown.
        top: Items per dimension.
        real: Real records, for a CVAE's mean condition (optional).
        scale: How far along each axis to decode, in prior standard deviations.

    Returns:
        ``None`` for a model without a VAE decoder; else one row per direction and rank with
        columns ``direction`` (latent dimension), ``effect`` (std of its centred logit
        difference), ``name`` (its category), ``rank`` (1 = strongest), ``item``,
        ``category`` and ``logit_diff`` (centred logit difference of the item).
    """
    if not isinstance(model, MultVAE):
        return None
    module = model.module.eval()
    latent = int(module.latent_dim)
    z = torch.cat([torch.eye(latent), -torch.eye(latent)]) * scale
    condition = _mean_condition(model, real)
    c = None if condition is None else condition.expand(2 * latent, -1)
    logits = module.decode(z, c).double().numpy()
    diff = logits[:latent] - logits[latent:]
    diff -= diff.mean(axis=1, keepdims=True)
    effect = diff.std(axis=1)
    rows = []
    for direction in np.argsort(-effect, kind="stable")[: min(n_directions, latent)]:
        items = np.argsort(-diff[direction], kind="stable")[:top]
        for rank, item in enumerate(items, start=1):
            rows.append(
                {
                    "direction": int(direction),
                    "effect": float(effect[direction]),
                    "rank": rank,
                    "item": int(item),
                    "category": _category_name(int(item), item_category, category_names),
                    "logit_diff": float(diff[direction, item]),
                }
            )
    frame = pd.DataFrame(rows)
    frame.insert(2, "name", frame["direction"].map(_direction_names(frame)))
    return frame


def _direction_names(frame: pd.DataFrame) -> dict[int, str]:
    """Each direction's most frequent category among its items (ties: larger sum, then name).

    Items without a category name a direction only when none of its items has one.
    """
    names = {}
    for direction, rows in frame.groupby("direction", sort=False):
        stats = rows.groupby("category")["logit_diff"].agg(["size", "sum"]).reset_index()
        stats["known"] = stats["category"] != NO_CATEGORY
        best = stats.sort_values(
            ["known", "size", "sum", "category"], ascending=[False, False, False, True]
        )
        names[int(direction)] = str(best["category"].iloc[0])
    return names
