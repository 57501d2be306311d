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
        if member is None:
            raise EvaluationMissing(f"{where} holds no {EVALUATION_FILE}")
        return json.load(tar.extractfile(member))
