# Databricks notebook source
# MAGIC %pip install --quiet "..[tracking]"

# COMMAND ----------

# MAGIC %md
# MAGIC # samplegen quickstart
# MAGIC Runs the whole pipeline (aggregate, train, generate, evaluate) for one run id with this
# MAGIC notebook's Spark session (`samplegen.pipeline.run_pipeline`), then prints each stage and the
# MAGIC verdicts. Install the samplegen wheel on the cluster first. To run one stage at a time use
# MAGIC `01_aggregate` ... `04_evaluate`.
# MAGIC
# MAGIC Parameters, from widgets (outside Databricks: `SAMPLEGEN_CONF`, `SAMPLEGEN_RUN_ID`,
# MAGIC `SAMPLEGEN_SET`): `conf` (YAML config), `run_id` (empty: a new id; an existing id resumes
# MAGIC that run) and `overrides` (`key=value` pairs separated by `;`, e.g.
# MAGIC `data.max_users=300;train.epochs=5`).
# MAGIC
# MAGIC The first cell installs samplegen from the bundle's synced source (`..`, where setup.py
# MAGIC is) with pip; Spark, Delta and torch come from the ML runtime. Elsewhere, point it at the
# MAGIC wheel instead, e.g. `%pip install /Volumes/<catalog>/<schema>/<volume>/samplegen-0.1.0-py3-none-any.whl`.

# COMMAND ----------

from samplegen.notebook import notebook_params, show
from samplegen.pipeline import run_pipeline

cfg, run_id = notebook_params(globals(), require_run_id=False)

# COMMAND ----------

results = run_pipeline(spark, cfg, run_id)  # noqa: F821 - the notebook's session

# COMMAND ----------

show(results)
