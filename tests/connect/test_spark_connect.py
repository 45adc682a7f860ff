"""The four stages (aggregate, train, generate, evaluate) through a local Spark Connect server.

The fixture starts the server the way ``sbin/start-connect-server.sh`` would (pyspark's wheel
ships the server jar, not the script) with the settings of a local session
(:func:`samplegen.spark.connect_server_command`), on a free port, and stops it afterwards. The
stages get their session from ``spark.remote`` through :func:`samplegen.spark.get_spark`, as a
run on a Databricks standard cluster or serverless gets a Connect session.

Needs the Connect client packages (``pyspark[connect]``: grpcio, grpcio-status,
googleapis-common-protos); run with ``pytest -m connect tests/connect`` (the default run leaves
``connect`` tests out, see tests/conftest.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, small_config

pytestmark = [pytest.mark.connect, pytest.mark.slow]

RUN_ID = "connect-run"
#: Training on the client (TorchDistributor local mode), one process, the pyarrow loader.
TRAIN = [
    "train.num_processes=1",
    "train.local_mode=true",
    "train.loader=arrow",
    "train.epochs=2",
]
SERVER_START_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory):
    """``sc://localhost:<port>`` of a local Spark Connect server with Delta, for this module."""
    pytest.importorskip("grpc", reason="the Spark Connect client needs pyspark[connect]")
    from samplegen.spark import connect_server_command

    folder = tmp_path_factory.mktemp("connect-server")
    port = _free_port()
    env = {
        **os.environ,
        # The server's Python workers run this interpreter and import this checkout.
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    env.pop("SPARK_REMOTE", None)
    log = folder / "server.log"
    command = connect_server_command(small_config(folder).spark, port)
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Spark Connect server did not start: {log.read_text()[-3000:]}")
            time.sleep(1)
        yield f"sc://localhost:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def connect_run(connect_url: str, tmp_path_factory: pytest.TempPathFactory):
    """The session, config and stage results of the whole pipeline over Connect."""
    from samplegen.pipeline import run_pipeline
    from samplegen.spark import get_spark

    root = tmp_path_factory.mktemp("connect-run")
    cfg = small_config(root, [f"spark.remote={connect_url}", *TRAIN])
    spark = get_spark(cfg.spark)
    results = run_pipeline(spark, cfg, RUN_ID)
    yield spark, cfg, {r.stage: r for r in results}
    spark.stop()


def test_the_session_is_a_connect_session(connect_run):
    from samplegen.spark import default_parallelism, is_connect, pinned

    spark, _, _ = connect_run
    assert is_connect(spark)
    assert default_parallelism(spark) == 2  # local[2,4] on the server
    kept = pinned(spark.range(10).selectExpr("id * 2 AS x"))
    assert kept.agg({"x": "sum"}).first()[0] == 90


def test_aggregate_writes_every_table_over_connect(connect_run):
    from samplegen.tables import (
        INTERACTIONS,
        ITEM_INDEX,
        TRAINING_VIEW,
        USER_INDEX,
        delta_version,
        read_table,
    )

    spark, cfg, results = connect_run
    rows = results["aggregate"].rows
    assert results["aggregate"].status == "done"
    assert rows["active_users"] > 0 and rows["item_index"] > 0
    # The counts come from the Delta history (SQL over Connect); they match the tables.
    for table in (USER_INDEX, ITEM_INDEX, TRAINING_VIEW, *INTERACTIONS.values()):
        assert read_table(spark, cfg.lakehouse, table).count() == rows[table.name], table.name
        assert delta_version(spark, cfg.lakehouse, table) >= 0
    assert rows["interactions_train"] == rows["active_users"]


def test_generate_writes_synthetic_and_augmented_rows_over_connect(connect_run):
    from samplegen.tables import AUGMENTED_TRAIN, SYNTHETIC_INTERACTIONS, read_table

    spark, cfg, results = connect_run
    assert results["train"].status == "done"
    rows = results["generate"].rows
    synthetic = read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS)
    assert rows["synthetic_interactions"] > 0
    assert synthetic.where(synthetic.run_id == RUN_ID).count() == rows["synthetic_interactions"]
    augmented = read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN)
    assert augmented.where(augmented.run_id == RUN_ID).count() == rows["augmented_train"]
    real = results["aggregate"].rows["interactions_train"]
    assert rows["augmented_train"] == real + rows["synthetic_interactions"]


def test_evaluate_scores_the_run_over_connect(connect_run):
    from samplegen.tables import EVAL_METRICS, read_table

    spark, cfg, results = connect_run
    rows = results["evaluate"].rows
    assert results["evaluate"].status == "done"
    metrics = read_table(spark, cfg.lakehouse, EVAL_METRICS)
    assert metrics.where(metrics.run_id == RUN_ID).count() == rows["eval_metrics"] > 0
