"""What the Databricks notebooks share: reading their parameters and printing results.

On Databricks the parameters are widgets (``conf``, ``run_id``, ``overrides``, ``recipe``);
anywhere else they are the environment variables ``SAMPLEGEN_CONF``, ``SAMPLEGEN_RUN_ID``,
``SAMPLEGEN_SET`` and ``SAMPLEGEN_RECIPE``. Overrides are ``key=value`` pairs separated by
``;``; the recipe is a ``samplegen tune`` recipe laid over the conf (empty: none), as
``samplegen run --recipe`` lays it.

In a Databricks job made of the notebooks, the run id travels between tasks as a task value:
every notebook sets ``run_id`` (``dbutils.jobs.taskValues``), and a later notebook whose
``run_id`` widget is empty reads it from the task :data:`RUN_ID_TASK` (the ``01_aggregate``
task). Interactively ``taskValues.get`` answers its ``debugValue`` (empty), so the widget rules.
"""

from __future__ import annotations

import os
from typing import Any

from samplegen.config import Config, load_config
from samplegen.ids import check_identifier
from samplegen.redact import remember_secrets
from samplegen.runinfo import StageResult, configure_logging, new_run_id, result_lines

WIDGET_DEFAULT_CONF = "../conf/databricks.yaml"  # widgets resolve paths from the notebook
ENV_DEFAULT_CONF = "conf/databricks.yaml"
#: The job task (running ``01_aggregate``) whose task value ``run_id`` later tasks read.
RUN_ID_TASK = "aggregate"


def _raw_params(namespace: dict[str, Any]) -> tuple[str, str, str, str]:
    dbutils = namespace.get("dbutils")
    if dbutils is not None:
        dbutils.widgets.text("conf", WIDGET_DEFAULT_CONF)
        for name in ("run_id", "overrides", "recipe"):
            dbutils.widgets.text(name, "")
        names = ("conf", "run_id", "overrides", "recipe")
        conf, run_id, overrides, recipe = (dbutils.widgets.get(n) for n in names)
        if not run_id:
            run_id = dbutils.jobs.taskValues.get(
                taskKey=RUN_ID_TASK, key="run_id", default="", debugValue=""
            )
        return conf, run_id, overrides, recipe
    return (
        os.environ.get("SAMPLEGEN_CONF", ENV_DEFAULT_CONF),
        os.environ.get("SAMPLEGEN_RUN_ID", ""),
        os.environ.get("SAMPLEGEN_SET", ""),
        os.environ.get("SAMPLEGEN_RECIPE", ""),
    )


def notebook_params(
    namespace: dict[str, Any], require_run_id: bool, previous: str = ""
) -> tuple[Config, str]:
    """The notebook's config and run id, from widgets or environment variables.

    Args:
        namespace: the notebook's ``globals()`` (where Databricks puts ``dbutils``).
        require_run_id: later stages work on an existing run and need its id; otherwise a
            new id is made when none is given.
        previous: the notebook that makes the run, named in the error.

    Raises:
        ValueError: when ``require_run_id`` and no run id is given, or the run id is not an
            identifier (:mod:`samplegen.ids`; an ``IdentifierError``).
    """
    configure_logging()
    conf, run_id, overrides_text, recipe = _raw_params(namespace)
    if not run_id and require_run_id:
        raise ValueError(
            "no run id: set the `run_id` widget (or the SAMPLEGEN_RUN_ID environment variable) "
            f"to the id of the run made by {previous or 'an earlier stage'}"
        )
    if run_id:
        check_identifier(run_id, "run_id widget (SAMPLEGEN_RUN_ID)")
    overrides = [item.strip() for item in overrides_text.split(";") if item.strip()]
    cfg = load_config(conf, overrides, recipe=recipe)
    remember_secrets(cfg.to_dict())
    run_id = run_id or new_run_id()
    print(f"run_id: {run_id}")
    dbutils = namespace.get("dbutils")
    if dbutils is not None:  # the job's later tasks read it (module docstring)
        dbutils.jobs.taskValues.set(key="run_id", value=run_id)
    return cfg, run_id


def show(results: StageResult | list[StageResult]) -> None:
    """Print one or several stage results."""
    for result in results if isinstance(results, list) else [results]:
        print("\n".join(result_lines(result)))
