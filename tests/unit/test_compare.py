"""``samplegen compare``'s headline rows, on hand-built comparisons of two runs."""

import pandas as pd

from samplegen.evaluate.compare import KEY, format_comparison, headline

NAN = float("nan")


def _comparison(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[*KEY, "a", "b"])
    return frame.assign(b_minus_a=frame["b"] - frame["a"])


def test_headline_keeps_ctr_paired_differences_in_auc_and_log_loss():
    baselines = ("real", "class_weight", "random_oversampling", "smote_nc")
    rows = []
    for slice_ in ("all", "cold_users"):
        for metric in ("auc", "pr_auc", "logloss", "ece"):
            rows.append(("logreg", "augmented", slice_, metric, NAN, 7, 0.8, 0.81))
            for baseline in baselines:
                variant = f"augmented_minus_{baseline}"
                rows.append(("logreg", variant, slice_, metric, NAN, 7, 0.01, 0.02))
                rows.append(("logreg", variant, slice_, f"{metric}_p_value", NAN, 7, 0.4, 0.03))
    rows.append(("ease", "augmented_minus_real", "all", "ndcg", 20, 0, 0.01, 0.02))
    rows.append(("ease", "augmented_minus_real", "all", "recall", 20, 0, 0.01, 0.02))
    rows.append(("fidelity", "label_balance", "all", "detection_auc", NAN, 7, 0.6, 0.55))
    shown = headline(_comparison(rows))
    ctr = shown[shown["recommender"] == "logreg"]
    assert set(ctr["metric"]) == {"auc", "logloss"}  # no p-values, no PR-AUC or ECE
    assert set(ctr["variant"]) == {f"augmented_minus_{b}" for b in baselines}
    assert len(ctr) == 2 * 2 * len(baselines)  # slices x metrics x baselines
    others = shown[shown["recommender"] != "logreg"]
    assert sorted(others["metric"]) == ["detection_auc", "ndcg"]
    text = format_comparison(shown, "A", "B")
    assert "augmented_minus_smote_nc" in text and "+0.0100" in text
