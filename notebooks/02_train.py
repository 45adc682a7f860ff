# Databricks notebook source
# MAGIC %pip install --quiet "..[tracking]"

# COMMAND ----------

# MAGIC %md
# MAGIC # 2. train
# MAGIC Trains the Mult-VAE generator on the training view of `run_id` with TorchDistributor and
# MAGIC writes the model under `models_root` (`samplegen.train.run_train`).
# MAGIC
# MAGIC Parameters: `conf`, `run_id` (required: the run aggregated by `01_aggregate`) and
# MAGIC `overrides`.
# MAGIC
# MAGIC The first cell installs samplegen from the bundle's synced source (`..`, where setup.py
# MAGIC is) with pip; Spark, Delta and torch come from the ML runtime. Elsewhere, point it at the
# MAGIC wheel instead, e.g. `%pip install /Volumes/<catalog>/<schema>/<volume>/samplegen-0.1.0-py3-none-any.whl`.

# COMMAND ----------

from samplegen.notebook import notebook_params, show
from samplegen.pipeline import run_stages

cfg, run_id = notebook_params(globals(), require_run_id=True, previous="01_aggregate")

# COMMAND ----------

[result] = run_stages(spark, cfg, run_id, ["train"])  # noqa: F821 - the notebook's session

# COMMAND ----------

show(result)
