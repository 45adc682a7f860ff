"""A Delta table whose data file is gone (the corpus's ``delta_*`` STATE_CASES), in real Spark.

Each case writes a tiny table with ``write_table``, deletes one of its data files behind Delta's
back and reads the table inside ``explained_missing_files`` (as ``run_stages`` and the CLI do):
the error must name the file, its table and the command that rewrites it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from samplegen.damage import explained_missing_files
from samplegen.state import DamagedStateError
from samplegen.tables import TABLES, read_table, write_table
from tests.corpus.bad_input import STATE_CASES, StateCase

pytestmark = pytest.mark.spark

DELTA_CASES = [c for c in STATE_CASES if c.damage.startswith("delta_")]


def _tiny(spark, table, n: int = 40):
    """``n`` rows of ``table``'s schema (zeros, empty arrays, ``run_id`` r1 where it has one)."""
    columns = []
    for field in table.schema.fields:
        if field.name == "run_id":
            value = F.lit("r1")
        elif field.dataType.simpleString() == "string":
            value = F.concat(F.lit("x"), F.col("id").cast("string"))
        elif field.dataType.simpleString().startswith("array"):
            value = F.array()
        else:
            value = F.col("id")
        columns.append(value.cast(field.dataType).alias(field.name))
    return spark.range(n).repartition(2).select(*columns)


@pytest.mark.parametrize("case", DELTA_CASES, ids=lambda c: c.name)
def test_a_lost_delta_data_file_names_the_file_and_the_repair(spark, tmp_path, case: StateCase):
    table = TABLES[case.damage.split(":")[1]]
    lake = str(tmp_path / "lakehouse")
    write_table(_tiny(spark, table), lake, table, run_id="r1" if table.per_run else None)
    files = sorted(Path(lake, table.name).rglob("*.parquet"))
    assert len(files) >= 2, "the case needs a table of several files"
    files[0].unlink()
    with pytest.raises(DamagedStateError, match=case.error) as caught, explained_missing_files():
        read_table(spark, lake, table).collect()  # (a count reads only the Delta log)
    assert Path(caught.value.path).name == files[0].name
    assert "\n" not in str(caught.value)


def test_other_errors_pass_through(spark, tmp_path):
    gone = pytest.raises(FileNotFoundError, match="run the stage that writes it first")
    with gone, explained_missing_files():
        read_table(spark, str(tmp_path / "nothing"), TABLES["events_clean"])
