"""The report's "recipe search" section, for a run generated from a ``samplegen tune`` recipe.

Such a run's manifest has a ``recipe`` stage naming the tuned run, the recipe file and the
chosen trial (written by :func:`samplegen.tune.holdout.score_on_test`). The section reads
that run's ``tuning_trials`` rows and shows the best-so-far curve of the objective over the
trials, the importance of each searched parameter and one line saying the recipe was chosen
on valid and scored once on test.

Parameter importance is computed from the rows, not by Optuna (so the report needs no
``samplegen[tune]`` extra and works from the table alone): for each parameter, the share of
the variance of the finished trials' objective explained by grouping the trials by that
parameter's value (the correlation ratio eta squared), normalised to sum to 1 over the
parameters. With few trials it is a rough guide; the section says how many trials it rests on.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.runinfo import read_manifest
from samplegen.tables import TUNING_TRIALS, read_table, table_store

#: The manifest stage that records where a recipe run's recipe came from.
RECIPE_STAGE = "recipe"
#: Resolution of the curve (as :data:`samplegen.evaluate.plots.DPI`).
_DPI = 90


@dataclass
class SearchFacts:
    """What the section shows: the provenance of the recipe and the search's trial rows.

    Attributes:
        tuned_run: The run the search was done for (whose models drew the rows).
        recipe: Path of the recipe file.
        trial: Number of the chosen trial.
        trials: ``tuning_trials`` rows of the search (columns ``trial``, ``state``,
            ``objective``, ``feasible``, ``params`` at least).
        target: The recommender and slice of the objective, e.g. ``ease NDCG@20 on cold``.
    """

    tuned_run: str
    recipe: str
    trial: int
    trials: pd.DataFrame
    target: str = "objective"


def best_so_far(trials: pd.DataFrame) -> pd.DataFrame:
    """Per trial in order: its objective and the best feasible objective up to it.

    Unfinished (pruned, failed) and infeasible trials have no objective of their own and
    carry the best so far; ``best`` is NaN until the first feasible finished trial.
    """
    rows = trials.sort_values("trial")
    feasible = rows["feasible"] if "feasible" in rows else pd.Series(True, index=rows.index)
    counted = (rows["state"] == "complete") & (feasible == True)  # noqa: E712 (None: not scored)
    objective = pd.to_numeric(rows["objective"], errors="coerce").where(counted)
    return pd.DataFrame(
        {
            "trial": rows["trial"].astype(int).to_numpy(),
            "objective": objective.to_numpy(dtype=float),
            "best": objective.cummax().ffill().to_numpy(dtype=float),
        }
    )


def param_importance(trials: pd.DataFrame) -> dict[str, float]:
    """Each searched parameter's share of the objective's variance (eta squared, sums to 1).

    Computed over the finished trials; a parameter a trial did not set groups as ``None``.
    Empty when fewer than two trials finished or their objective does not vary.
    """
    done = trials[trials["state"] == "complete"]
    objective = pd.to_numeric(done["objective"], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(objective)
    objective = objective[keep]
    params = [json.loads(p) for p, k in zip(done["params"], keep, strict=True) if k]
    total = float(((objective - objective.mean()) ** 2).sum()) if len(objective) else 0.0
    if len(objective) < 2 or total <= 0:
        return {}
    names = sorted({name for p in params for name in p})
    raw: dict[str, float] = {}
    for name in names:
        groups = pd.Series(objective).groupby([json.dumps(p.get(name)) for p in params])
        between = float((groups.count() * (groups.mean() - objective.mean()) ** 2).sum())
        raw[name] = between / total
    scale = sum(raw.values())
    if scale <= 0:
        return {}
    return dict(sorted(((n, v / scale) for n, v in raw.items()), key=lambda item: -item[1]))


def search_png(curve: pd.DataFrame, label: str) -> bytes | None:
    """Each trial's objective (points) and the best so far (steps); ``None`` with no point."""
    if curve["objective"].isna().all():
        return None
    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(curve["trial"], curve["objective"], "o", color="#6e7781", label="trial")
    ax.step(curve["trial"], curve["best"], where="post", color="#dd8452", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{label} (valid)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower right", fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def search_context(facts: SearchFacts | None) -> dict[str, Any]:
    """The template's ``search`` (``None``: the run did not come from a recipe)."""
    if facts is None:
        return {"search": None}
    curve = best_so_far(facts.trials)
    png = search_png(curve, facts.target)
    importance = param_importance(facts.trials)
    finished = int((facts.trials["state"] == "complete").sum())
    return {
        "search": {
            "line": (
                f"recipe chosen on valid (trial {facts.trial} of {len(facts.trials)}), "
                "scored once on test"
            ),
            "tuned_run": facts.tuned_run,
            "recipe": facts.recipe,
            "target": facts.target,
            "curve": None if png is None else base64.b64encode(png).decode("ascii"),
            "importance": [(name, f"{share:.2f}") for name, share in importance.items()],
            "finished": finished,
        }
    }


def load_search(spark: SparkSession, cfg: Config, run_id: str) -> SearchFacts | None:
    """The search behind ``run_id``'s recipe, from its manifest and ``tuning_trials``.

    ``None`` for a run that did not come from a recipe, or whose search rows are gone.
    """
    stage = read_manifest(cfg.reports_root, run_id).get("stages", {}).get(RECIPE_STAGE)
    if not stage:
        return None
    facts = stage.get("metrics", {})
    try:
        rows = read_table(spark, table_store(cfg), TUNING_TRIALS)
    except FileNotFoundError:
        return None
    trials = rows.where(F.col("run_id") == facts["tuned_run"]).toPandas()
    if trials.empty:
        return None
    return SearchFacts(
        tuned_run=facts["tuned_run"],
        recipe=facts["recipe"],
        trial=int(facts["trial"]),
        trials=trials,
        target=f"{facts.get('target', 'target')} NDCG@{facts.get('k', '')} on "
        f"{facts.get('slice', '')}",
    )
