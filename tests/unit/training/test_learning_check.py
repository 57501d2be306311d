"""evaluation.json says when the evaluated model learned nothing: one class for (almost) everything, or
no better than the held-out majority class."""

import numpy as np
from training.evaluation import ONE_CLASS_SHARE, evaluate

CLASSES = ["cat", "dog"]


def _probabilities(predicted: np.ndarray, confidence: float = 0.51) -> np.ndarray:
    p = np.full((len(predicted), 2), 1 - confidence)
    p[np.arange(len(predicted)), predicted] = confidence
    return p


def test_a_constant_model_is_named_with_what_it_means_and_what_to_try():
    labels = np.array([0, 1] * 6)  # 6 cats, 6 dogs: the 120-photo run held out 12
    check = evaluate(labels, _probabilities(np.zeros(12, int)), CLASSES, "test")["learning_check"]
    assert check["predicts_one_class"] is True and check["top_predicted_class"] == "cat"
    assert check["top_predicted_share"] == 1.0 and check["beats_majority"] is False
    assert "predicts 'cat' for 100% of the 12 held-out inputs" in check["warning"]
    assert "no better than always answering" in check["warning"]
    assert "more data" in check["warning"] and "time_budget_s" in check["warning"]


def test_a_model_below_the_majority_baseline_is_flagged_even_when_it_varies_its_answers():
    labels = np.array([0] * 8 + [1] * 2)  # majority 0.8
    predicted = np.array([0, 1] * 5)  # accuracy 0.5, mixed answers
    check = evaluate(labels, _probabilities(predicted), CLASSES, "test")["learning_check"]
    assert check["predicts_one_class"] is False and check["beats_majority"] is False
    assert check["majority_share"] == 0.8 and check["warning"].startswith("its accuracy 0.500")


def test_a_model_that_learned_has_no_warning():
    labels = np.array([0, 1] * 10)
    predicted = labels.copy()
    predicted[0] = 1
    check = evaluate(labels, _probabilities(predicted, 0.9), CLASSES, "test")["learning_check"]
    assert check["warning"] is None and check["beats_majority"] is True
    assert check["p_value_vs_majority"] < 0.001 and check["top_predicted_share"] < ONE_CLASS_SHARE
