"""spark-submit entry point for the generate stage.

spark-submit jobs/generate.py --conf conf/cluster.yaml --run-id RUN_ID [--set key=value]
"""

import sys

from samplegen.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
