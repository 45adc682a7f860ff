"""spark-submit entry point for the whole pipeline (aggregate, train, generate, evaluate).

spark-submit --packages io.delta:delta-spark_2.13:4.0.0 \
        --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
        --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
        jobs/pipeline.py --conf conf/cluster.yaml [--run-id RUN_ID] [--set key=value]
"""

import sys

from samplegen.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
