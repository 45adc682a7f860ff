"""The one setting that makes tables paths or catalog names (no Spark session needed)."""

from samplegen.config import load_config
from samplegen.tables import ITEM_INDEX, TableStore, as_store, table_ref, table_store


def test_default_config_keeps_tables_as_folders_under_the_lakehouse():
    store = table_store(load_config(None, ["lakehouse=dbfs:/sg/lake/"]))
    assert not store.by_name
    assert store.ref(ITEM_INDEX) == "dbfs:/sg/lake/item_index"
    assert table_ref("/Volumes/main/sg/lake", ITEM_INDEX) == "/Volumes/main/sg/lake/item_index"
    assert as_store("s3a://b/lake") == TableStore("s3a://b/lake")


def test_catalog_settings_make_quoted_three_part_names():
    cfg = load_config(None, ["tables.catalog=main", "tables.schema=sample-gen.v1"])
    store = table_store(cfg)
    assert store.by_name and store.where() == "main.sample-gen.v1"
    assert store.ref(ITEM_INDEX) == "`main`.`sample-gen.v1`.`item_index`"
    assert TableStore("unused", None, "sg").ref(ITEM_INDEX) == "`sg`.`item_index`"


def test_sql_ref_makes_a_relative_lakehouse_absolute_and_keeps_uris_and_names(
    tmp_path, monkeypatch
):
    from samplegen.tables import USER_INDEX, TableStore, sql_ref

    monkeypatch.chdir(tmp_path)
    assert sql_ref("./lakehouse", USER_INDEX) == f"delta.`{tmp_path}/lakehouse/user_index`"
    assert sql_ref("s3a://b/lake", USER_INDEX) == "delta.`s3a://b/lake/user_index`"
    assert sql_ref("dbfs:/lake", USER_INDEX) == "delta.`dbfs:/lake/user_index`"
    assert sql_ref("file:/data/lake", USER_INDEX) == "delta.`file:/data/lake/user_index`"
    named = TableStore("./lakehouse", "main", "shop")
    assert sql_ref(named, USER_INDEX) == "`main`.`shop`.`user_index`"
