"""spark-submit entry point for the train stage.

spark-submit jobs/train.py --conf conf/cluster.yaml --run-id RUN_ID [--set key=value]
"""

import sys

from samplegen.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
