"""Shared fixtures: one real Spark session (local[2,4]: two slots, task retries) and one small run.

The small run is the whole pipeline on the first 150 completejourney households, trained by
TorchDistributor with ``local_mode=False`` on 2 processes (gloo) reading through petastorm where
the ``petastorm`` extra is installed (the primary environment), else through the Arrow loader
(the compatibility environment: numpy 2 and current pyarrow, which petastorm cannot use).
Several test modules assert on its tables, so it is built once per session.
"""

from __future__ import annotations

import os
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from samplegen.config import Config, load_config
from samplegen.runinfo import configure_logging

# Naive datetimes in tests mean UTC, as event times do in the tables, whatever the host's zone.
os.environ["TZ"] = "UTC"
time.tzset()

REPO = Path(__file__).resolve().parents[1]
RUN_ID = "test-run"
HAS_PETASTORM = find_spec("petastorm") is not None
#: Test speed only: no checksum file per commit, the snapshot replayed in one partition;
#: production sessions keep the local session's settings. ``bench/small_delta_commits.py``
#: measures both sides: a small cut per commit (write_table 1.1-1.4 vs 1.5-2.0 CPU-s), none on
#: a warm stage-1 load (62.1 vs 62.6 CPU-s). Per-file statistics stay on: without them a
#: per-run (``replaceWhere``) commit records no ``numOutputRows``, which ``write_table`` reports.
TINY_DELTA = {
    "spark.databricks.delta.writeChecksumFile.enabled": "false",
    "spark.databricks.delta.snapshotPartitions": "1",
}
SMALL_OVERRIDES = [
    "spark.master=local[2,4]",
    "spark.driver_memory=2g",
    "spark.shuffle_partitions=4",
    # Test speed only: no web UI (production sessions keep it), and the serial collector,
    # which spends no CPU on G1's concurrent threads (three stage-1 loads in one session on
    # this slice: 193-209 CPU-s with it, 225-249 with G1; cpuacct, 2 sessions each). Short-lived
    # JVMs of the subprocess drills also skip the C2 JIT (SUBPROCESS_JVM below).
    "spark.conf.spark.ui.enabled='false'",
    "spark.conf.spark.driver.extraJavaOptions='-XX:+UseSerialGC'",
    "data.max_users=150",
    "aggregate.min_item_users=5",
    "aggregate.top_n_items=800",
    "aggregate.training_files=4",
    "train.epochs=4",
    "train.batch_size=32",
    "train.hidden_dims=[64, 16]",
    "train.anneal_steps=20",
    "train.num_processes=2",
    "train.local_mode=false",
    f"train.loader={'petastorm' if HAS_PETASTORM else 'arrow'}",
    "generate.max_user_items=60",
    "generate.items_per_user=5",
    "evaluate.bootstrap_samples=100",
    "evaluate.repeats=2",
    "evaluate.als_rank=8",
    "evaluate.als_iterations=5",
    "evaluate.multvae_epochs=5",
    "evaluate.multvae_hidden_dims=[32]",
    "evaluate.dose_ratios=[0.5, 1.0]",
    *[f"spark.conf.{key}='{value}'" for key, value in TINY_DELTA.items()],
]

#: Spark settings of the JVMs a drill starts in a subprocess (spark-submit, killed jobs). They live
#: a minute on 2 cores and spend about a third of their CPU in the C2 JIT compiler (cpuacct on
#: test_two_loads.py in a fresh JVM: 146-152 CPU-s with C2, 98-115 without, same wall time);
#: C1 alone changes no result. Not for the suite's own session: a JVM that lives the whole
#: suite needs C2's compiled code (with C1 alone the in-session tests ran up to twice as long).
#: The serial collector spends no CPU on G1's concurrent threads: a subprocess ``samplegen
#: aggregate`` of 60 households took 61-63 CPU-s with it, 66-71 with G1 (cpuacct, 2 runs each).
SUBPROCESS_JVM = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


def small_config(root: Path, extra: list[str] | None = None) -> Config:
    """The test configuration with every output under ``root``."""
    overrides = SMALL_OVERRIDES + [
        f"lakehouse={root / 'lakehouse'}",
        f"models_root={root / 'models'}",
        f"reports_root={root / 'reports'}",
    ]
    return load_config(REPO / "conf" / "local.yaml", overrides + (extra or []))


#: The pytest-xdist group of every test that needs ``pipeline_run`` (``make test`` runs
#: ``-n 2 --dist loadgroup``): one worker builds the session's pipeline once and runs them all,
#: while the other worker takes the rest (unit tests, the browser).
#: Every other test's group is its module, so a module fixture is built once, in one worker.
PIPELINE_GROUP = "pipeline"
#: Markers of the tiers a run includes only when its ``-m`` names them (``make test-connect``,
#: ``make test-drills``); CI runs every tier.
OPT_IN_MARKERS = ("connect", "drill")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that needs the whole-pipeline fixture is slow, whatever its module says.

    ``make test-fast`` deselects ``slow``; this keeps the fast tier free of the pipeline run
    even when a new test asks for ``pipeline_run`` in a module not marked slow. The same tests
    share one xdist group (``PIPELINE_GROUP``), so under ``--dist loadgroup`` the pipeline runs
    once, in one worker; each other test is grouped with its module (a module-scoped fixture,
    e.g. a load or a trained model, would otherwise be built again in the other worker). First
    among the hooks (``tryfirst``): xdist reads the group marks in its own
    ``pytest_collection_modifyitems``.

    Opt-in tiers (:data:`OPT_IN_MARKERS`) run only when ``-m`` names them: ``connect`` tests
    (a Spark Connect server, the ``pyspark[connect]`` client packages; ``make test-connect``)
    and ``drill`` tests (a second whole pipeline: run by spark-submit, the notebooks or on
    catalog tables, killed, raced or forced again; ``make test-drills``). Every other run,
    whatever its own ``-m``, leaves them out, except the tests of a file or test named on the
    command line (``pytest tests/e2e/test_faults.py`` runs its drills).
    """
    for item in items:
        if "pipeline_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(PIPELINE_GROUP))
        else:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    named = config.option.markexpr or ""
    left_out = [m for m in OPT_IN_MARKERS if m not in named]
    files = tuple(a.split("::")[0] for a in config.args if a.split("::")[0].endswith(".py"))

    def opted_out(item: pytest.Item) -> bool:
        node_file = item.nodeid.split("::")[0]  # relative to the rootdir; an arg may be absolute
        explicit = any(node_file.endswith(f) or f.endswith(node_file) for f in files)
        return not explicit and any(item.get_closest_marker(m) for m in left_out)

    deselected = [item for item in items if opted_out(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        kept = {id(item) for item in items} - {id(item) for item in deselected}
        items[:] = [item for item in items if id(item) in kept]


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samplegen")


@pytest.fixture(scope="session")
def cfg(workdir: Path) -> Config:
    return small_config(workdir)


@pytest.fixture(scope="session")
def spark(cfg: Config):
    from samplegen.spark import get_spark

    configure_logging()
    session = get_spark(cfg.spark)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pipeline_run(spark, cfg: Config):
    """Results of the whole pipeline on the small slice, by stage name."""
    from samplegen.pipeline import run_pipeline

    results = run_pipeline(spark, cfg, RUN_ID)
    return {r.stage: r for r in results}
