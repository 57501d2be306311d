"""The one reader of `evaluation.json` from a training job's `output.tar.gz` (docs/contracts.md).

Standard library only. `experiments` imports it; the evaluation-reader Lambda, whose code is inline
(one file), gets this module's source prepended to its handler (infra/components/evaluation.py).
"""

import io
import json
import tarfile

EVALUATION_FILE = "evaluation.json"


class EvaluationMissing(Exception):
    """The tarball holds no evaluation.json."""


def read_evaluation(tarball: bytes, where: str = "output.tar.gz") -> dict:
    """evaluation.json at the tarball's top level (`evaluation.json` or `./evaluation.json`, as tar writes it)."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        member = next(
            (m for m in tar.getmembers() if m.isfile() and m.name.removeprefix("./") == EVALUATION_FILE), None
        )
        handle = tar.extractfile(member) if member is not None else None
        if handle is None:
            raise EvaluationMissing(f"{where} holds no {EVALUATION_FILE}")
        return json.load(handle)


def security_verdict(evaluation: dict, gate: dict) -> dict:
    """The security half of the quality gate on `evaluation["security"]` (docs/security.md).

    `gate`: {"model", "attack", "budget", "min_robust_accuracy", "max_membership_auc"}; a threshold
    that is None is not checked. Returns {"passed", "reason", "robust_accuracy", "membership_auc"};
    the reason names the figure and the threshold it failed (or why the figure is missing).
    """
    model, attack, budget = gate.get("model", "model"), gate.get("attack"), gate.get("budget")
    low, high = gate.get("min_robust_accuracy"), gate.get("max_membership_auc")
    verdict = {"passed": False, "reason": "", "robust_accuracy": None, "membership_auc": None}
    security = evaluation.get("security")
    if not isinstance(security, dict):
        verdict["reason"] = f"evaluation.json has no security figures (the {model} job ran with security=false?)"
        return verdict
    if "error" in security:
        verdict["reason"] = f"the {model} job's security evaluation failed: {security['error']}"
        return verdict
    if low is not None:
        robustness = security.get("robustness", {})
        value = robustness.get("accuracy", {}).get(attack, {}).get(budget)
        if value is None:
            why = robustness.get("skipped", f"no accuracy under {attack} at {budget} in evaluation.json")
            verdict["reason"] = f"robust accuracy ({attack} at {budget}) is missing: {why}"
            return verdict
        verdict["robust_accuracy"] = float(value)
        if value < low:
            verdict["reason"] = (
                f"robust accuracy {value:.4f} ({attack} at {budget}) is below the {model} threshold "
                f"min_robust_accuracy {low}"
            )
            return verdict
    if high is not None:
        auc = security.get("privacy", {}).get("auc")
        if auc is None:
            verdict["reason"] = "membership inference AUC is missing from evaluation.json"
            return verdict
        verdict["membership_auc"] = float(auc)
        if auc > high:
            verdict["reason"] = (
                f"membership inference AUC {auc:.4f} is above the {model} threshold max_membership_auc {high}"
            )
            return verdict
    verdict["passed"] = True
    verdict["reason"] = f"robust accuracy and membership inference AUC within the {model} thresholds"
    return verdict
