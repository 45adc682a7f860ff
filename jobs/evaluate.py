"""spark-submit entry point for the evaluate stage.

spark-submit jobs/evaluate.py --conf conf/cluster.yaml --run-id RUN_ID [--set key=value]
"""

import sys

from samplegen.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
