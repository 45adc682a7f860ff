from pathlib import Path

import pytest

from samplegen.config import ConfigError, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[2]


def test_local_yaml_loads_with_typed_values():
    cfg = load_config(REPO / "conf" / "local.yaml")
    assert cfg.spark.master == "local[*]"
    assert cfg.train.hidden_dims == [600, 200]
    assert isinstance(cfg.aggregate.max_weight, float)


def test_overrides_are_typed_and_nested():
    cfg = load_config(
        REPO / "conf" / "local.yaml",
        ["train.epochs=2", "train.hidden_dims=[8, 4]", "data.max_users=10", "train.use_gpu=true"],
    )
    assert cfg.train.epochs == 2
    assert cfg.train.hidden_dims == [8, 4]
    assert cfg.data.max_users == 10
    assert cfg.train.use_gpu is True


def test_unknown_key_in_file_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epocs: 3\n")
    with pytest.raises(ConfigError, match=r"train\.epocs") as err:
        load_config(path)
    assert "bad.yaml" in str(err.value)


def test_unknown_section_is_an_error():
    with pytest.raises(ConfigError, match="trian"):
        load_config(None, ["trian.epochs=3"])


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["train.epochs=three"], "train.epochs"),
        (["train.epochs=0"], "train.epochs"),
        (["train.loader=csv"], "train.loader"),
        (["train.registered_model=main.ml.samplegen"], "train.registered_model"),
        (["aggregate.test_fraction=0.7"], "aggregate.test_fraction"),
        (["aggregate.leave_last_by=latest"], "aggregate.leave_last_by"),
        (["aggregate.heavy_user_events=10"], "aggregate.heavy_user_events"),
        (["aggregate.heavy_user_events=-1"], "aggregate.heavy_user_events"),
        (["train.use_gpu=1"], "train.use_gpu"),
        (["train.num_processes=4", "aggregate.training_files=2"], "aggregate.training_files"),
        (["generate.privacy_max_jaccard=0"], "generate.privacy_max_jaccard"),
        (["generate.mask_keep=1"], "generate.mask_keep"),
        (["generate.new_item_users_scale=0"], "generate.new_item_users_scale"),
        (["generate.ctr_fill=mean"], "generate.ctr_fill"),
        (["generate.strategy=oversample"], "generate.privacy_filter=false"),
        (["generate.strategy=reorder"], "generate.privacy_filter=false"),
        (
            ["aggregate.samples_ctr=false", "generate.strategy=label_balance"],
            "aggregate.samples_ctr=false",
        ),
        (
            ["aggregate.samples_ctr=false", "train.model=tabular"],
            "train.tabular.table=samples_ctr",
        ),
        (["evaluate.k=0"], "evaluate.k"),
        (["train.max_steps_per_epoch=0"], "train.max_steps_per_epoch"),
        (["evaluate.max_users=0"], "evaluate.max_users"),
        (["evaluate.ks=[0, 10]"], "evaluate.ks"),
        (["evaluate.recommenders=[ease, lightgcn]"], "lightgcn"),
        (["evaluate.dose_recommender=svd"], "svd"),
        (["evaluate.dose_recommender=sasrec"], "sasrec"),  # next-item only, no dense matrix
        (["evaluate.sasrec_patience=-1"], "evaluate.sasrec_patience"),
        (["evaluate.sequence_history=both"], "evaluate.sequence_history"),
        (["evaluate.scoring=cluster"], "evaluate.scoring"),
        (["evaluate.scoring=spark"], "evaluate.scoring=spark"),  # multvae is listed by default
        (["evaluate.scoring=spark", "evaluate.recommenders=[ease, sasrec]"], "sasrec"),
        (["evaluate.dose_ratios=[0.5, 1.5]"], "evaluate.dose_ratios"),
        (["evaluate.head_share=0.6", "evaluate.tail_share=0.6"], "evaluate.head_share"),
        (["evaluate.repeats=0"], "evaluate.repeats"),
        (["evaluate.smote_max_rows=5"], "evaluate.smote_max_rows"),
        (["evaluate.smote_k_neighbors=0"], "evaluate.smote_k_neighbors"),
        (  # a label's sample must hold a row and its neighbours
            ["evaluate.smote_k_neighbors=10", "evaluate.smote_max_rows=10"],
            "evaluate.smote_max_rows",
        ),
        (["evaluate.deepfm_embedding_dims=[0]"], "evaluate.deepfm_embedding_dims"),
        (["evaluate.deepfm_max_rows=1"], "evaluate.deepfm_max_rows"),
        (["generate.catalogue_price_range=[5.0, 1.0]"], "generate.catalogue_price_range"),
        (["generate.catalogue_price_range=[1.0]"], "generate.catalogue_price_range"),
        (["evaluate.item_cold_baselines=[content_knn, ease]"], "evaluate.item_cold_baselines"),
        (
            ["data.source=files", "data.events_path=/x", "evaluate.item_cold=true"],
            "evaluate.item_cold",
        ),
    ],
)
def test_impossible_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, overrides)


def test_spark_scoring_takes_popularity_ease_and_als():
    cfg = load_config(
        None, ["evaluate.scoring=spark", "evaluate.recommenders=[popularity, ease, als]"]
    )
    assert cfg.evaluate.scoring == "spark"
    assert load_config(None, []).evaluate.scoring == "driver"


def test_a_sequential_recommender_may_be_listed_with_the_matrix_ones():
    cfg = load_config(None, ["evaluate.recommenders=[ease, sasrec]"])
    assert cfg.evaluate.recommenders == ["ease", "sasrec"]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_round_trip_through_dict():
    cfg = load_config(REPO / "conf" / "local.yaml", ["train.epochs=3"])
    assert config_from_dict(cfg.to_dict()) == cfg


def test_oversampling_needs_the_privacy_filter_off_explicitly():
    cfg = load_config(None, ["generate.strategy=oversample", "generate.privacy_filter=false"])
    assert cfg.generate.strategy == "oversample" and not cfg.generate.privacy_filter


def test_tabular_table_choices_are_the_tabular_sources():
    from samplegen.config.checks import CHOICES
    from samplegen.tables import TABULAR_SOURCES

    assert set(CHOICES["train.tabular.table"]) == set(TABULAR_SOURCES)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["tables.catalog=main"], "tables.catalog needs tables.schema"),
        (["tables.schema=a b"], "tables.schema"),
        (["tables.schema=x", "tables.catalog=main`x"], "tables.catalog"),
    ],
)
def test_table_names_are_identifiers(overrides, key):
    with pytest.raises(ConfigError, match=key):
        load_config(None, overrides)
