"""The bad-input corpus: every case of bad input, with the outcome ingestion must give.

tests/integration/test_bad_input.py runs each case through the real ingestion path
(``samplegen.features.ingest_events``: the ``files`` loader, validation and the Delta tables
``raw_events``, ``catalogue``, ``events_clean``, ``events_quarantine``) or, for configuration
cases, through ``load_config``. There are four kinds of case:

* ``RowCase``: rows of an event log. Every row ends clean or in quarantine with a reason, and
  ``expect`` gives the count per outcome (``"clean"`` or a reason). The rows of all CSV row cases
  form one log (``CSV_LOG``) and those of all typed cases one Parquet log (``TYPED_LOG``); each
  row's ``session_id`` is its case's name, so outcomes are counted per case, and for every case
  its rows = clean + quarantined.
* ``FileCase``: an input that is wrong as a whole (a missing or empty file, a missing or
  mistyped column, a broken catalogue). It stops with an error whose message must match
  ``error`` (and which names the column, config key or path), and nothing is written (except
  where ``writes_tables`` says the error comes after the first tables).
* ``ConfigCase``: a config file that ``load_config`` must reject, naming the key.
* ``ArgumentCase``: a command line ``samplegen`` must refuse with exit code 2 and one line on
  stderr naming the argument, before any Spark session starts (hostile identifiers: they become
  folder names under the lakehouse and the reports, see ``samplegen.ids``).

Issue 26 added more kinds, each run by its own test: ``StateCase`` (damaged checkpoints,
model folders, manifests and Delta data files: tests/unit/test_damaged_state.py and
tests/integration/test_damaged_tables.py), ``DriftCase`` / ``DriftErrorCase`` (schema drift
between two loads with keep_indices: tests/integration/test_schema_drift.py),
``ReportTextCase`` (hostile catalogue text in the report: tests/e2e/test_report_hostile.py),
and ``ConcurrencyCase`` (jobs racing on one lakehouse: tests/integration/test_locks.py and the
drill, bench/concurrency_drill.py and tests/e2e/test_concurrency.py).

Each case says ``why`` its outcome is the right one; where the outcome is a decision (not an
obvious rule) the ``why`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The CSV log has these columns (every value a string, as CSV gives them): ``session_id`` carries
# the case name; ``channel`` is a column the schema does not know, and ``store_id`` is absent.
# Every row of the log is also a case of these two, which hold for the whole log:
LOG_SHAPE_CASES = {
    "extra_column": "A column the schema does not know (channel) is dropped; its rows are kept.",
    "missing_optional_column": "An optional column the log lacks (store_id) is null in every "
    "row; the rows are kept. (A missing required column is an error: see FILE_CASES.)",
}
CSV_LOG_COLUMNS = (
    "user_id",
    "item_id",
    "event_type",
    "event_time",
    "session_id",
    "quantity",
    "price",
    "channel",
)
# The typed (Parquet) log: numeric user ids, unix seconds, doubles; (name, arrow type) pairs.
TYPED_LOG_COLUMNS = (
    ("user_id", "int64"),
    ("item_id", "string"),
    ("event_type", "string"),
    ("event_time", "int64"),
    ("session_id", "string"),
    ("quantity", "double"),
    ("price", "double"),
    ("store_id", "string"),
)
T = "2024-03-01 10:00:00"  # a valid event time (CSV)
T_UNIX = 1_709_287_200  # the same in unix seconds (typed log)


@dataclass(frozen=True)
class RowCase:
    """Rows of one event log and how many end clean or under each quarantine reason.

    ``rows`` hold ``(user_id, item_id, event_type, event_time, quantity, price)``; ``None`` is an
    absent value (an empty CSV field, a Parquet null).
    """

    name: str
    why: str
    rows: tuple[tuple[Any, ...], ...]
    expect: dict[str, int]
    in_catalogue: bool = True  # False: the catalogue of the log lacks these rows' items


@dataclass(frozen=True)
class FileCase:
    """A whole input that must stop ingestion with an error matching ``error``.

    ``events`` and ``catalogue`` are ``(format, content)``: CSV text, or for ``parquet`` a dict
    ``column -> (arrow type, values)``; ``"missing"`` is a path with nothing at it, and
    ``("parquet", None)`` an empty folder. ``data`` holds further ``data.*`` settings.
    """

    name: str
    why: str
    events: tuple[str, Any]
    error: str
    exception: type[Exception] = ValueError
    catalogue: tuple[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    writes_tables: bool = False  # the error comes after the first four tables are written


@dataclass(frozen=True)
class ConfigCase:
    """A YAML config file that ``load_config`` must reject with a ``ConfigError``."""

    name: str
    why: str
    yaml: str
    error: str


@dataclass(frozen=True)
class ArgumentCase:
    """Arguments after ``samplegen`` (``--conf`` is added) that must exit 2 with one line."""

    name: str
    why: str
    argv: tuple[str, ...]
    error: str


def _row(user="u1", item="i1", event_type="purchase", time=T, quantity="1", price="2.50"):
    return (user, item, event_type, time, quantity, price)


def _typed(user=1, item="i1", event_type="purchase", time=T_UNIX, quantity=1.0, price=2.5):
    return (user, item, event_type, time, quantity, price)


CSV_CASES = (
    RowCase(
        "valid_rows",
        "Control: well-formed rows of every event type pass untouched.",
        tuple(_row(f"u{n}", f"i{n}", kind) for n, kind in enumerate(["view", "click", "cart"])),
        {"clean": 3},
    ),
    RowCase(
        "null_or_empty_user_id",
        "An event without a user cannot be attributed: an empty field (null), an empty quoted "
        "string and an id of only white space (spaces, a no-break space) are all missing.",
        (_row(user=None), _row(user=""), _row(user="   "), _row(user="\u00a0")),
        {"null_or_empty_user_id": 4},
    ),
    RowCase(
        "null_or_empty_item_id",
        "An event without an item says nothing about what the user did (a tab is white space).",
        (_row(item=None), _row(item=""), _row(item="\t")),
        {"null_or_empty_item_id": 3},
    ),
    RowCase(
        "missing_value_spelled_as_id",
        "Decision: ids that spell a missing value (NULL, None, nan, N/A, any case, trimmed) are "
        "missing ids. Kept, every broken row of an export would become one giant fake user or "
        "item and skew the indices and the model.",
        (_row(user="NULL"), _row(user="None"), _row(item="nan"), _row(item=" N/A ")),
        {"null_or_empty_user_id": 2, "null_or_empty_item_id": 2},
    ),
    RowCase(
        "unknown_event_type",
        "Decision (issue 26 split this reason): an event without a type (empty field, empty or "
        "blank text) is unknown_event_type; a type that is present but has no weight is "
        "event_type_not_weighted (see the next case).",
        (_row(event_type=None), _row(event_type=""), _row(event_type="  ")),
        {"unknown_event_type": 3},
    ),
    RowCase(
        "event_type_not_weighted",
        "Only the types of aggregate.event_weights have a weight. Types are compared exactly, so "
        "'VIEW' has none either (map your spellings with data.event_types); a new type the log "
        "started sending (wishlist) is quarantined under its own reason, counted and logged, "
        "so it is noticed rather than lost among broken rows.",
        (_row(event_type="refund"), _row(event_type="VIEW"), _row(event_type="wishlist")),
        {"event_type_not_weighted": 3},
    ),
    RowCase(
        "unparseable_timestamp",
        "A time that does not parse (text, an impossible date, an empty field) becomes null and "
        "is quarantined rather than guessed.",
        (_row(time="not a time"), _row(time="2024-13-45 10:00:00"), _row(time=None)),
        {"null_event_time": 3},
    ),
    RowCase(
        "future_timestamp",
        "Events more than a day after now (clock skew allowed) cannot have happened yet.",
        (_row(time="2999-01-01 00:00:00"), _row(time="2100-06-30 12:00:00")),
        {"event_time_out_of_range": 2},
    ),
    RowCase(
        "epoch_zero_and_too_old_timestamp",
        "1970-01-01 is a zero written by a broken clock or a default, not a shopping trip; "
        "anything before 1990-01-01 is out of range. 1990-01-01 itself is in range.",
        (
            _row(time="1970-01-01 00:00:00"),
            _row(time="1989-12-31 23:59:59"),
            _row(time="1990-01-01 00:00:00"),
        ),
        {"event_time_out_of_range": 2, "clean": 1},
    ),
    RowCase(
        "negative_quantity",
        "A negative quantity is a return or a correction, not an interaction.",
        (_row(quantity="-1"), _row(quantity="-0.5")),
        {"negative_quantity": 2},
    ),
    RowCase(
        "zero_quantity",
        "Zero items bought (e.g. a fully voided line) is no interaction.",
        (_row(quantity="0"), _row(quantity="0.0")),
        {"zero_quantity": 2},
    ),
    RowCase(
        "nan_quantity",
        "NaN, or text that is not a number, is a broken quantity: quarantined, never silently "
        "dropped to 'unknown'. An empty quantity is unknown and passes.",
        (_row(quantity="NaN"), _row(quantity="lots"), _row(quantity=None)),
        {"nan_quantity": 2, "clean": 1},
    ),
    RowCase(
        "infinite_quantity",
        "Decision: an infinite quantity ('Infinity' parses as a double) is as broken as NaN.",
        (_row(quantity="Infinity"), _row(quantity="-Infinity")),
        {"infinite_quantity": 2},
    ),
    RowCase(
        "negative_price",
        "Decision: a negative price is a refund or a data error; it would turn the price "
        "features (mean, min) negative, so the row is quarantined.",
        (_row(price="-2.50"),),
        {"negative_price": 1},
    ),
    RowCase(
        "zero_price",
        "Decision: a zero price is a free item or a promotion, a real interaction: kept.",
        (_row(user="u-free", price="0"), _row(user="u-free", price="0.00", time="2024-03-02")),
        {"clean": 2},
    ),
    RowCase(
        "nan_price",
        "Decision: NaN, infinite or unparseable prices are quarantined, as quantities are (a "
        "NaN would poison every mean_price it enters). An empty price is unknown and passes.",
        (_row(price="NaN"), _row(price="free"), _row(price="Infinity"), _row(price=None)),
        {"nan_price": 2, "infinite_price": 1, "clean": 1},
    ),
    RowCase(
        "exact_duplicates",
        "Rows equal in every column are one event delivered several times: the first copy is "
        "clean, the others are quarantined as duplicate (so none is lost).",
        (_row(user="u-dup"),) * 3,
        {"clean": 1, "duplicate": 2},
    ),
    RowCase(
        "near_duplicates",
        "Decision: rows equal in every column but event_time, less than 1 s after the copy "
        "before them, are a retry that re-stamped the event (sub-second gaps are not human "
        "actions): quarantined as near_duplicate. Exactly 1 s later is a new event.",
        (
            _row(user="u-near", time="2024-03-01 10:00:00"),
            _row(user="u-near", time="2024-03-01 10:00:00.400"),
            _row(user="u-near", time="2024-03-01 10:00:00.999"),
            _row(user="u-near", time="2024-03-01 10:00:01.999"),
        ),
        {"clean": 2, "near_duplicate": 2},
    ),
    RowCase(
        "repeats_that_are_not_duplicates",
        "Decision: the same user, item and type a minute apart, or in the same instant with a "
        "different quantity or price, are separate events: kept.",
        (
            _row(user="u-rep", time="2024-03-01 10:00:00"),
            _row(user="u-rep", time="2024-03-01 10:01:00"),
            _row(user="u-rep", time="2024-03-01 10:00:00", quantity="2"),
            _row(user="u-rep", time="2024-03-01 10:00:00", price="2.60"),
        ),
        {"clean": 4},
    ),
    RowCase(
        "ids_differing_in_case_or_whitespace",
        "Decision: ids are opaque keys and are never normalised (SKUs can be case-sensitive), "
        "so 'u-case', 'U-CASE' and ' u-case' are three users, each kept as written.",
        (_row(user="u-case"), _row(user="U-CASE"), _row(user=" u-case")),
        {"clean": 3},
    ),
    RowCase(
        "unicode_ids",
        "Unicode ids are valid and kept exactly as written (CSV and Delta round-trip them). "
        "NFC 'café' and NFD 'café' are different strings, so different ids (not normalised). "
        "An id with a quote and a comma round-trips too: data.csv_options reads RFC 4180 CSV "
        "(\"\" in a quoted value); Spark's default escape (a backslash) shifted that row's "
        "columns, so the default now sets escape to a double quote.",
        (
            _row(user="ユーザー42", item="商品-7"),
            _row(user="caf\u00e9"),  # NFC
            _row(user="cafe\u0301"),  # NFD
            _row(user="مستخدم", item="🛒-1"),
            _row(user='quote"and,comma'),
        ),
        {"clean": 5},
    ),
    RowCase(
        "very_long_ids",
        "Decision: ids longer than 256 characters are quarantined (user_id_too_long / "
        "item_id_too_long): no real key is that long and such a value is nearly always a "
        "parsing error, e.g. a CSV quote left open swallowing the next fields. 256 passes.",
        (_row(user="u" * 256), _row(user="u" * 257), _row(item="i" * 10_000)),
        {"clean": 1, "user_id_too_long": 1, "item_id_too_long": 1},
    ),
    RowCase(
        "items_absent_from_the_catalogue",
        "Decision: events of items the catalogue lacks stay clean (catalogues lag behind sales: "
        "new, discontinued or seasonal items; the bundled Complete Journey catalogue lacks the "
        "items of 4,836 purchase lines, 32 of them valid). Quarantining them would drop real "
        "purchases; instead they are counted in the stage's events_item_not_in_catalogue and "
        "get null category, department, brand and title. (A catalogue sharing no item with the "
        "events is an error: see FILE_CASES.)",
        (_row(item="discontinued-1"), _row(item="discontinued-2", user="u2")),
        {"clean": 2},
        in_catalogue=False,
    ),
    RowCase(
        "first_broken_rule_wins",
        "A row breaking several rules carries the first in rule order (ids, type, time, "
        "quantity, price), so its reason is stable.",
        (_row(user="", event_type="refund", time="garbage", quantity="-1"),),
        {"null_or_empty_user_id": 1},
    ),
)

TYPED_CASES = (
    RowCase(
        "numeric_ids_and_unix_seconds",
        "Numeric ids are read as strings ('42') and integer times as unix seconds.",
        (_typed(user=42), _typed(user=43, time=T_UNIX + 60)),
        {"clean": 2},
    ),
    RowCase(
        "null_numeric_user_id",
        "A null in a numeric id column is a missing user.",
        (_typed(user=None),),
        {"null_or_empty_user_id": 1},
    ),
    RowCase(
        "epoch_zero_unix_time",
        "Unix time 0 (1970-01-01) is a default, not an event time.",
        (_typed(time=0),),
        {"event_time_out_of_range": 1},
    ),
    RowCase(
        "unix_milliseconds_read_as_seconds",
        "Milliseconds in a column of unix seconds land in the year 56,000: out of range, so the "
        "unit error is visible instead of silently shifting every event.",
        (_typed(time=T_UNIX * 1000),),
        {"event_time_out_of_range": 1},
    ),
    RowCase(
        "null_unix_time",
        "A null time cannot be placed in the temporal split.",
        (_typed(time=None),),
        {"null_event_time": 1},
    ),
    RowCase(
        "nan_and_infinite_doubles",
        "Real NaN and infinite doubles are quarantined as the parsed ones are; null quantity and "
        "price mean unknown and pass.",
        (
            _typed(quantity=float("nan")),
            _typed(quantity=float("inf")),
            _typed(price=float("nan")),
            _typed(price=float("-inf")),
            _typed(user=7, quantity=None, price=None),
        ),
        {
            "nan_quantity": 1,
            "infinite_quantity": 1,
            "nan_price": 1,
            "infinite_price": 1,
            "clean": 1,
        },
    ),
    RowCase(
        "negative_and_zero_doubles",
        "The quantity and price rules hold for typed columns too.",
        (_typed(quantity=-3.0), _typed(quantity=0.0), _typed(price=-0.01), _typed(price=0.0)),
        {"negative_quantity": 1, "zero_quantity": 1, "negative_price": 1, "clean": 1},
    ),
)

_HEADER = "user_id,item_id,event_type,event_time\n"
_GOOD = f"u1,i1,purchase,{T}\n"

FILE_CASES = (
    FileCase(
        "missing_events_path",
        "A path with nothing at it stops the run, naming the config key and the path.",
        ("csv", "missing"),
        r"data\.events_path: no csv data at .*missing",
        FileNotFoundError,
    ),
    FileCase(
        "empty_parquet_folder",
        "A folder without data files is nothing to read (Spark cannot even infer a schema).",
        ("parquet", None),
        r"data\.events_path: no parquet data at",
        FileNotFoundError,
    ),
    FileCase(
        "zero_byte_file",
        "An empty file has no header and no rows: stop, saying so.",
        ("csv", ""),
        r"events at .*: the input has no columns and no rows \(an empty file\?\)",
    ),
    FileCase(
        "header_only_file",
        "Decision: an input without events stops the run (nothing written) rather than replace "
        "the stage-1 tables with empty ones: for a scheduled job an empty input is an upstream "
        "failure (an export that did not land), and the error names the input.",
        ("csv", _HEADER),
        r"no events in data\.events_path=.*header_only_file.*the input is empty",
    ),
    FileCase(
        "missing_required_column",
        "Without event_time there is no split: stop, naming the column and its config key.",
        ("csv", "user_id,item_id,event_type\nu1,i1,purchase\n"),
        r"required column 'event_time' not found.*data\.columns\.event_time.*"
        r"columns present: user_id, item_id, event_type",
    ),
    FileCase(
        "mapped_column_missing",
        "A column named in data.columns that the file lacks is an error naming the key.",
        ("csv", "customer_id,item_id,event_type,event_time\n" + _GOOD),
        r"required column 'user_id' not found \(looked for 'customer'; map it with "
        r"data\.columns\.user_id\)",
        data={"columns": {"user_id": "customer"}},
    ),
    FileCase(
        "mapping_of_unknown_column",
        "A data.columns key that is not an event column (a typo) is an error listing them.",
        ("csv", _HEADER + _GOOD),
        r"data\.columns maps unknown column\(s\) usr_id; events at .* columns are: user_id",
        data={"columns": {"usr_id": "user_id"}},
    ),
    FileCase(
        "wrong_type_boolean_quantity",
        "A boolean is no quantity: stop, naming the column, its key and its type.",
        (
            "parquet",
            {
                "user_id": ("string", ["u1"]),
                "item_id": ("string", ["i1"]),
                "event_type": ("string", ["purchase"]),
                "event_time": ("int64", [T_UNIX]),
                "quantity": ("bool", [True]),
            },
        ),
        r"column 'quantity' \(your column 'quantity', mapped by data\.columns\.quantity\) has "
        r"type boolean, which cannot be read as a number",
    ),
    FileCase(
        "wrong_type_list_user_id",
        "A list is no id: stop, naming the column and its type.",
        (
            "parquet",
            {
                "user_id": ("list<string>", [["u1"]]),
                "item_id": ("string", ["i1"]),
                "event_type": ("string", ["purchase"]),
                "event_time": ("int64", [T_UNIX]),
            },
        ),
        r"column 'user_id' .* has type array<string>, which cannot be read as a string",
    ),
    FileCase(
        "wrong_type_boolean_event_time",
        "A boolean is no time.",
        (
            "parquet",
            {
                "user_id": ("string", ["u1"]),
                "item_id": ("string", ["i1"]),
                "event_type": ("string", ["purchase"]),
                "event_time": ("bool", [False]),
            },
        ),
        r"column 'event_time' .* has type boolean, which cannot be read as a timestamp",
    ),
    FileCase(
        "missing_catalogue",
        "A configured catalogue path with nothing at it stops the run, naming the key "
        "(data.catalogue_path=null runs without a catalogue).",
        ("csv", _HEADER + _GOOD),
        r"data\.catalogue_path: no csv data at .*missing",
        FileNotFoundError,
        catalogue=("csv", "missing"),
    ),
    FileCase(
        "empty_catalogue",
        "Decision: a configured catalogue that is empty is a broken export, not 'no catalogue'.",
        ("csv", _HEADER + _GOOD),
        r"catalogue at .* is empty; .*data\.catalogue_path=null",
        catalogue=("csv", "item_id,category\n"),
    ),
    FileCase(
        "catalogue_without_item_id",
        "The catalogue's key column is required.",
        ("csv", _HEADER + _GOOD),
        r"required column 'item_id' not found .*data\.catalogue_columns\.item_id",
        catalogue=("csv", "sku,category\ni1,Dairy\n"),
    ),
    FileCase(
        "catalogue_with_repeated_ids",
        "Decision: a repeated catalogue id would give one item two rows in item_index, so it "
        "stops the run, with examples.",
        ("csv", _HEADER + _GOOD),
        r"catalogue at .* has 1 repeated item_id row\(s\) .*e\.g\. 'i1'",
        catalogue=("csv", "item_id,category\ni1,Dairy\ni1,Bakery\ni2,Dairy\n"),
    ),
    FileCase(
        "catalogue_with_blank_ids",
        "A catalogue row without an id describes no item.",
        ("csv", _HEADER + _GOOD),
        r"catalogue at .* has 1 row\(s\) with a null or empty item_id",
        catalogue=("csv", "item_id,category\ni1,Dairy\n,Bakery\n"),
    ),
    FileCase(
        "catalogue_of_other_ids",
        "Decision: a catalogue sharing no item with the events (other id format, wrong column "
        "mapped) is a mapping error, not a lagging catalogue: stop, showing ids of both.",
        ("csv", _HEADER + _GOOD),
        r"no event's item_id is in the catalogue at .*"
        r"\(events have 'i1'; the catalogue has 'SKU-1'\)",
        catalogue=("csv", "item_id,category\nSKU-1,Dairy\n"),
    ),
    FileCase(
        "no_timestamps",
        "A log whose time column is empty (or never parses) has no split and no time order for "
        "the sequences: stop before writing anything, naming the column and "
        "data.columns.event_time, rather than quarantine every row as null_event_time.",
        ("csv", "user_id,item_id,event_type,stamp\nu1,i1,purchase,\nu2,i2,view,never\n"),
        r"no event in data\.events_path=.* has an event_time: column 'stamp' is empty or "
        r"never parses.*data\.columns\.event_time",
        data={"columns": {"event_time": "stamp"}},
    ),
    FileCase(
        "every_event_quarantined",
        "An input where no event is clean stops with the count per reason (after writing "
        "events_quarantine, so the rows can be inspected) instead of failing later in the split.",
        ("csv", _HEADER + "u1,i1,refund,2024-03-01\nu2,i2,refund,2024-03-01\n,i3,view,x\n"),
        r"every one of the 3 events in data\.events_path=.* was quarantined "
        r"\(event_type_not_weighted: 2, null_or_empty_user_id: 1\)",
        writes_tables=True,
    ),
)

CONFIG_CASES = (
    ConfigCase(
        "unknown_key",
        "A typo never falls back to a default: the key and the file are named.",
        "data:\n  source: files\n  events_path: x\n  evnts_format: csv\n",
        r"bad\.yaml: unknown config key\(s\) data\.evnts_format",
    ),
    ConfigCase(
        "unknown_section",
        "An unknown section is an unknown key too.",
        "agregate:\n  top_n_items: 10\n",
        r"unknown config key\(s\) agregate",
    ),
    ConfigCase(
        "unknown_choice",
        "Values from a fixed set list the allowed ones.",
        "data:\n  source: files\n  events_path: x\n  events_format: json\n",
        r"data\.events_format must be one of delta, parquet, csv, got 'json'",
    ),
    ConfigCase(
        "files_without_events_path",
        "data.source=files needs the log's path.",
        "data:\n  source: files\n",
        r"data\.events_path must be set when data\.source is files",
    ),
    ConfigCase(
        "wrong_type",
        "A value of the wrong type is named with the key.",
        "train:\n  epochs: ten\n",
        r"train\.epochs must be an integer, got 'ten'",
    ),
    ConfigCase(
        "impossible_fraction",
        "A split share of 70% leaves no training data.",
        "aggregate:\n  valid_fraction: 0.7\n",
        r"aggregate\.valid_fraction has an impossible value: 0\.7",
    ),
    ConfigCase(
        "zero_max_users",
        "Decision (new check): data.max_users must be positive (null keeps all users); 0 would "
        "load nothing.",
        "data:\n  max_users: 0\n",
        r"data\.max_users has an impossible value: 0",
    ),
    ConfigCase(
        "negative_event_weight",
        "Decision (new check): an event weight must be positive; a type you do not want belongs "
        "out of aggregate.event_weights (its events are then quarantined as "
        "event_type_not_weighted).",
        "aggregate:\n  event_weights: {view: -1.0, purchase: 5.0}\n",
        r"aggregate\.event_weights\.view must be a positive weight, got -1\.0",
    ),
    ConfigCase(
        "no_event_weights",
        "Decision (new check): without any event weight every event would be quarantined.",
        "aggregate:\n  event_weights: {}\n",
        r"aggregate\.event_weights has an impossible value: \{\}",
    ),
    ConfigCase(
        "non_positive_max_weight",
        "Decision (new check): a weight cap of 0 would zero every interaction.",
        "aggregate:\n  max_weight: 0\n",
        r"aggregate\.max_weight has an impossible value: 0\.0",
    ),
)

# Hostile identifiers in the config: they name earlier runs' rows and MLflow experiments.
CONFIG_CASES += (
    ConfigCase(
        "augment_run_outside_the_lakehouse",
        "generate.augment_runs are run ids: one pattern for every identifier, so a path cannot "
        "pass for a run.",
        'generate:\n  augment_runs: ["../../elsewhere/run"]\n',
        r"generate\.augment_runs '\.\./\.\./elsewhere/run' is not a valid identifier",
    ),
    ConfigCase(
        "other_run_with_a_quote",
        "evaluate.other_runs are run ids too; a quote would break the SQL and HTML they reach.",
        'evaluate:\n  other_runs: ["a\'b"]\n',
        r"evaluate\.other_runs \"a'b\" is not a valid identifier",
    ),
    ConfigCase(
        "experiment_climbing_the_workspace",
        "Decision: an MLflow experiment may be a Databricks workspace path (/Users/you@x/name), "
        "but never with '..' in it.",
        "train:\n  mlflow_experiment: /Users/../Shared/x\n",
        r"train\.mlflow_experiment '/Users/\.\./Shared/x' is not a valid experiment name",
    ),
    ConfigCase(
        "experiment_with_a_line_break",
        "A line break in a name forges log lines and MLflow tags; the message shows it escaped.",
        'train:\n  mlflow_experiment: "exp\\nevent=done"\n',
        r"train\.mlflow_experiment 'exp\\nevent=done' is not a valid experiment name",
    ),
    ConfigCase(
        "secret_of_the_wrong_type_is_not_echoed",
        "Decision: a credential of the wrong type (a number) is refused naming the key, but its "
        "value is shown as *** so the error line does not leak it.",
        "spark:\n  conf: {spark.hadoop.fs.s3a.secret.key: 12345678}\n",
        r"spark\.conf\.spark\.hadoop\.fs\.s3a\.secret\.key must be a string, got \*\*\*$",
    ),
)

_RULE = r"is not a valid identifier: use 1 to 128 characters"
ARGUMENT_CASES = (
    ArgumentCase(
        "run_id_climbing_out",
        "A run id becomes <models_root>/<model>/<run_id>; '../' would write outside the lakehouse.",
        ("generate", "--run-id", "../../../tmp/evil"),
        r"--run-id '\.\./\.\./\.\./tmp/evil' " + _RULE,
    ),
    ArgumentCase(
        "run_id_dot_dot",
        "'..' alone is the parent folder: the run's report folder would be the reports' parent.",
        ("train", "--run-id", ".."),
        r"--run-id '\.\.' " + _RULE,
    ),
    ArgumentCase(
        "run_id_with_dot_dot_inside",
        "Decision: no '..' anywhere, not only as a whole segment, so no later join can climb.",
        ("train", "--run-id", "a..b"),
        r"--run-id 'a\.\.b' " + _RULE,
    ),
    ArgumentCase(
        "run_id_absolute",
        "An absolute path would replace the root in a path join.",
        ("aggregate", "--run-id", "/tmp/evil"),
        r"--run-id '/tmp/evil' " + _RULE,
    ),
    ArgumentCase(
        "run_id_with_a_slash",
        "A run id is one folder name; a slash would nest runs and escape listing by `runs`.",
        ("train", "--run-id", "nightly/1"),
        r"--run-id 'nightly/1' " + _RULE,
    ),
    ArgumentCase(
        "run_id_windows_traversal",
        "Backslashes are separators on Windows and in some URIs.",
        ("train", "--run-id", "..\\..\\evil"),
        r"--run-id '\.\.\\\\\.\.\\\\evil' " + _RULE,
    ),
    ArgumentCase(
        "run_id_with_a_quote",
        "A quote in a run id used to fail only after Spark started (exit 1); it reaches Delta "
        "filters and HTML, so it is refused at once with exit 2.",
        ("evaluate", "--run-id", "a'b"),
        r"--run-id \"a'b\" " + _RULE,
    ),
    ArgumentCase(
        "run_id_empty",
        "Decision: an empty --run-id is a mistake (an unset variable in a scheduler), not a "
        "request for a new id; leave the option out for that.",
        ("run", "--run-id", ""),
        r"--run-id '' " + _RULE,
    ),
    ArgumentCase(
        "run_id_too_long",
        "200 characters exceed file-name limits of some stores (255 bytes with suffixes).",
        ("run", "--run-id", "r" * 200),
        r"--run-id 'r{40,}\.\.\. " + _RULE,
    ),
    ArgumentCase(
        "run_id_right_to_left_override",
        "U+202E reverses what a person reads ('run\u202egnp.exe' shows as 'runexe.png'); the "
        "message shows it escaped.",
        ("run", "--run-id", "run\u202egnp.exe"),
        r"--run-id 'run\\u202egnp\.exe' " + _RULE,
    ),
    ArgumentCase(
        "run_id_homoglyph",
        "Decision: only ASCII letters; a Cyrillic 'а' makes an id that looks like another run's.",
        ("run", "--run-id", "nightly-\u0430"),
        r"--run-id 'nightly-\u0430' " + _RULE,
    ),
    ArgumentCase(
        "run_id_with_a_line_break",
        "A line break would forge log lines ('run_id=x event=done') for schedulers reading logs.",
        ("run", "--run-id", "x\nevent=done"),
        r"--run-id 'x\\nevent=done' " + _RULE,
    ),
    ArgumentCase(
        "run_id_with_a_nul",
        "A NUL byte truncates paths in C libraries (the JVM, Hadoop's native code).",
        ("run", "--run-id", "a\x00b"),
        r"--run-id 'a\\x00b' " + _RULE,
    ),
    ArgumentCase(
        "run_id_with_shell_text",
        "Run ids are pasted into shells and job parameters: $( ) and ; are refused.",
        ("run", "--run-id", "$(rm -rf ~);x"),
        r"--run-id '\$\(rm -rf ~\);x' " + _RULE,
    ),
    ArgumentCase(
        "run_id_with_a_space",
        "A space splits the id in log lines (key=value) and in shell commands.",
        ("run", "--run-id", "nightly run"),
        r"--run-id 'nightly run' " + _RULE,
    ),
    ArgumentCase(
        "run_id_starting_with_a_dash",
        "An id starting with '-' reads as an option to the next command it is passed to.",
        ("run", "--run-id=-rf"),
        r"--run-id '-rf' " + _RULE,
    ),
    ArgumentCase(
        "run_id_hidden_folder",
        "Decision: a leading dot makes a hidden folder that `ls` and some stores skip.",
        ("run", "--run-id", ".hidden"),
        r"--run-id '\.hidden' " + _RULE,
    ),
    ArgumentCase(
        "run_id_percent_encoded_traversal",
        "URL-encoded separators become real ones once a URI store decodes them.",
        ("run", "--run-id", "..%2f..%2fetc"),
        r"--run-id '\.\.%2f\.\.%2fetc' " + _RULE,
    ),
    ArgumentCase(
        "run_id_glob",
        "A '*' matches every run's folder when the id reaches a glob (`runs` lists with one).",
        ("run", "--run-id", "*"),
        r"--run-id '\*' " + _RULE,
    ),
    ArgumentCase(
        "compared_run_climbing_out",
        "compare's run ids are identifiers too.",
        ("compare", "run-a", "../run-b"),
        r"run_b '\.\./run-b' " + _RULE,
    ),
)


# --- Damaged state (issue 26): files samplegen wrote earlier and reads back ----------------------


@dataclass(frozen=True)
class StateCase:
    """State on disk damaged after it was written; reading it must raise ``DamagedStateError``.

    ``damage`` names how the runner damages a sound copy (tests/unit/test_damaged_state.py and,
    for ``delta_*`` cases, tests/integration/test_damaged_tables.py); ``error`` must match the
    message, which names the file and the command (or action) that repairs it.
    """

    name: str
    why: str
    damage: str
    error: str


_REMOVE_CHECKPOINTS = r"to repair: delete the folder .*checkpoints \(`rm -r '.*checkpoints'`"
_RETRAIN = r"to repair: retrain the run with `samplegen train --run-id r1 --force`"
_MANIFEST_FORCE = r"to repair: rerun the stage with `--run-id r1 --force`"

STATE_CASES = (
    StateCase(
        "checkpoint_truncated",
        "A kill or a full disk while a checkpoint was copied leaves half a file; resuming from "
        "it must stop, naming the file, instead of failing deep in torch's zip reader.",
        "truncate:checkpoint.pt",
        r"checkpoint\.pt cannot be read as a checkpoint .*" + _REMOVE_CHECKPOINTS,
    ),
    StateCase(
        "checkpoint_empty",
        "A zero-byte checkpoint (a file created, never written) is damaged too.",
        "empty:checkpoint.pt",
        r"checkpoint\.pt cannot be read as a checkpoint .*" + _REMOVE_CHECKPOINTS,
    ),
    StateCase(
        "checkpoint_weights_changed",
        "Decision: a checkpoint that still loads but whose weights changed after it was written "
        "(a flipped bit, a hand edit) fails its sha256 and is refused, never trained from.",
        "edit:checkpoint.pt",
        r"checkpoint\.pt does not match its sha256 checksum .*" + _REMOVE_CHECKPOINTS,
    ),
    StateCase(
        "checkpoint_without_checksum",
        "Decision: a checkpoint without a checksum (hand-made, or from before checksums) cannot "
        "be verified, so it is refused like a damaged one; the message says why.",
        "strip_checksum:checkpoint.pt",
        r"checkpoint\.pt has no checksum .*" + _REMOVE_CHECKPOINTS,
    ),
    StateCase(
        "best_checkpoint_truncated",
        "The best epoch's weights (best.pt) become the final model: a truncated best.pt stops "
        "the resume too.",
        "truncate:best.pt",
        r"best\.pt cannot be read as a checkpoint .*" + _REMOVE_CHECKPOINTS,
    ),
    StateCase(
        "model_weights_missing",
        "A model folder with its config but without model.pt (a partial copy) names the missing "
        "file and the retraining command (`train` alone would skip a run recorded as done).",
        "delete:model.pt",
        r"model\.pt is missing: the model folder is incomplete; " + _RETRAIN,
    ),
    StateCase(
        "model_config_missing",
        "Weights without config.json cannot be rebuilt (the config names the generator).",
        "delete:config.json",
        r"config\.json is missing: the model folder is incomplete; " + _RETRAIN,
    ),
    StateCase(
        "model_config_not_json",
        "A hand-edited config.json that is no longer JSON names the file, not a JSON offset.",
        "garble:config.json",
        r"config\.json cannot be read \(JSONDecodeError: .*\); " + _RETRAIN,
    ),
    StateCase(
        "model_weights_truncated",
        "Truncated weights name model.pt and the retraining command.",
        "truncate:model.pt",
        r"model\.pt cannot be read \(.*\); " + _RETRAIN,
    ),
    StateCase(
        "manifest_not_json",
        "A hand-edited manifest that is not JSON stops the run naming it; --force sets it aside "
        "(kept as manifest.json.damaged-<time>) and the stage writes a new one.",
        "garble:manifest.json",
        r"manifest\.json is not JSON \(.*\); " + _MANIFEST_FORCE,
    ),
    StateCase(
        "manifest_empty",
        "A zero-byte manifest (a full disk) is not JSON either.",
        "empty:manifest.json",
        r"manifest\.json is not JSON \(Expecting value.*\); " + _MANIFEST_FORCE,
    ),
    StateCase(
        "manifest_json_list",
        "Valid JSON that is not an object (e.g. a list) is no manifest.",
        "list:manifest.json",
        r"manifest\.json holds a JSON list, not a manifest object; " + _MANIFEST_FORCE,
    ),
    StateCase(
        "delta_stage1_data_file_lost",
        "A data file of a stage-1 table deleted outside Delta (or by an aggressive VACUUM) makes "
        "every read fail deep in Spark; the error names the file, the table and "
        "`samplegen aggregate --force`, which rewrites the table without reading the lost file.",
        "delta_delete:events_clean",
        r"/events_clean/part-[^ ]+\.parquet is gone but the Delta table 'events_clean' lists it; "
        r"to repair: rebuild the stage-1 tables from the input: `samplegen aggregate --force`.*"
        r"VACUUM",
    ),
    StateCase(
        "delta_index_data_file_lost",
        "Decision: user_index keeps indices across loads, so rebuilding it from the input would "
        "renumber users under trained models; the advice is RESTORE of an intact version, or a "
        "deliberate renumbering (keep_indices=false) and retraining.",
        "delta_delete:user_index",
        r"/user_index/part-[^ ]+\.parquet is gone .*RESTORE TABLE delta\.`.*/user_index` "
        r"TO VERSION AS OF <n>.*aggregate\.keep_indices=false",
    ),
    StateCase(
        "delta_run_rows_file_lost",
        "A lost file of a per-run table names the run from its partition and the stage that "
        "rewrites only that run's rows.",
        "delta_delete:synthetic_interactions",
        r"/synthetic_interactions/run_id=r1/part-[^ ]+\.parquet is gone .*"
        r"`samplegen generate --run-id r1 --force`",
    ),
    StateCase(
        "history_truncated",
        "history.json (the per-epoch records beside model.pt) cut short by a kill or a full "
        "disk: a resumed training appends to it, so it must stop naming the file and the "
        "retraining command, before it trains, not fail in json after the last epoch.",
        "truncate:history.json",
        r"history\.json is not JSON \(JSONDecodeError: .*\); " + _RETRAIN,
    ),
    StateCase(
        "history_empty",
        "A zero-byte history.json (created, never written) is not JSON either.",
        "empty:history.json",
        r"history\.json is not JSON \(JSONDecodeError: Expecting value.*\); " + _RETRAIN,
    ),
    StateCase(
        "history_not_records",
        "Decision: valid JSON that is not a list of per-epoch records (hand-edited) is refused "
        "too; appending the new epochs to it would lose it or fail later.",
        "list:history.json",
        r"history\.json is not a list of per-epoch records; " + _RETRAIN,
    ),
)


# --- Schema drift between two loads (issue 26), through run_aggregate with keep_indices ---------

#: How the second load's file differs from the first's, as a whole (every drift row case below
#: is in that one file, tagged by its session_id): the first load is Parquet with an int64
#: user_id, double quantity and price and a timestamp event_time.
SECOND_LOAD_CHANGES = {
    "channel": "a new string column the schema does not know",
    "user_id": "double instead of int64 (pandas turns an int column with a null into floats)",
    "quantity": "string instead of double",
    "event_time": "string instead of timestamp",
    "price": "renamed to unit_price (mapped with data.columns.price=unit_price)",
}


@dataclass(frozen=True)
class DriftCase:
    """Rows of the second load (its types: float user, string quantity and time) and outcomes.

    ``rows`` hold ``(user_id, item_id, event_type, event_time, quantity, unit_price)``; the
    runner is tests/integration/test_schema_drift.py.
    """

    name: str
    why: str
    rows: tuple[tuple[Any, ...], ...]
    expect: dict[str, int]


@dataclass(frozen=True)
class DriftErrorCase:
    """A second load whose columns were renamed (``rename``: theirs before -> after) unmapped."""

    name: str
    why: str
    rename: dict[str, str]
    error: str


_T2 = "2024-04-02 10:00:00"  # after the first load, as a string (the second load's type)

DRIFT_CASES = (
    DriftCase(
        "new_column_ignored",
        "A column the log started to send (channel) is not in the schema: dropped, its rows "
        "kept, and a log line names it (so a column meant to be mapped is noticed).",
        ((3.0, "i1", "view", _T2, "1", 2.5), (4.0, "i2", "click", _T2, "1", 2.5)),
        {"clean": 2},
    ),
    DriftCase(
        "user_id_int_to_double",
        "Decision: a float id holding a whole number is read without its fraction (3.0 -> '3'), "
        "so users of the first load keep their index; before, '3.0' became a new user. A null "
        "id (the reason pandas made the column float) is still quarantined.",
        ((3.0, "i3", "purchase", _T2, "1", 2.5), (None, "i3", "purchase", _T2, "1", 2.5)),
        {"clean": 1, "null_or_empty_user_id": 1},
    ),
    DriftCase(
        "quantity_double_to_string",
        "A quantity column that became text is cast; a value that is not a number is "
        "quarantined as nan_quantity, never silently made 'unknown'.",
        ((5.0, "i4", "cart", _T2, "2", 2.5), (5.0, "i5", "cart", _T2, "n/a", 2.5)),
        {"clean": 1, "nan_quantity": 1},
    ),
    DriftCase(
        "event_time_timestamp_to_string",
        "An event time that became text is parsed; text that is no time is quarantined as "
        "null_event_time.",
        ((6.0, "i6", "view", _T2, "1", 2.5), (6.0, "i7", "view", "yesterday", "1", 2.5)),
        {"clean": 1, "null_event_time": 1},
    ),
    DriftCase(
        "new_event_type",
        "A type the log started to send (wishlist) has no weight: quarantined as "
        "event_type_not_weighted, counted in the stage's events_type_not_weighted and logged "
        "with its count.",
        ((7.0, "i8", "wishlist", _T2, "1", 2.5), (8.0, "i8", "wishlist", _T2, "1", 2.5)),
        {"event_type_not_weighted": 2},
    ),
    DriftCase(
        "renamed_column_mapped",
        "Control: the renamed price column (unit_price), mapped with data.columns.price, lands "
        "in price.",
        ((9.0, "i9", "purchase", _T2, "1", 7.25),),
        {"clean": 1},
    ),
)

DRIFT_ERROR_CASES = (
    DriftErrorCase(
        "optional_column_renamed",
        "Decision (new check): an optional column the previous load had values in (price) that "
        "is missing now was most likely renamed; loading it as null would silently drop the "
        "price features, so the load stops (nothing written) naming data.columns.price.",
        {"price": "unit_price"},
        r"column\(s\) price of the previous load are missing from data\.events_path=.*; the "
        r"previous raw_events had price \(\d+ values\)\. If a column was renamed, map it with "
        r"data\.columns\.price",
    ),
    DriftErrorCase(
        "required_column_renamed",
        "A renamed required column stops the load, naming the key that maps it (this held "
        "before issue 26; the case keeps it).",
        {"user_id": "customer_id", "price": "unit_price"},
        r"required column 'user_id' not found \(looked for 'user_id'; map it with "
        r"data\.columns\.user_id\); columns present: customer_id",
    ),
)


# --- Jobs racing on one lakehouse (issue 26) ---------------------------------------------------


@dataclass(frozen=True)
class ConcurrencyCase:
    """Jobs writing one lakehouse at once, and what must happen.

    ``claims`` (lock cases, tests/integration/test_locks.py) are the rows already in the
    aggregate lock table when a load starts: ``(run_id, host, pid)`` with ``"here"`` for this
    host and ``"live"`` / ``"dead"`` for a running / finished process id; ``outcome`` is
    ``"proceeds"`` or the refusal's message. Cases without claims are run by the drill
    (bench/concurrency_drill.py, tests/e2e/test_concurrency.py).
    """

    name: str
    why: str
    outcome: str
    claims: tuple[tuple[str, str, str], ...] = ()


_BUSY = (
    r"another aggregate is loading into .*: run 'other-load' \(host .*, pid \d+, since .*\) "
    r"holds the aggregate lock.*rerun `samplegen aggregate --run-id r1`.*"
    r"DELETE FROM delta\.`.*/_aggregate_lock` WHERE token = '[0-9a-f]{32}'"
)

CONCURRENCY_CASES = (
    ConcurrencyCase(
        "lock_held_by_running_load",
        "Two loads must not interleave index assignment (both would number the same new ids "
        "from the same previous index): a load that finds a live claim stops before writing, "
        "naming the other load and both ways out (wait and rerun, or release a dead lock).",
        _BUSY,
        (("other-load", "here", "live"),),
    ),
    ConcurrencyCase(
        "lock_held_on_another_host",
        "Decision: a claim from another host cannot be checked for liveness, so it holds until "
        "released; the message gives the DELETE that releases it if that load died.",
        _BUSY,
        (("other-load", "elsewhere.example", "live"),),
    ),
    ConcurrencyCase(
        "lock_of_dead_process",
        "A load killed on this host (its pid no longer runs) leaves its claim; it is skipped "
        "with a warning, so a kill does not block every later load.",
        "proceeds",
        (("killed-load", "here", "dead"),),
    ),
    ConcurrencyCase(
        "two_loads_race",
        "Two `samplegen aggregate` processes started together: they take turns or one is "
        "refused with exit 75 (EX_TEMPFAIL, for a scheduler's retry) naming the other; never "
        "both refused, and the indices hold every id once with dense indices.",
        "one load, or both in turn",
    ),
    ConcurrencyCase(
        "two_runs_generate_and_evaluate",
        "Two run ids generating and evaluating at once write their own run_id partitions "
        "(replaceWhere), and both may create a table at once (MetadataChanged / "
        "ProtocolChanged): conflicts are retried with backoff, so both runs finish and each "
        "run's rows are in synthetic_interactions, augmented_train and eval_metrics exactly "
        "as many times as its manifest says it wrote.",
        "both finish, rows once",
    ),
    ConcurrencyCase(
        "row_count_of_a_shared_table",
        "Decision: a write's row count comes from its own commit (found by a token in the "
        "commit's userMetadata), not the table's latest commit, which may be the other run's.",
        "each manifest counts its own rows",
    ),
)


# --- Hostile catalogue text in the HTML report (issue 26) ----------------------------------------


@dataclass(frozen=True)
class ReportTextCase:
    """A category name that reaches the report (slice ``category:<text>``, explain tables).

    In headless Chromium (tests/e2e/test_report_hostile.py) no script may run and no element
    may be injected, the page may not grow wider than the window, and ``shown`` (the text as a
    reader sees it) must be in the page's text.
    """

    name: str
    why: str
    text: str
    shown: str


_PWN = "window.top.__pwned=1"
REPORT_TEXT_CASES = (
    ReportTextCase(
        "html_markup",
        "Markup in a name is text: the reader sees the tags, the page gets no bold element.",
        "<b>Dairy</b> & <i>eggs</i>",
        "<b>Dairy</b> & <i>eggs</i>",
    ),
    ReportTextCase(
        "script_tag",
        "A script element in a name must never run (the report is opened from shared storage).",
        f"<script>{_PWN}</script>",
        f"<script>{_PWN}</script>",
    ),
    ReportTextCase(
        "event_handler",
        "An image with an onerror handler is the classic way past a filter that only drops "
        "<script>; escaped, it is text.",
        f'<img src=x onerror="{_PWN}">',
        f'<img src=x onerror="{_PWN}">',
    ),
    ReportTextCase(
        "attribute_breakout",
        "A quote and '>' would close an attribute (alt, title) and open an element if a value "
        "ever reached one unescaped.",
        f'"><svg onload="{_PWN}">',
        f'"><svg onload="{_PWN}">',
    ),
    ReportTextCase(
        "entities_stay_literal",
        "Text that already looks escaped is shown as written, not decoded into markup.",
        "&lt;b&gt; &amp; &#60;",
        "&lt;b&gt; &amp; &#60;",
    ),
    ReportTextCase(
        "tex_math",
        "Prices in names ('$5 & $10') or TeX would be read as math by matplotlib (or fail to "
        "parse and lose the plot); labels escape '$', the page shows the text as written.",
        r"Deals $5 & $10 \frac{1}{0} $x^$",
        r"Deals $5 & $10 \frac{1}{0} $x^$",
    ),
    ReportTextCase(
        "very_long_name",
        "Decision: a 6,000-character name stays whole in the tables (wrapped, so the page keeps "
        "the window's width) and is cut to 40 characters with an ellipsis in plot labels, "
        "where it used to squeeze the axes to nothing and clip every label.",
        "Long" * 1500,
        "Long" * 1500,
    ),
    ReportTextCase(
        "right_to_left_letters",
        "Arabic and Hebrew names are text like any other and are shown as written.",
        "منتجات الألبان חלב",
        "منتجات الألبان חלב",
    ),
    ReportTextCase(
        "bidi_override",
        "Decision: an invisible right-to-left override (U+202E) would reverse the rest of a "
        "verdict line, numbers included, so the page shows it as [U+202E] instead.",
        "Dairy\u202e 0.5- :diff",
        "Dairy[U+202E] 0.5- :diff",
    ),
)
