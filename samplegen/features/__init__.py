"""Stage 1 (aggregate): raw events to clean events, indices, interaction rows and a profile."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from samplegen.config import Config
from samplegen.data import sources
from samplegen.data.files import absent_columns
from samplegen.data.validate import (
    check_catalogue,
    check_catalogue_overlap,
    check_columns,
    check_columns_kept,
    check_has_times,
    check_not_empty,
    items_not_in_catalogue,
    not_weighted_types,
    split_tagged,
    tag_events,
)
from samplegen.features.interactions import (
    build_item_index,
    build_user_index,
    interaction_rows,
    new_item_pairs,
    split_and_sum,
    training_view,
    user_item_lists,
    weighted_events,
)
from samplegen.features.profile import (
    data_profile,
    quarantine_reasons,
    split_figures,
    split_warning,
)
from samplegen.features.sequences import tie_counts, user_sequences
from samplegen.features.tabular import write_tabular_tables
from samplegen.locks import aggregate_lock
from samplegen.runinfo import LOG, StageResult, stage_timer
from samplegen.spark import SORTED_AGGREGATION, pinned, sql_settings
from samplegen.tables import (
    CATALOGUE,
    DATA_PROFILE,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    INTERACTIONS,
    ITEM_FEATURES,
    ITEM_INDEX,
    RAW_EVENTS,
    SAMPLES_CTR,
    SEQUENCES,
    TEST_NEW_ITEMS,
    TRAINING_VIEW,
    USER_FEATURES,
    USER_INDEX,
    VALID_NEW_ITEMS,
    TableStore,
    read_table,
    table_ref,
    table_store,
    write_table,
)


def run_aggregate(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Load the configured source and write every stage-1 table.

    Runs under :data:`~samplegen.spark.SORTED_AGGREGATION`; the session's own values come back
    afterwards.

    Raises:
        FileNotFoundError: nothing to read at a configured input path.
        ValueError: when the input is unusable (see :func:`ingest_events`) or no user survives
            the filters.
        LakehouseBusyError: another aggregate is loading into the same lakehouse; nothing is
            written (:func:`~samplegen.locks.aggregate_lock`).
    """
    result = StageResult(stage="aggregate", run_id=run_id)
    lake = table_store(cfg)
    agg = cfg.aggregate
    with (
        stage_timer(result),
        aggregate_lock(spark, lake, run_id),  # one load at a time assigns indices
        sql_settings(spark, SORTED_AGGREGATION),
    ):
        result.rows |= ingest_events(spark, cfg)

        # Not cached: each pass reads only the columns it needs (split cuts: times; heavy
        # users: ids), which costs less than building the cache of every column.
        clean = weighted_events(read_table(spark, lake, EVENTS_CLEAN), agg.event_weights)
        # No user can reach the threshold in a smaller load: no sampling pass then.
        heavy = agg.heavy_user_events if result.rows["events_clean"] >= agg.heavy_user_events else 0
        choice, events, cuts, pairs = split_and_sum(clean, agg, heavy)
        catalogue = read_table(spark, lake, CATALOGUE)
        old_users, old_items = _previous_indices(spark, lake) if agg.keep_indices else (None, None)
        items = build_item_index(pairs, catalogue, agg, old_items)
        result.rows["item_index"] = write_table(items, lake, ITEM_INDEX)
        items = read_table(spark, lake, ITEM_INDEX)
        lists = {s: user_item_lists(pairs, items, s, agg.max_weight) for s in INTERACTIONS}
        lists["train"] = lists["train"].cache()  # read for the user index and for the rows
        result.rows["user_index"] = write_table(
            build_user_index(lists["train"], agg, old_users), lake, USER_INDEX
        )
        users = read_table(spark, lake, USER_INDEX).where(F.col("n_items") >= agg.min_user_items)
        result.rows["active_users"] = users.count()
        if result.rows["active_users"] == 0:
            raise ValueError(
                "no user survives aggregate.min_user_items / aggregate.min_item_users; "
                "lower them or load more data"
            )
        for split, table in INTERACTIONS.items():
            rows = interaction_rows(lists[split], users)
            result.rows[table.name] = write_table(rows, lake, table)
        sequences = user_sequences(pairs, items, users)
        result.rows[SEQUENCES.name] = write_table(sequences, lake, SEQUENCES)
        ties = tie_counts(spark, lake)
        LOG.info(
            "stage=aggregate sequences: %d users have items whose first events share a "
            "timestamp (%d items), ordered by event type (aggregate.event_weights order), "
            "then item index",
            ties["sequence_users_with_ties"],
            ties["sequence_tied_items"],
        )
        result.rows |= ties
        for split, table in (("valid", VALID_NEW_ITEMS), ("test", TEST_NEW_ITEMS)):
            pairs_new = new_item_pairs(pairs, catalogue, users, split)
            result.rows[table.name] = write_table(pairs_new, lake, table)
        result.rows |= write_tabular_tables(
            pairs, events, users, items, catalogue, agg, lake, train_cut=cuts["train_until"]
        )
        events.unpersist()
        pairs.unpersist()
        lists["train"].unpersist()

        train = read_table(spark, lake, INTERACTIONS["train"])
        view = training_view(train, agg.max_items_per_user, agg.training_files)
        result.rows["training_view"] = write_table(view, lake, TRAINING_VIEW)

        samples = read_table(spark, lake, SAMPLES_CTR) if agg.samples_ctr else None
        quarantine = read_table(spark, lake, EVENTS_QUARANTINE)
        profile = data_profile(spark, train, items, result.rows, samples, quarantine)
        test = read_table(spark, lake, INTERACTIONS["test"])
        profile.figures |= split_figures(
            train, test, choice.split, choice.temporal_test_share, cuts.get("train_until")
        )
        warning = split_warning(profile.figures, agg.auto_min_test_share)
        if warning:
            LOG.warning("stage=aggregate %s", warning)
        result.rows["data_profile"] = write_table(profile.to_spark(spark), lake, DATA_PROFILE)
        result.metrics = {**profile.figures, **cuts, "split": choice.split}
        if choice.split == "leave_last":  # which event time ranked the held-out items
            result.metrics["leave_last_by"] = agg.leave_last_by
        result.outputs = {
            t.name: table_ref(lake, t)
            for t in (
                EVENTS_CLEAN,
                EVENTS_QUARANTINE,
                USER_INDEX,
                ITEM_INDEX,
                TRAINING_VIEW,
                USER_FEATURES,
                ITEM_FEATURES,
                SAMPLES_CTR,
                SEQUENCES,
            )
        } | {t.name: table_ref(lake, t) for t in INTERACTIONS.values()}
    return result


def _describe_source(cfg: Config) -> str:
    """The input as messages name it: the configured path, or the bundled dataset."""
    if cfg.data.source == "files":
        return f"data.events_path={cfg.data.events_path}"
    return f"data.source={cfg.data.source}"


def ingest_events(spark: SparkSession, cfg: Config) -> dict[str, int]:
    """Load and validate the events and catalogue; write the first four stage-1 tables.

    Writes ``raw_events``, ``catalogue``, ``events_clean`` and ``events_quarantine`` (every
    rejected row with its reason) and checks ``raw_events = events_clean + events_quarantine``.
    With ``aggregate.raw_events`` off, ``raw_events`` is written empty and the rows are
    validated as read, so each is written once; the input's row count then reconciles.
    Nothing is written when the input is unreadable, empty or its catalogue unusable, or (with
    ``aggregate.keep_indices``) lacks an optional column the previous load had values in (a
    renamed column: :func:`~samplegen.data.validate.check_columns_kept`).

    Returns:
        Rows written per table, plus ``events_item_not_in_catalogue`` (clean events whose item
        the catalogue lacks; they stay clean) when there is a catalogue, and
        ``events_type_not_weighted`` (events of types without a weight, quarantined; the types
        are logged) when there are any.

    Raises:
        FileNotFoundError: nothing to read at ``data.events_path`` or ``data.catalogue_path``.
        ValueError: a required column is missing or of a type that cannot be cast, an optional
            column of the previous load is missing, there are no events, the catalogue is empty
            (when configured), has blank or repeated ids or shares no item with the events, or
            no event has an event_time (naming ``data.columns.event_time``), or every event
            was quarantined.
        RuntimeError: the row reconciliation failed.
    """
    lake = table_store(cfg)
    source = _describe_source(cfg)
    raw = sources.load_events(spark, cfg.data)
    check_columns(raw, source=source)
    catalogue = sources.load_catalogue(spark, cfg.data)
    check_not_empty(raw, source)
    check_has_times(raw, source, cfg.data.columns.get("event_time", "event_time"))
    catalogue_source = cfg.data.catalogue_path or f"data.source={cfg.data.source}"
    n_items = check_catalogue(
        catalogue,
        catalogue_source,
        required=cfg.data.source == "files" and bool(cfg.data.catalogue_path),
    )
    if n_items:
        check_catalogue_overlap(raw, catalogue, catalogue_source)
    if cfg.aggregate.keep_indices:  # this load continues the previous one: same columns
        check_columns_kept(_previous_raw_events(spark, lake), absent_columns(raw), source)
    if cfg.aggregate.raw_events:
        rows = {"raw_events": write_table(raw, lake, RAW_EVENTS)}
        raw = read_table(spark, lake, RAW_EVENTS)
    else:  # a count of the input (a read, no write) reconciles instead of the table's rows
        write_table(raw.limit(0), lake, RAW_EVENTS)
        rows = {"raw_events": raw.count()}
        LOG.info(
            "stage=aggregate event=raw_events_not_kept input_rows=%d (aggregate.raw_events=false)",
            rows["raw_events"],
        )
    rows["catalogue"] = write_table(catalogue, lake, CATALOGUE)

    # Validated and deduplicated once: both writes read the kept rows.
    tagged = tag_events(raw, cfg.aggregate.event_weights).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        clean, quarantine = split_tagged(tagged)
        rows["events_clean"] = write_table(clean, lake, EVENTS_CLEAN)
        rows["events_quarantine"] = write_table(quarantine, lake, EVENTS_QUARANTINE)
    finally:
        tagged.unpersist()
    if rows["events_clean"] + rows["events_quarantine"] != rows["raw_events"]:
        raise RuntimeError(
            f"row reconciliation failed: raw_events != events_clean + events_quarantine ({rows})"
        )
    not_weighted = not_weighted_types(read_table(spark, lake, EVENTS_QUARANTINE))
    if not_weighted:
        rows["events_type_not_weighted"] = sum(not_weighted.values())
        LOG.warning(
            "stage=aggregate event=event_types_not_weighted %s: quarantined as "
            "event_type_not_weighted; give them a weight in aggregate.event_weights or map them "
            "with data.event_types",
            " ".join(f"{kind}={n}" for kind, n in not_weighted.items()),
        )
    if rows["events_clean"] == 0:
        reasons = quarantine_reasons(read_table(spark, lake, EVENTS_QUARANTINE))
        counts = ", ".join(
            f"{name.removeprefix('quarantined/')}: {n:.0f}" for name, n in sorted(reasons.items())
        )
        raise ValueError(
            f"every one of the {rows['raw_events']} events in {source} was quarantined "
            f"({counts}); see the events_quarantine table"
        )
    if n_items:
        rows["events_item_not_in_catalogue"] = items_not_in_catalogue(
            read_table(spark, lake, EVENTS_CLEAN), read_table(spark, lake, CATALOGUE)
        )
    return rows


def _previous_raw_events(spark: SparkSession, lake: TableStore) -> DataFrame | None:
    """The previous load's ``raw_events``, or None on a new lakehouse.

    A load with ``aggregate.raw_events`` off left the table empty; its clean and quarantined
    events then stand for it (together they are every row it read).
    """
    try:
        raw = read_table(spark, lake, RAW_EVENTS)
    except FileNotFoundError:
        return None
    if not raw.isEmpty():
        return raw
    columns = raw.columns
    clean = read_table(spark, lake, EVENTS_CLEAN).select(*columns)
    return clean.unionByName(read_table(spark, lake, EVENTS_QUARANTINE).select(*columns))


def _previous_indices(
    spark: SparkSession, lake: TableStore
) -> tuple[DataFrame | None, DataFrame | None]:
    """The ``user_index`` and ``item_index`` of an earlier load, or Nones on a new lakehouse.

    They are checkpointed because this load overwrites the same tables.
    """
    try:
        users = read_table(spark, lake, USER_INDEX)
        items = read_table(spark, lake, ITEM_INDEX)
    except FileNotFoundError:
        return None, None
    return pinned(users), pinned(items)
