"""The title model of synthetic catalogue items, checked by hand on a few titles."""

import numpy as np
import pandas as pd

from samplegen.generate.titles import MAX_WORDS, TitleModel

ITEMS = pd.DataFrame(
    {
        "category": ["juice", "juice", "juice", "bread", "milk", None],
        "title": ["red apple juice", "green apple pie", "red grape juice", "white loaf", None, "x"],
    }
)


def pairs_of(title):
    words = ["<s>", *title.split(), "</s>"]
    return set(zip(words[:-1], words[1:], strict=True))


def test_titles_use_only_their_category_words_and_word_pairs():
    model = TitleModel.fit(ITEMS)
    real_pairs = set().union(*(pairs_of(t) for t in ITEMS["title"][:3]))
    drawn = {model.sample("juice", np.random.default_rng(seed)) for seed in range(200)}
    for title in drawn:
        assert pairs_of(title) <= real_pairs
        assert 1 <= len(title.split()) <= MAX_WORDS
    assert "red apple pie" in drawn  # a new combination of real word pairs
    assert {"red apple juice", "green apple pie", "red grape juice"} <= drawn
    assert {model.sample("bread", np.random.default_rng(s)) for s in range(20)} == {"white loaf"}


def test_categories_without_titles_get_none_and_copies_are_recognised():
    model = TitleModel.fit(ITEMS)
    assert model.sample("milk", np.random.default_rng(0)) is None
    assert model.sample("unknown", np.random.default_rng(0)) is None
    assert model.copies("juice", "red apple juice") and not model.copies("juice", "red apple pie")
    assert not model.copies("bread", "red apple juice") and not model.copies("juice", None)


def test_the_same_stream_gives_the_same_title():
    model = TitleModel.fit(ITEMS)
    first = [model.sample("juice", np.random.default_rng([7, 12, n])) for n in range(30)]
    again = [model.sample("juice", np.random.default_rng([7, 12, n])) for n in range(30)]
    assert first == again and len(set(first)) > 1
