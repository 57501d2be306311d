"""Membership inference: can an attacker tell the training set's items from held-out ones?

Two attacks on the same members (a fixed sample of the artifact's train split) and non-members (the
held-out split), from the served probabilities alone:
- loss threshold (Yeom et al., "Privacy Risk in Machine Learning", CSF 2018): members have lower loss;
  the score is the log-probability of the true class;
- ART's `MembershipInferenceBlackBox` on the prediction vectors and labels, with a random-forest
  attack model (scikit-learn: the TensorFlow image carries no torch for ART's default neural network),
  two-fold: fit on one half of each group, score the other, and swap, so every item is scored by an
  attack model that never saw it.
Each reports the ROC AUC and the advantage, max over thresholds of TPR - FPR (Yeom's membership
advantage; 0 = no better than a coin).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

LOG_FLOOR = 1e-12


def auc_and_advantage(member_scores: np.ndarray, non_member_scores: np.ndarray) -> dict[str, float]:
    """Higher score = more likely a member."""
    truth = np.concatenate([np.ones(len(member_scores)), np.zeros(len(non_member_scores))])
    scores = np.concatenate([member_scores, non_member_scores])
    fpr, tpr, _ = roc_curve(truth, scores)
    return {"auc": float(roc_auc_score(truth, scores)), "advantage": float(np.max(tpr - fpr))}


def loss_threshold(
    member_probabilities: np.ndarray,
    member_labels: np.ndarray,
    non_member_probabilities: np.ndarray,
    non_member_labels: np.ndarray,
) -> dict[str, float]:
    def score(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(p[np.arange(len(y)), y], LOG_FLOOR))  # -loss

    return auc_and_advantage(
        score(member_probabilities, member_labels), score(non_member_probabilities, non_member_labels)
    )


def black_box(
    estimator: Any,
    member_probabilities: np.ndarray,
    member_labels: np.ndarray,
    non_member_probabilities: np.ndarray,
    non_member_labels: np.ndarray,
    seed: int = 0,
) -> dict[str, float | str]:
    """ART's black-box attack, two-fold over members and non-members (precomputed predictions)."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    rng = np.random.default_rng(seed)
    member_fold = rng.permutation(len(member_labels)) % 2
    non_member_fold = rng.permutation(len(non_member_labels)) % 2
    member_scores = np.zeros(len(member_labels))
    non_member_scores = np.zeros(len(non_member_labels))
    nb_classes = member_probabilities.shape[1]
    onehot = np.eye(nb_classes, dtype=np.float32)
    for fold in (0, 1):
        fit_m, score_m = member_fold != fold, member_fold == fold
        fit_n, score_n = non_member_fold != fold, non_member_fold == fold
        attack = MembershipInferenceBlackBox(estimator, input_type="prediction", attack_model_type="rf")
        np.random.seed(seed + fold)  # the random forest draws from numpy's global generator
        attack.fit(
            y=onehot[member_labels[fit_m]],
            test_y=onehot[non_member_labels[fit_n]],
            pred=member_probabilities[fit_m].astype(np.float32),
            test_pred=non_member_probabilities[fit_n].astype(np.float32),
        )
        for scores, chosen, probs, labels in (
            (member_scores, score_m, member_probabilities, member_labels),
            (non_member_scores, score_n, non_member_probabilities, non_member_labels),
        ):
            inferred = attack.infer(
                None, onehot[labels[chosen]], pred=probs[chosen].astype(np.float32), probabilities=True
            )
            scores[chosen] = np.asarray(inferred).reshape(len(inferred), -1)[:, -1]
    return {**auc_and_advantage(member_scores, non_member_scores), "attack_model": "random_forest"}
