from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from samplegen.data import movielens, sources

GENRES = {
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
}  # fmt: skip


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return movielens.read_ratings()


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return movielens.events_frame()


def test_ratings_have_the_published_counts(ratings):
    assert len(ratings) == 100_000
    assert ratings["user_id"].nunique() == 943
    assert ratings["item_id"].nunique() == 1682
    assert set(ratings["rating"].unique()) == {1, 2, 3, 4, 5}
    assert not ratings.duplicated(["user_id", "item_id"]).any()


def test_events_follow_the_input_contract(ratings, events):
    assert list(events.columns) == [f.name for f in movielens.RAW_EVENTS.schema.fields]
    assert len(events) == len(ratings)
    assert events["user_id"].map(type).eq(str).all()
    assert events["item_id"].map(type).eq(str).all()
    expected = np.where(ratings["rating"] >= 4, "purchase", "view")
    assert (events["event_type"].to_numpy() == expected).all()
    assert (events["event_type"] == "purchase").sum() == 55_375
    assert (events["quantity"] == 1.0).all()
    assert events["price"].isna().all()
    assert events["session_id"].isna().all() and events["store_id"].isna().all()


def test_event_time_is_the_unix_time_in_utc(ratings, events):
    assert events["event_time"].dtype == "datetime64[us]"
    # First line of ml-100k: user 196, item 242, 881250949 = 1997-12-04 15:55:49 UTC.
    assert events.loc[0, ["user_id", "item_id"]].tolist() == ["196", "242"]
    assert events.loc[0, "event_time"] == pd.Timestamp("1997-12-04 15:55:49")
    seconds = events["event_time"].to_numpy().astype("datetime64[s]").astype("int64")
    assert (seconds == ratings["timestamp"].to_numpy()).all()
    assert events["event_time"].min() >= pd.Timestamp("1997-09-01")
    assert events["event_time"].max() < pd.Timestamp("1998-05-01")


def test_max_users_keeps_the_lowest_numeric_ids():
    small = movielens.events_frame(max_users=10)
    assert sorted(small["user_id"].unique(), key=int) == [str(i) for i in range(1, 11)]


def test_catalogue_takes_title_and_first_genre():
    catalogue = movielens.catalogue_frame()
    assert list(catalogue.columns) == [f.name for f in movielens.CATALOGUE.schema.fields]
    assert len(catalogue) == 1682 and catalogue["item_id"].is_unique
    toy_story = catalogue.set_index("item_id").loc["1"]
    assert toy_story["title"] == "Toy Story"
    assert toy_story["category"] == "Animation"  # Animation Children's Comedy
    assert set(catalogue["category"]) <= GENRES
    assert (catalogue["department"] == "movie").all()
    assert catalogue["brand"].isna().all()
    genres = movielens.read_items()["genres"]
    assert genres.map(len).min() >= 1
    assert set(genres.explode()) == GENRES


def test_failed_download_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLEGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as if offline: pip finds no distribution
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(RuntimeError, match="pip download recbole==1.2.1 --no-deps"):
        movielens.wheel_path()
    assert list((tmp_path / "cache").iterdir()) == []


def test_unknown_source_is_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match=r"data\.source.*completejourney, movielens100k"):
        sources.load_events(None, SimpleNamespace(source="nope", max_users=None))
