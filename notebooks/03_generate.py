# Databricks notebook source
# MAGIC %pip install --quiet "..[tracking]"

# COMMAND ----------

# MAGIC %md
# MAGIC # 3. generate
# MAGIC Draws synthetic items for sparse users from the model of `run_id` and writes
# MAGIC `synthetic_interactions` and `augmented_train` (`samplegen.generate.run_generate`).
# MAGIC
# MAGIC Parameters: `conf`, `run_id` (required: the run trained by `02_train`) and `overrides`.
# MAGIC
# MAGIC The first cell installs samplegen from the bundle's synced source (`..`, where setup.py
# MAGIC is) with pip; Spark, Delta and torch come from the ML runtime. Elsewhere, point it at the
# MAGIC wheel instead, e.g. `%pip install /Volumes/<catalog>/<schema>/<volume>/samplegen-0.1.0-py3-none-any.whl`.

# COMMAND ----------

from samplegen.notebook import notebook_params, show
from samplegen.pipeline import run_stages

cfg, run_id = notebook_params(globals(), require_run_id=True, previous="02_train")

# COMMAND ----------

[result] = run_stages(spark, cfg, run_id, ["generate"])  # noqa: F821 - the notebook's session

# COMMAND ----------

show(result)
