# Databricks notebook source
# MAGIC %md
# MAGIC # samplegen quickstart
# MAGIC Runs the whole pipeline (aggregate, train, generate, evaluate) on the bundled
# MAGIC completejourney data with this notebook's Spark session. Install the samplegen wheel on
# MAGIC the cluster first.

# COMMAND ----------

from samplegen.config import load_config
from samplegen.pipeline import run_pipeline
from samplegen.runinfo import configure_logging, new_run_id

configure_logging()
cfg = load_config("../conf/databricks.yaml")
run_id = new_run_id()

# COMMAND ----------

results = run_pipeline(spark, cfg, run_id)  # noqa: F821 - `spark` is the notebook's session
for result in results:
    print(result.stage, result.seconds, result.rows)

# COMMAND ----------

for line in results[-1].metrics["verdict"]:
    print(line)
