"""Tables as catalog names: aggregate, train and generate through ``tables.schema``.

A local session has no Unity Catalog, but Delta's session catalog (``spark_catalog`` with
DeltaCatalog, as :mod:`samplegen.spark` configures it) takes ``catalog.schema.table`` names
through the same ``saveAsTable`` / ``spark.table`` / ``DESCRIBE HISTORY`` calls, so the
catalog mode runs for real here (path mode is what the rest of the suite runs). A catalog or
schema the session lacks stops before any stage.
"""

from __future__ import annotations

import json

import pytest

from samplegen.cli import main
from samplegen.data.simulate import SimulationSpec, write_simulation
from samplegen.pipeline import run_stages
from samplegen.runinfo import read_manifest
from samplegen.tables import (
    AUGMENTED_TRAIN,
    INTERACTIONS,
    ITEM_INDEX,
    TRAINING_VIEW,
    USER_INDEX,
    CatalogError,
    TableStore,
    check_store,
    read_table,
    table_store,
)
from tests.conftest import small_config

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
]

SPEC = SimulationSpec(n_events=8_000, n_items=300, n_categories=6)
WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0}
SCHEMA = "sg_catalog_test"
RUN_ID = "catalog-run"


def _overrides(root) -> list[str]:
    return [
        "data.source=files",
        "data.max_users=null",
        f"data.events_path={root / 'log' / 'events'}",
        f"data.catalogue_path={root / 'log' / 'catalogue'}",
        "data.catalogue_format=parquet",
        f"aggregate.event_weights={json.dumps(WEIGHTS)}",
        "aggregate.min_item_users=3",
        "aggregate.top_n_items=300",
        "aggregate.ctr_negatives_per_positive=0",
        "aggregate.samples_ctr=false",
        "aggregate.training_files=2",
        "train.epochs=1",
        "train.num_processes=1",
        "train.local_mode=true",
        "train.loader=arrow",
    ]


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory) -> dict:
    """One aggregate -> train -> generate run with every table in ``spark_catalog.<SCHEMA>``."""
    root = tmp_path_factory.mktemp("catalog")
    write_simulation(spark, SPEC, str(root / "log"))
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA} LOCATION '{root / 'warehouse'}'")
    cfg = small_config(
        root, [*_overrides(root), "tables.catalog=spark_catalog", f"tables.schema={SCHEMA}"]
    )
    try:
        results = run_stages(spark, cfg, RUN_ID, ["aggregate", "train", "generate"])
        yield {"cfg": cfg, "root": root, "results": {r.stage: r for r in results}}
    finally:
        spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


@pytest.mark.drill  # the module's whole pipeline on catalog tables: make test-drills
def test_every_stage_wrote_catalog_tables_and_no_lakehouse_folder(spark, run):
    cfg, results = run["cfg"], run["results"]
    store = table_store(cfg)
    assert store.by_name
    for table in (USER_INDEX, ITEM_INDEX, TRAINING_VIEW, *INTERACTIONS.values(), AUGMENTED_TRAIN):
        assert spark.catalog.tableExists(f"spark_catalog.{SCHEMA}.{table.name}"), table.name
    assert not (run["root"] / "lakehouse").exists()
    assert results["aggregate"].rows["user_index"] >= 50  # enough users to train on
    assert results["train"].rows["training_rows"] == results["aggregate"].rows["training_view"]
    assert results["generate"].rows["augmented_train"] > 0
    synthetic = read_table(spark, store, AUGMENTED_TRAIN).where("run_id = 'catalog-run'")
    assert synthetic.count() == results["generate"].rows["augmented_train"]
    manifest = read_manifest(cfg.reports_root, RUN_ID)["stages"]
    assert manifest["aggregate"]["outputs"]["item_index"] == (
        f"`spark_catalog`.`{SCHEMA}`.`item_index`"
    )


@pytest.mark.drill
def test_a_finished_run_with_catalog_outputs_is_skipped(spark, run):
    again = run_stages(spark, run["cfg"], RUN_ID, ["aggregate", "generate"])
    assert [r.status for r in again] == ["skipped", "skipped"]


def test_a_missing_schema_names_the_key(spark):
    with pytest.raises(CatalogError, match=r"tables\.schema 'no_such_schema' does not exist"):
        check_store(spark, TableStore("unused", "spark_catalog", "no_such_schema"))


def test_a_catalog_the_session_lacks_stops_the_cli_with_exit_2(spark, tmp_path, capsys):
    conf = tmp_path / "c.yaml"
    settings = {
        "spark": {"master": "active"},  # the test's session, left running
        "lakehouse": str(tmp_path / "lake"),
        "reports_root": str(tmp_path / "reports"),
        "tables": {"catalog": "main", "schema": "samplegen"},
    }
    conf.write_text(json.dumps(settings))
    assert main(["aggregate", "--conf", str(conf)]) == 2
    err = capsys.readouterr().err
    assert "tables.catalog 'main' is not a catalog of this Spark session" in err
    assert not (tmp_path / "lake").exists() and not (tmp_path / "reports").exists()
