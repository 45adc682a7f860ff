"""Your own event log and catalogue (``data.source: files``) in Delta, Parquet or CSV.

Columns are found by name: ``data.columns`` maps our event column name to yours (and
``data.catalogue_columns`` does the same for the catalogue); an unmapped column is looked up under
our name. Every column is then cast to the RAW_EVENTS / CATALOGUE schema:

* ``event_time``: a timestamp passes; a date or timestamp without time zone is cast; a string is
  parsed with ``try_to_timestamp`` (an unparseable value becomes null and is quarantined as
  ``null_event_time``); a number is taken as unix seconds.
* ``quantity``: numbers are cast to double; a string that does not parse becomes NaN, so the row is
  quarantined as ``nan_quantity`` rather than silently losing its quantity (a blank string becomes
  null, which validation accepts as "quantity unknown").
* ``price``: as ``quantity``: a string that does not parse becomes NaN, quarantined as
  ``nan_price`` (a blank string becomes null: "price unknown").
* id and text columns: strings pass, numbers, booleans and dates are cast to strings; a float
  holding a whole number is written without a fraction (``42.0`` -> ``"42"``), so an integer id
  column that an exporter turned into floats (pandas does, once a column has a null) keeps its
  ids, and the indices of earlier loads, instead of becoming new ids.

A path with nothing readable at it (``data.events_path`` / ``data.catalogue_path``) stops with a
``FileNotFoundError`` naming the key and the path, an empty file (no header, no rows) with a
``ValueError``. A missing required column (``user_id``, ``item_id``, ``event_type``,
``event_time``; ``item_id`` in the catalogue) or a column whose type cannot be cast (struct,
array, map, binary, ...) stops with a ``ValueError`` naming the column, its config key and the
columns present. Missing optional columns are null (and marked, :func:`absent_columns`, so a load
can check that the previous load did not have them: a renamed column). Columns of your files
that the schema does not know are dropped, with a log line naming them. ``data.event_types``
rewrites your event type values to ours; unmapped values pass through unchanged, so validation
quarantines those without a weight as ``event_type_not_weighted``.

Everything here is lazy Spark: nothing is collected to the driver.
"""

from __future__ import annotations

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from samplegen.compat import error_condition
from samplegen.config import DataConfig
from samplegen.runinfo import LOG
from samplegen.tables import CATALOGUE, RAW_EVENTS_SCHEMA

REQUIRED_EVENT_COLUMNS = ("user_id", "item_id", "event_type", "event_time")
REQUIRED_CATALOGUE_COLUMNS = ("item_id",)
_STRINGABLE = (T.StringType, T.NumericType, T.BooleanType, T.DateType, T.TimestampType)
#: Field metadata key marking a column the input did not have (filled with nulls).
ABSENT = "samplegen_absent_from_input"
#: Floats up to this magnitude hold whole numbers exactly (2**53).
_EXACT_FLOAT = float(2**53)


#: Spark's error classes for "there is nothing to read at this path".
_NOTHING_THERE = ("PATH_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA", "DELTA_TABLE_NOT_FOUND")


def _read(spark: SparkSession, path: str, fmt: str, data_cfg: DataConfig, key: str) -> DataFrame:
    reader = spark.read.format(fmt)
    if fmt == "csv":
        # Every CSV column stays a string: parsing is done below, one rule per column.
        reader = reader.options(**data_cfg.csv_options).option("inferSchema", "false")
    try:
        return reader.load(path)
    except AnalysisException as err:
        condition = error_condition(err)
        if condition in _NOTHING_THERE:
            raise FileNotFoundError(
                f"{key}: no {fmt} data at {path} ({condition}); check the path and "
                f"{key.replace('_path', '_format')}"
            ) from err
        raise


def _type_error(name: str, key: str, their: str, dtype: T.DataType, wanted: str) -> ValueError:
    return ValueError(
        f"column {name!r} (your column {their!r}, mapped by {key}) has type "
        f"{dtype.simpleString()}, which cannot be read as {wanted}"
    )


def _cast(df: DataFrame, name: str, their: str, key: str, target: T.DataType) -> Column:
    """``df[their]`` as ``target``, by the rules of the module docstring."""
    col = df[their]
    dtype = df.schema[their].dataType
    if isinstance(target, T.StringType):
        if isinstance(dtype, T.StringType):
            return col
        if isinstance(dtype, T.FloatType | T.DoubleType):
            whole = ~F.isnan(col) & (col == F.floor(col)) & (F.abs(col) < _EXACT_FLOAT)
            return F.when(whole, col.cast("long").cast("string")).otherwise(col.cast("string"))
        if isinstance(dtype, _STRINGABLE):
            return col.cast("string")
        raise _type_error(name, key, their, dtype, "a string")
    if isinstance(target, T.TimestampType):
        if isinstance(dtype, T.TimestampType):
            return col
        if isinstance(dtype, T.TimestampNTZType | T.DateType):
            return col.cast("timestamp")
        if isinstance(dtype, T.StringType):
            return F.try_to_timestamp(col)
        if isinstance(dtype, T.NumericType):
            return F.timestamp_seconds(col)
        raise _type_error(name, key, their, dtype, "a timestamp")
    if isinstance(target, T.DoubleType):
        if isinstance(dtype, T.NumericType):
            return col.cast("double")
        if isinstance(dtype, T.StringType):
            # SQL try_cast runs on Spark 3.5 and 4 (Column.try_cast is Spark 4 only).
            quoted = their.replace("`", "``")
            parsed = F.expr(f"try_cast(`{quoted}` AS DOUBLE)")
            if name in ("quantity", "price"):
                unparseable = parsed.isNull() & col.isNotNull() & (F.trim(col) != "")
                return F.when(unparseable, F.lit(float("nan"))).otherwise(parsed)
            return parsed
        raise _type_error(name, key, their, dtype, "a number")
    raise ValueError(f"no casting rule for {target.simpleString()} ({name})")  # pragma: no cover


def _conform(
    df: DataFrame,
    schema: T.StructType,
    mapping: dict[str, str],
    required: tuple[str, ...],
    key: str,
    what: str,
) -> DataFrame:
    """Select, rename and cast ``df``'s columns to ``schema``; extra columns are dropped."""
    known = [f.name for f in schema.fields]
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise ValueError(
            f"{key} maps unknown column(s) {', '.join(unknown)}; "
            f"{what} columns are: {', '.join(known)}"
        )
    if not df.columns:
        raise ValueError(f"{what}: the input has no columns and no rows (an empty file?)")
    present = ", ".join(df.columns)
    used = {mapping.get(f.name, f.name) for f in schema.fields}
    ignored = [c for c in df.columns if c not in used]
    if ignored:
        LOG.info(
            "event=columns_ignored input=%s columns=%s (not in the schema; map one with %s.<ours>)",
            what,
            ",".join(ignored),
            key,
        )
    columns = []
    for field in schema.fields:
        their = mapping.get(field.name, field.name)
        field_key = f"{key}.{field.name}"
        if their not in df.columns:
            if field.name in required or field.name in mapping:
                kind = "required column" if field.name in required else "column"
                raise ValueError(
                    f"{what}: {kind} {field.name!r} not found (looked for {their!r}; "
                    f"map it with {field_key}); columns present: {present}"
                )
            absent = F.lit(None).cast(field.dataType)
            columns.append(absent.alias(field.name, metadata={ABSENT: True}))
            continue
        columns.append(_cast(df, field.name, their, field_key, field.dataType).alias(field.name))
    return df.select(*columns)


def absent_columns(df: DataFrame) -> list[str]:
    """Columns of ``df`` (from :func:`load_events`) that the input did not have."""
    return [f.name for f in df.schema.fields if f.metadata.get(ABSENT)]


def load_events(spark: SparkSession, data_cfg: DataConfig) -> DataFrame:
    """Your event log as raw events (RAW_EVENTS schema), ``data.max_users`` applied.

    Raises:
        FileNotFoundError: there is nothing to read at ``data.events_path``.
        ValueError: the file is empty, a required column is missing or a column has a type that
            cannot be cast.
    """
    if not data_cfg.events_path:
        raise ValueError("data.events_path must be set when data.source is files")
    df = _read(spark, data_cfg.events_path, data_cfg.events_format, data_cfg, "data.events_path")
    events = _conform(
        df,
        RAW_EVENTS_SCHEMA,
        data_cfg.columns,
        REQUIRED_EVENT_COLUMNS,
        "data.columns",
        f"events at {data_cfg.events_path}",
    )
    if data_cfg.event_types:
        pairs = [F.lit(v) for item in data_cfg.event_types.items() for v in item]
        events = events.withColumn(
            "event_type", F.coalesce(F.create_map(*pairs)[F.col("event_type")], "event_type")
        )
    if data_cfg.max_users is not None:
        # The first N users in (string) id order; rows without a user belong to none of them.
        keep = (
            events.select("user_id")
            .where(F.col("user_id").isNotNull())
            .distinct()
            .orderBy("user_id")
            .limit(data_cfg.max_users)
        )
        events = events.join(keep, on="user_id", how="left_semi").select(
            *RAW_EVENTS_SCHEMA.fieldNames()
        )
    return events


def load_catalogue(spark: SparkSession, data_cfg: DataConfig) -> DataFrame:
    """Your catalogue (CATALOGUE schema); empty when ``data.catalogue_path`` is null.

    Raises:
        FileNotFoundError: there is nothing to read at ``data.catalogue_path``.
        ValueError: ``item_id`` is missing or a column has a type that cannot be cast.
    """
    if not data_cfg.catalogue_path:
        return spark.createDataFrame([], CATALOGUE.schema)
    df = _read(
        spark, data_cfg.catalogue_path, data_cfg.catalogue_format, data_cfg, "data.catalogue_path"
    )
    return _conform(
        df,
        CATALOGUE.schema,
        data_cfg.catalogue_columns,
        REQUIRED_CATALOGUE_COLUMNS,
        "data.catalogue_columns",
        f"catalogue at {data_cfg.catalogue_path}",
    )
