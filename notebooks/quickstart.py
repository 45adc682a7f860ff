# Databricks notebook source
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

# COMMAND ----------

import os

from samplegen.config import load_config
from samplegen.pipeline import run_pipeline
from samplegen.runinfo import configure_logging, new_run_id

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
run_id = run_id or new_run_id()
overrides = [item.strip() for item in overrides_text.split(";") if item.strip()]
cfg = load_config(conf, overrides)
print(f"run_id: {run_id}")

# COMMAND ----------

results = run_pipeline(spark, cfg, run_id)  # noqa: F821 - the notebook's session

# COMMAND ----------

for result in results:
    print(f"{result.stage}: {result.status} in {result.seconds:.1f}s, rows: {result.rows}")
    for name, location in result.outputs.items():
        print(f"  {name}: {location}")
for line in results[-1].metrics.get("verdict", []):
    print(f"verdict: {line}")
