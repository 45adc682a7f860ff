# Databricks notebook source
# MAGIC %pip install --quiet "..[tracking]"

# COMMAND ----------

# MAGIC %md
# MAGIC # 1. aggregate
# MAGIC Loads the raw events, quarantines bad rows with a reason, splits train / valid / test by
# MAGIC time and writes the per-user training tables to Delta (`samplegen.features.run_aggregate`).
# MAGIC
# MAGIC Parameters, from widgets (outside Databricks: `SAMPLEGEN_CONF`, `SAMPLEGEN_RUN_ID`,
# MAGIC `SAMPLEGEN_SET`): `conf` (YAML config), `run_id` (empty: a new id; pass it on to the next
# MAGIC notebooks) and `overrides` (`key=value` pairs separated by `;`, e.g.
# MAGIC `data.max_users=300;train.epochs=5`).
# MAGIC
# MAGIC The first cell installs samplegen from the bundle's synced source (`..`, where setup.py
# MAGIC is) with pip; Spark, Delta and torch come from the ML runtime. Elsewhere, point it at the
# MAGIC wheel instead, e.g. `%pip install /Volumes/<catalog>/<schema>/<volume>/samplegen-0.1.0-py3-none-any.whl`.

# COMMAND ----------

from samplegen.notebook import notebook_params, show
from samplegen.pipeline import run_stages

cfg, run_id = notebook_params(globals(), require_run_id=False)

# COMMAND ----------

[result] = run_stages(spark, cfg, run_id, ["aggregate"])  # noqa: F821 - the notebook's session

# COMMAND ----------

show(result)
