"""``spark-submit --py-files <wheel> jobs/pipeline.py`` on real executors, as on a cluster."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from samplegen.spark import ensure_delta_jars
from tests.conftest import REPO, SUBPROCESS_JVM, small_config

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.drill]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("samplegen-*.whl")
    return wheel


def test_pipeline_job_runs_under_spark_submit_from_the_wheel(wheel, tmp_path):
    cfg = small_config(
        tmp_path,
        [
            "spark.master=active",
            "data.max_users=60",
            "train.epochs=2",
            "aggregate.top_n_items=300",
            "aggregate.samples_ctr=false",  # no CTR model in this run
            # the per-user split and time decay, end to end (the other runs use the defaults)
            "aggregate.split=leave_last",
            "aggregate.decay_half_life_days=30",
            # item text embeddings in the executors' workers, read by the cvae's condition
            # and by new_items
            "aggregate.text_embeddings=true",
            "train.model=cvae",
            "train.text_condition=true",
            "generate.strategy=new_items",
            "generate.new_items=20",
            # Spark ALS fits on the executors; one seed keeps the test short
            "evaluate.recommenders=[popularity, als]",
            "evaluate.repeats=1",
            "evaluate.dose_ratios=[1.0]",
        ],
    )
    conf = tmp_path / "cluster.yaml"
    conf.write_text(yaml.safe_dump(cfg.to_dict()))
    jars = ",".join(str(p) for p in ensure_delta_jars())
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master", "local-cluster[1,2,1024]",  # one executor JVM, two task slots
        "--driver-memory", "2g",
        "--jars", jars,
        "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "--conf", "spark.driver.host=127.0.0.1",
        # small-data settings a user would pass too (the defaults suit large clusters)
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", "spark.databricks.delta.snapshotPartitions=2",
        # test speed only (tests/conftest.py): C1 JIT alone, no web UI
        *[
            arg
            for key, value in {**cfg.spark.conf, **SUBPROCESS_JVM}.items()
            for arg in ("--conf", f"{key}={value}")
        ],
        "--py-files", str(wheel),
        str(REPO / "jobs" / "pipeline.py"),
        "--conf", str(conf),
        "--run-id", "submitted",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run submitted finished" in done.stdout
    manifest = json.loads((tmp_path / "reports" / "submitted" / "manifest.json").read_text())
    assert [s["status"] for s in manifest["stages"].values()] == ["done"] * 4
    assert manifest["versions"]["samplegen_from"].startswith(str(wheel))
    cuts = manifest["stages"]["aggregate"]["metrics"]
    assert "train_until" in cuts and "valid_from" not in cuts  # leave_last, not the time cut
    assert (cuts["split"], cuts["leave_last_by"]) == ("leave_last", "first")  # the default
    params = json.loads((tmp_path / "models" / "cvae" / "submitted" / "config.json").read_text())
    assert params["params"]["text_dim"] == 384
    drawn = manifest["stages"]["generate"]["metrics"]
    assert drawn["attribute_map/text"] is True and drawn["new_items"] == 20
    assert (tmp_path / "reports" / "submitted" / "index.html").exists()


def test_failing_job_exits_non_zero_with_one_line_reason(tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("train:\n  epochs: -1\n")
    done = subprocess.run(
        [sys.executable, str(REPO / "jobs" / "pipeline.py"), "--conf", str(conf)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "train.epochs" in done.stderr
