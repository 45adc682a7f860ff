# Databricks notebook source
# MAGIC %md
# MAGIC # 3. generate
# MAGIC Draws synthetic items for sparse users from the model of `run_id` and writes
# MAGIC `synthetic_interactions` and `augmented_train` (`samplegen.generate.run_generate`).
# MAGIC
# MAGIC Parameters: `conf`, `run_id` (required: the run trained by `02_train`) and `overrides`.

# COMMAND ----------

import os

from samplegen.config import load_config
from samplegen.pipeline import run_stages
from samplegen.runinfo import configure_logging

configure_logging()
if "dbutils" in globals():  # on Databricks: widgets (paths are relative to this notebook)
    dbutils.widgets.text("conf", "../conf/databricks.yaml")  # noqa: F821
    dbutils.widgets.text("run_id", "")  # noqa: F821
    dbutils.widgets.text("overrides", "")  # noqa: F821
    conf = dbutils.widgets.get("conf")  # noqa: F821
    run_id = dbutils.widgets.get("run_id")  # noqa: F821
    overrides_text = dbutils.widgets.get("overrides")  # noqa: F821
else:  # anywhere else: environment variables
    conf = os.environ.get("SAMPLEGEN_CONF", "conf/databricks.yaml")
    run_id = os.environ.get("SAMPLEGEN_RUN_ID", "")
    overrides_text = os.environ.get("SAMPLEGEN_SET", "")
if not run_id:
    raise ValueError(
        "no run id: set the `run_id` widget (or the SAMPLEGEN_RUN_ID environment variable) "
        "to the id of the run trained by 02_train"
    )
overrides = [item.strip() for item in overrides_text.split(";") if item.strip()]
cfg = load_config(conf, overrides)
print(f"run_id: {run_id}")

# COMMAND ----------

[result] = run_stages(spark, cfg, run_id, ["generate"])  # noqa: F821 - the notebook's session

# COMMAND ----------

print(f"{result.stage}: {result.status} in {result.seconds:.1f}s, rows: {result.rows}")
for name, location in result.outputs.items():
    print(f"  {name}: {location}")
