"""spark-submit entry point for the aggregate stage.

spark-submit jobs/aggregate.py --conf conf/cluster.yaml --run-id RUN_ID [--set key=value]
"""

import sys

from samplegen.cli import main

if __name__ == "__main__":
    sys.exit(main(["aggregate", *sys.argv[1:]]))
