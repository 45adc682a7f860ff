"""Secrets and CSV cells through the real CLI and Spark (unit checks: tests/unit/test_redact.py,
test_exports.py, test_ids.py; hostile ids: the bad-input corpus)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from samplegen.cli import main
from samplegen.runinfo import LOG, configure_logging
from samplegen.tables import EVAL_METRICS, write_table
from tests.conftest import REPO

pytestmark = pytest.mark.spark

SECRETS = {
    "spark.hadoop.fs.s3a.secret.key": "S3-SECRET-value-1",
    "spark.hadoop.fs.s3a.access.key": "AKIA-ACCESS-2",
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "AZURE-KEY-3",
}


def test_a_failed_run_keeps_credentials_out_of_manifest_and_logs(spark, tmp_path, capsys):
    configure_logging()
    handler = LOG.handlers[0]
    stream = io.StringIO()
    # Swapped without setStream: that flushes the old stream, which an earlier test's capture
    # may have closed (seen on Python 3.12 in make test-compat).
    previous, handler.stream = handler.stream, stream
    argv = [
        "aggregate",
        "--conf",
        str(REPO / "conf" / "local.yaml"),
        "--run-id",
        "secrets-1",
        "--set",
        "spark.master=active",
        "--set",
        f"reports_root={tmp_path / 'reports'}",
        "--set",
        f"lakehouse={tmp_path / 'lakehouse'}",
        "--set",
        "data.source=files",
        "--set",
        f"data.events_path={tmp_path / 'no-events-here'}",
        *[arg for key, value in SECRETS.items() for arg in ("--set", f"spark.conf.{key}={value}")],
    ]
    try:
        assert main(argv) == 1  # the run fails: no events at the path
    finally:
        handler.stream = previous
    logged = stream.getvalue() + capsys.readouterr().err
    manifest_text = (tmp_path / "reports" / "secrets-1" / "manifest.json").read_text()
    manifest = json.loads(manifest_text)
    assert manifest["stages"]["aggregate"]["status"] == "failed"
    assert "event=failed" in logged and "no-events-here" in logged
    for value in SECRETS.values():
        assert value not in manifest_text and value not in logged
    assert {manifest["config"]["spark"]["conf"][key] for key in SECRETS} == {"***"}
    assert manifest["config"]["train"]["tabular"]["discrete_columns"] == [
        "department",
        "brand",
        "label",
    ]
    assert "spark.conf.spark.hadoop.fs.s3a.secret.key=***" in logged  # the start line


def test_compare_csv_neutralises_catalogue_text(spark, tmp_path, capsys):
    from pyspark.sql import Row

    hostile = "=cmd|' /C calc'!A0"  # as crafted rows or a hostile category name could hold
    rows = [
        Row(
            run_id=run,
            dataset="test",
            recommender=recommender,
            variant="augmented_minus_real",
            slice=slice_,
            metric="ndcg",
            k=20,
            value=value,
            ci_low=None,
            ci_high=None,
            seed=None,
            n_users=5,
        )
        for run, shift in (("run-a", 0.0), ("run-b", -0.75))
        for recommender, slice_, value in (
            ("ease", "all", 0.25 + shift),
            ("ease", hostile, -0.5 + shift),
            ("@popularity", "+tail", 0.1 + shift),
        )
    ]
    lakehouse = str(tmp_path / "lakehouse")
    frame = spark.createDataFrame(rows, schema=EVAL_METRICS.schema)
    for run in ("run-a", "run-b"):
        write_table(frame.where(frame.run_id == run), lakehouse, EVAL_METRICS, run_id=run)
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"lakehouse: {lakehouse}\nspark:\n  master: active\n")
    out = tmp_path / "cmp.csv"
    assert main(["compare", "--conf", str(conf), "run-a", "run-b", "--csv", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with open(out, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 3
    by_slice = {row["slice"]: row for row in table}
    assert set(by_slice) == {"all", "'" + hostile, "'+tail"}
    assert by_slice["'+tail"]["recommender"] == "'@popularity"
    assert by_slice["'" + hostile]["b_minus_a"] == "-0.75"  # numbers stay numbers
    assert by_slice["'" + hostile]["a"] == "-0.5"
    for row in table:
        assert not any(cell.startswith(("=", "+", "@")) for cell in row.values())
    assert Path(out).read_text(encoding="utf-8").count("\n") == 4
