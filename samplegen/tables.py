"""Every table's name and schema in one place, with the Delta read/write/history helpers.

Where the tables live is one setting, read here and nowhere else (:func:`table_store`):

- **path mode** (the default): Delta folders under ``lakehouse`` -- a local folder, ``dbfs:/``,
  ``/Volumes/...``, ``s3a://`` or ``abfss://``;
- **catalog mode** (``tables.schema`` set): managed Delta tables named
  ``<tables.catalog>.<tables.schema>.<table>`` (Unity Catalog on Databricks), or
  ``<tables.schema>.<table>`` in the session's current catalog when ``tables.catalog`` is null;
  read with ``spark.table``, written with ``saveAsTable``, their history through
  ``DESCRIBE HISTORY`` (SQL, so Spark Connect sessions need no Delta Connect plugin).

Stage-1 tables describe the current input and are replaced on each aggregate run; synthetic and
evaluation tables are keyed by ``run_id`` and a rerun replaces only its own rows. Every stage
passes a :class:`TableStore` (or a lakehouse path, which means path mode) to these helpers.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import types as T

from samplegen.compat import catalog_mode_gap, installed
from samplegen.concurrency import is_conflict, refuse_conflict, retry_conflicts
from samplegen.config import ConfigError
from samplegen.locations import local_commit_metrics, scheme

if TYPE_CHECKING:
    from samplegen.config import Config

#: Commits searched for a write's own commit (jobs writing the table since then).
_HISTORY_SEARCH = 100


@dataclass(frozen=True)
class Table:
    """A Delta table's name, schema and (for per-run tables) its run key."""

    name: str
    schema: T.StructType
    per_run: bool = False


def _schema(*fields: tuple[str, T.DataType, bool]) -> T.StructType:
    return T.StructType([T.StructField(n, t, nullable) for n, t, nullable in fields])


_INT_ARRAY = T.ArrayType(T.IntegerType(), containsNull=False)
_FLOAT_ARRAY = T.ArrayType(T.FloatType(), containsNull=False)

RAW_EVENTS_SCHEMA = _schema(
    ("user_id", T.StringType(), True),
    ("item_id", T.StringType(), True),
    ("event_type", T.StringType(), True),
    ("event_time", T.TimestampType(), True),
    ("session_id", T.StringType(), True),
    ("quantity", T.DoubleType(), True),
    ("price", T.DoubleType(), True),
    ("store_id", T.StringType(), True),
)

RAW_EVENTS = Table("raw_events", RAW_EVENTS_SCHEMA)
CATALOGUE = Table(
    "catalogue",
    _schema(
        ("item_id", T.StringType(), False),
        ("category", T.StringType(), True),
        ("department", T.StringType(), True),
        ("brand", T.StringType(), True),
        ("title", T.StringType(), True),
    ),
)
EVENTS_CLEAN = Table("events_clean", RAW_EVENTS_SCHEMA)
EVENTS_QUARANTINE = Table(
    "events_quarantine",
    T.StructType(RAW_EVENTS_SCHEMA.fields + [T.StructField("reason", T.StringType(), False)]),
)
USER_INDEX = Table(
    "user_index",
    _schema(
        ("user_id", T.StringType(), False),
        ("user_idx", T.IntegerType(), False),
        ("n_items", T.LongType(), False),
        ("n_events", T.LongType(), False),
    ),
)
ITEM_INDEX = Table(
    "item_index",
    _schema(
        ("item_id", T.StringType(), False),
        ("item_idx", T.IntegerType(), False),
        ("n_users", T.LongType(), False),
        ("category", T.StringType(), True),
    ),
)
_INTERACTIONS_SCHEMA = _schema(
    ("user_idx", T.IntegerType(), False),
    ("item_idx", _INT_ARRAY, False),
    ("weight", _FLOAT_ARRAY, False),
    ("n_items", T.IntegerType(), False),
)
INTERACTIONS = {
    split: Table(f"interactions_{split}", _INTERACTIONS_SCHEMA)
    for split in ("train", "valid", "test")
}
_NEW_ITEM_PAIRS_SCHEMA = _schema(
    ("user_idx", T.IntegerType(), False), ("item_id", T.StringType(), False)
)
#: Each active user's vocabulary items per split in time order, for sequential recommenders
#: (:mod:`samplegen.features.sequences`); ``n_ties``: items placed by the tie rule.
SEQUENCES = Table(
    "sequences",
    _schema(
        ("user_idx", T.IntegerType(), False),
        ("train_items", _INT_ARRAY, False),
        ("valid_items", _INT_ARRAY, False),
        ("test_items", _INT_ARRAY, False),
        ("n_ties", T.IntegerType(), False),
    ),
)
#: Test pairs on catalogue items first seen after the train cut: read by stage 4's item-cold only.
TEST_NEW_ITEMS = Table("test_new_items", _NEW_ITEM_PAIRS_SCHEMA)
#: Valid pairs on those items: stage 4's item-cold chooses the compared models on them, only.
VALID_NEW_ITEMS = Table("valid_new_items", _NEW_ITEM_PAIRS_SCHEMA)
TRAINING_VIEW = Table(
    "training_view",
    _schema(
        ("user_idx", T.IntegerType(), False),
        ("n_items", T.IntegerType(), False),
        ("item_bytes", T.BinaryType(), False),
        ("weight_bytes", T.BinaryType(), False),
    ),
)
USER_FEATURES = Table(
    "user_features",
    _schema(
        ("user_id", T.StringType(), False),
        ("user_idx", T.IntegerType(), False),
        ("n_events", T.LongType(), False),
        ("n_items", T.LongType(), False),
        ("n_purchases", T.LongType(), False),
        ("n_sessions", T.LongType(), False),
        ("first_event_time", T.TimestampType(), False),
        ("last_event_time", T.TimestampType(), False),
        ("days_since_last", T.DoubleType(), False),
        ("mean_price", T.DoubleType(), True),
        ("top_category", T.StringType(), True),
        ("category_count", T.IntegerType(), False),
    ),
)
ITEM_FEATURES = Table(
    "item_features",
    _schema(
        ("item_id", T.StringType(), False),
        ("item_idx", T.IntegerType(), False),
        ("n_users", T.LongType(), False),
        ("n_events", T.LongType(), False),
        ("n_purchases", T.LongType(), False),
        ("purchase_rate", T.DoubleType(), True),
        ("mean_price", T.DoubleType(), True),
        ("min_price", T.DoubleType(), True),
        ("max_price", T.DoubleType(), True),
        ("first_event_time", T.TimestampType(), True),
        ("category", T.StringType(), True),
        ("department", T.StringType(), True),
        ("brand", T.StringType(), True),
        ("title", T.StringType(), True),
        ("text_embedding", _FLOAT_ARRAY, True),
    ),
)
SAMPLES_CTR = Table(
    "samples_ctr",
    _schema(
        ("user_id", T.StringType(), False),
        ("item_id", T.StringType(), False),
        ("user_idx", T.IntegerType(), False),
        ("item_idx", T.IntegerType(), False),
        ("split", T.StringType(), False),
        ("event_time", T.TimestampType(), False),
        ("label", T.IntegerType(), False),
        ("source", T.StringType(), False),
        ("query", T.StringType(), True),
        ("category", T.StringType(), True),
        ("department", T.StringType(), True),
        ("brand", T.StringType(), True),
        ("price", T.DoubleType(), True),
        ("user_events", T.LongType(), True),
        ("user_days_since_last", T.DoubleType(), True),
        ("item_users", T.LongType(), True),
        ("item_purchase_rate", T.DoubleType(), True),
    ),
)
#: Feature tables the tabular generator can learn (``train.tabular.table``), by name.
TABULAR_SOURCES = {t.name: t for t in (SAMPLES_CTR, ITEM_FEATURES, USER_FEATURES)}
#: Rows of a tabular source that are training rows: ``(column, value)``, or all rows.
TABULAR_TRAIN_ROWS = {SAMPLES_CTR.name: ("split", "train")}
DATA_PROFILE = Table(
    "data_profile",
    _schema(("metric", T.StringType(), False), ("value", T.DoubleType(), True)),
)
_PROVENANCE = (
    ("run_id", T.StringType(), False),
    ("model", T.StringType(), False),
    ("model_version", T.StringType(), False),
    ("strategy", T.StringType(), False),
    ("seed", T.LongType(), False),
)
SYNTHETIC_INTERACTIONS = Table(
    "synthetic_interactions",
    _schema(
        *_PROVENANCE,
        ("user_id", T.StringType(), True),
        ("user_idx", T.IntegerType(), False),
        ("item_idx", _INT_ARRAY, False),
        ("weight", _FLOAT_ARRAY, False),
        # Catalogue ids of items outside item_index (new_items), parallel to item_idx.
        ("item_ids", T.ArrayType(T.StringType(), containsNull=False), True),
    ),
    per_run=True,
)
SYNTHETIC_CTR = Table(
    "synthetic_ctr",
    _schema(
        *_PROVENANCE,
        ("row", T.LongType(), False),
        ("label", T.IntegerType(), False),
        *[(f.name, f.dataType, True) for f in SAMPLES_CTR.schema.fields[9:]],
    ),
    per_run=True,
)
SYNTHETIC_ITEMS = Table(
    "synthetic_items",
    _schema(
        *_PROVENANCE,
        ("item_id", T.StringType(), False),
        ("category", T.StringType(), True),
        ("department", T.StringType(), True),
        ("brand", T.StringType(), True),
        ("price", T.DoubleType(), True),
        ("title", T.StringType(), True),
        ("text_embedding", _FLOAT_ARRAY, True),
    ),
    per_run=True,
)
AUGMENTED_TRAIN = Table(
    "augmented_train",
    _schema(
        ("run_id", T.StringType(), False),
        ("user_idx", T.IntegerType(), False),
        ("item_idx", _INT_ARRAY, False),
        ("weight", _FLOAT_ARRAY, False),
        ("is_synthetic", T.BooleanType(), False),
    ),
    per_run=True,
)
EVAL_METRICS = Table(
    "eval_metrics",
    _schema(
        ("run_id", T.StringType(), False),
        ("dataset", T.StringType(), False),
        ("recommender", T.StringType(), False),
        ("variant", T.StringType(), False),
        ("slice", T.StringType(), False),
        ("metric", T.StringType(), False),
        ("k", T.IntegerType(), True),
        ("value", T.DoubleType(), True),
        ("ci_low", T.DoubleType(), True),
        ("ci_high", T.DoubleType(), True),
        ("seed", T.LongType(), True),
        ("n_users", T.LongType(), True),
    ),
    per_run=True,
)
#: Per-user values of ``evaluate.scoring: spark`` (:mod:`samplegen.evaluate.spark_scoring`).
EVAL_USER_METRICS = Table(
    "eval_user_metrics",
    _schema(
        *((c, T.StringType(), False) for c in ("run_id", "recommender", "variant", "metric")),
        *((c, T.IntegerType(), False) for c in ("seed", "user_idx", "activity", "k")),
        ("cold", T.BooleanType(), False),
        ("value", T.DoubleType(), True),
    ),
    per_run=True,
)
#: ``samplegen tune``: one row per trial of a run's recipe search, scored on the valid split
#: only. ``params`` is the trial's config keys as JSON; ``objective`` the target recommender's
#: NDCG@k on the target slice trained on real + synthetic rows, ``real_objective`` real-only;
#: ``diff`` their paired difference with its bootstrap CI; ``all_ndcg`` / ``real_all_ndcg`` the
#: same on every user (the constraint); ``state`` complete, pruned or failed (with ``error``).
TUNING_TRIALS = Table(
    "tuning_trials",
    _schema(
        ("run_id", T.StringType(), False),
        ("trial", T.IntegerType(), False),
        ("state", T.StringType(), False),
        ("params", T.StringType(), False),
        ("target", T.StringType(), False),
        ("slice", T.StringType(), False),
        ("k", T.IntegerType(), False),
        ("objective", T.DoubleType(), True),
        ("real_objective", T.DoubleType(), True),
        ("diff", T.DoubleType(), True),
        ("diff_ci_low", T.DoubleType(), True),
        ("diff_ci_high", T.DoubleType(), True),
        ("all_ndcg", T.DoubleType(), True),
        ("real_all_ndcg", T.DoubleType(), True),
        ("n_users", T.LongType(), True),
        ("feasible", T.BooleanType(), True),
        ("error", T.StringType(), True),
        ("seconds", T.DoubleType(), False),
    ),
    per_run=True,
)

#: The aggregate lock (:mod:`samplegen.locks`): ``claim`` and ``release`` rows, appended only.
AGGREGATE_LOCK = Table(
    "_aggregate_lock",
    _schema(
        ("token", T.StringType(), False),
        ("action", T.StringType(), False),
        ("run_id", T.StringType(), False),
        ("host", T.StringType(), False),
        ("pid", T.LongType(), False),
        ("at", T.TimestampType(), False),
    ),
)

#: Every table, by name.
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        RAW_EVENTS,
        CATALOGUE,
        EVENTS_CLEAN,
        EVENTS_QUARANTINE,
        USER_INDEX,
        ITEM_INDEX,
        *INTERACTIONS.values(),
        SEQUENCES,
        TEST_NEW_ITEMS,
        VALID_NEW_ITEMS,
        TRAINING_VIEW,
        USER_FEATURES,
        ITEM_FEATURES,
        SAMPLES_CTR,
        DATA_PROFILE,
        SYNTHETIC_INTERACTIONS,
        SYNTHETIC_CTR,
        SYNTHETIC_ITEMS,
        AUGMENTED_TRAIN,
        EVAL_METRICS,
        EVAL_USER_METRICS,
        TUNING_TRIALS,
    )
}


@dataclass(frozen=True)
class TableStore:
    """Where the tables live: Delta folders under ``lakehouse``, or names in a catalog schema.

    ``schema`` set means catalog mode (``catalog`` null: the session's current catalog);
    otherwise every table is the folder ``<lakehouse>/<table>``.
    """

    lakehouse: str
    catalog: str | None = None
    schema: str | None = None

    @property
    def by_name(self) -> bool:
        """Whether tables are catalog names (else paths under ``lakehouse``)."""
        return self.schema is not None

    def ref(self, table: Table) -> str:
        """The table's location as Spark takes it: a quoted catalog name or a path."""
        if not self.by_name:
            return table_path(self.lakehouse, table)
        return _quoted(self.catalog, self.schema, table.name)

    def where(self) -> str:
        """The store in words (logs, summaries)."""
        if not self.by_name:
            return self.lakehouse
        return ".".join(p for p in (self.catalog, self.schema) if p is not None)


def _quoted(*parts: str | None) -> str:
    """A dotted SQL name of ``parts`` (None skipped), each quoted: ids may hold '.' and '-'."""
    return ".".join(f"`{p}`" for p in parts if p is not None)


#: A table store, or a lakehouse path (path mode).
Where = TableStore | str


def table_store(cfg: Config) -> TableStore:
    """The store the config names: ``tables.schema`` (catalog mode), else ``lakehouse``."""
    return TableStore(cfg.lakehouse, cfg.tables.catalog, cfg.tables.schema)


def as_store(where: Where) -> TableStore:
    """``where`` as a :class:`TableStore`; a plain string is a lakehouse path."""
    return where if isinstance(where, TableStore) else TableStore(where)


class CatalogError(ConfigError):
    """The configured catalog or schema is not there; the message names the config key."""


def check_store(spark: SparkSession, store: TableStore) -> None:
    """Refuse a catalog-mode store this session cannot serve.

    That is a missing catalog or schema, or a pyspark/delta-spark pair whose overwrites fail
    (:func:`samplegen.compat.catalog_mode_gap`). Runs when a pipeline starts, before any
    stage, so a typo or a session without Unity Catalog stops at once rather than after the
    input is read. Path mode needs no check: Delta creates the folders.

    Raises:
        CatalogError: naming ``tables.catalog`` or ``tables.schema`` (or delta-spark) and
            what to do.
    """
    if not store.by_name:
        return
    gap = catalog_mode_gap(spark.version, installed("delta-spark"))
    if gap is not None:
        raise CatalogError(gap)
    namespace = _quoted(store.catalog, store.schema)
    if spark.catalog.databaseExists(namespace):
        return
    if store.catalog is not None:
        catalogs = {c.name for c in spark.catalog.listCatalogs()}
        if store.catalog not in catalogs:
            raise CatalogError(
                f"tables.catalog {store.catalog!r} is not a catalog of this Spark session "
                f"(it has: {', '.join(sorted(catalogs))}); on Databricks use a Unity Catalog "
                "enabled cluster or set tables.catalog to one of these, or unset tables.schema "
                "to keep the tables as paths under lakehouse"
            )
    raise CatalogError(
        f"tables.schema {store.schema!r} does not exist in "
        f"{store.catalog or spark.catalog.currentCatalog()!r}: create it first "
        f"(SQL: CREATE SCHEMA {namespace}) or set tables.schema to an existing schema"
    )


def table_path(lakehouse: str, table: Table) -> str:
    """Location of ``table`` under the lakehouse root (path mode)."""
    return f"{lakehouse.rstrip('/')}/{table.name}"


def table_ref(where: Where, table: Table) -> str:
    """Where ``table`` is, as manifests and reports record it: a path or a catalog name."""
    return as_store(where).ref(table)


_NOT_FOUND = ("PATH_NOT_FOUND", "DELTA_MISSING_DELTA_TABLE", "TABLE_OR_VIEW_NOT_FOUND")


def read_table(spark: SparkSession, where: Where, table: Table) -> DataFrame:
    """Read a Delta table; a missing table is an error that names the stage to run first."""
    store = as_store(where)
    ref = store.ref(table)
    try:
        df = spark.table(ref) if store.by_name else spark.read.format("delta").load(ref)
        df.schema  # noqa: B018 - Spark Connect resolves lazily: a missing table must fail here
        return df
    except Exception as err:  # AnalysisException has no stable subclass for "not a Delta table"
        if any(code in str(err) for code in _NOT_FOUND):
            raise FileNotFoundError(
                f"table {table.name!r} not found at {ref}; run the stage that writes it first"
            ) from err
        raise


def write_table(df: DataFrame, where: Where, table: Table, run_id: str | None = None) -> int:
    """Write ``df`` to ``table`` with its declared schema; return the number of rows written.

    Per-run tables replace only the rows of ``run_id`` (Delta ``replaceWhere``), so rerunning a
    run never duplicates and never touches other runs. Other tables are replaced whole. Both
    modes write with the same options: ``save`` to a path, ``saveAsTable`` to a name.
    """
    store = as_store(where)
    ordered = df.select([f.name for f in table.schema.fields])
    for field in table.schema.fields:
        if ordered.schema[field.name].dataType.simpleString() != field.dataType.simpleString():
            ordered = ordered.withColumn(field.name, ordered[field.name].cast(field.dataType))
    token = uuid.uuid4().hex  # finds this write's commit in the history (other jobs commit too)
    writer = ordered.write.format("delta").mode("overwrite").option("userMetadata", token)
    ref = store.ref(table)
    if table.per_run:
        if not run_id:
            raise ValueError(f"table {table.name!r} is keyed by run_id; pass the run_id")
        if "'" in run_id:
            raise ValueError(f"run_id may not contain quotes: {run_id!r}")
        # mergeSchema: a lakehouse written by an earlier version gains the newer columns.
        per_run = (
            writer.option("replaceWhere", f"run_id = '{run_id}'")
            .option("mergeSchema", "true")
            .partitionBy("run_id")
        )
        # Idempotent and confined to the run's partition: a conflict with another run's job
        # (e.g. both creating the table) is retried.
        retry_conflicts(lambda: _save(per_run, store, ref), f"{table.name}:{run_id}")
    else:
        try:
            _save(writer.option("overwriteSchema", "true"), store, ref)
        except Exception as err:
            if is_conflict(err):
                raise refuse_conflict(err, table.name, ref) from err
            raise
    return _rows_written(ordered.sparkSession, store, table, token, run_id)


def append_rows(df: DataFrame, where: Where, table: Table, metadata: str) -> None:
    """Append ``df`` to ``table`` as one commit tagged ``metadata`` (Delta ``userMetadata``).

    A blind append never conflicts with another job's append; a conflict while two jobs create
    the table is retried.
    """
    store = as_store(where)
    writer = df.write.format("delta").mode("append").option("userMetadata", metadata)
    ref = store.ref(table)
    retry_conflicts(lambda: _save(writer, store, ref), f"{table.name}:{metadata}")


def _save(writer: DataFrameWriter, store: TableStore, ref: str) -> None:
    """``save`` to a path, ``saveAsTable`` to a catalog name."""
    if store.by_name:
        writer.saveAsTable(ref)
    else:
        writer.save(ref)


def _rows_written(
    spark: SparkSession, store: TableStore, table: Table, token: str, run_id: str | None
) -> int:
    """Rows this write committed, from its commit in the Delta log (no scan of the data).

    The commit is the one whose ``userMetadata`` is ``token``: with other jobs writing the same
    table, the latest commit need not be ours.
    """
    local = (
        None if store.by_name else local_commit_metrics(store.ref(table), token, _HISTORY_SEARCH)
    )
    if local is not None:
        return int(local.get("numOutputRows", 0))
    history = table_history(spark, store, table, _HISTORY_SEARCH)
    mine = history.where(history.userMetadata == token).select("operationMetrics").first()
    if mine is not None:
        return int(mine["operationMetrics"].get("numOutputRows", 0))
    return table_row_count(spark, store, table, run_id)  # over _HISTORY_SEARCH commits since


def sql_ref(where: Where, table: Table) -> str:
    """``table`` as SQL names it: the catalog name, or ``delta.`<absolute path>```.

    Delta takes a path identifier only when it is absolute, so a relative lakehouse (the default
    ``./lakehouse``) is resolved first; URIs (``file:/``, ``dbfs:/``, ``s3a://``) are kept.
    """
    store = as_store(where)
    ref = store.ref(table)
    if store.by_name:
        return ref
    if scheme(ref) is None:
        ref = os.path.abspath(ref)
    return "delta.`{}`".format(ref.replace("`", "``"))


def table_history(
    spark: SparkSession, where: Where, table: Table, limit: int | None = None
) -> DataFrame:
    """The newest ``limit`` entries (all when None) of ``table``'s Delta history.

    Read with SQL, which every session speaks, rather than the ``DeltaTable`` API, which Spark
    Connect sessions only have where the server runs the Delta Connect plugin.
    """
    target = sql_ref(where, table)
    bound = "" if limit is None else f" LIMIT {int(limit)}"
    return spark.sql(f"DESCRIBE HISTORY {target}{bound}")


def table_row_count(
    spark: SparkSession, where: Where, table: Table, run_id: str | None = None
) -> int:
    """Rows currently in ``table`` (only ``run_id``'s rows for a per-run table)."""
    df = read_table(spark, where, table)
    if table.per_run and run_id is not None:
        df = df.where(df.run_id == run_id)
    return df.count()


def delta_version(spark: SparkSession, where: Where, table: Table) -> int:
    """Current Delta version of ``table`` (recorded in manifests for traceability)."""
    return int(table_history(spark, where, table, 1).first()["version"])
