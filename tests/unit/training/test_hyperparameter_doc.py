"""docs/training.md's hyperparameter table against the `Hyperparameters` dataclass it is generated from."""

import dataclasses
from pathlib import Path

import pytest
from training.hyperparameter_doc import BEGIN, END, render_table, splice
from training.hyperparameters import Hyperparameters

from training import hyperparameter_doc

DOC = Path(__file__).resolve().parents[3] / "docs" / "training.md"


def test_the_table_in_the_training_doc_is_the_one_the_code_renders():
    doc = DOC.read_text()
    assert splice(doc, render_table(), DOC) == doc, (
        "docs/training.md's hyperparameter table disagrees with training/training/hyperparameters.py; "
        "run .venv/bin/python -m training.hyperparameter_doc"
    )


def test_every_hyperparameter_has_a_row_with_its_default_and_help():
    table = render_table()
    for field in dataclasses.fields(Hyperparameters):
        if field.metadata.get("internal"):  # `given`: what the job was told, not a setting
            assert f"| `{field.name}` |" not in table
            continue
        assert f"| `{field.name}` |" in table
        assert field.metadata["help"], field.name
    # per-model recipes (MODEL_DEFAULTS) win over the dataclass default, ranges come from RANGES
    assert "| `epochs` | cnn/mlp | cnn: 0, mlp: 80 | [0, 100000] |" in table
    assert "| `adversarial_eps` | cnn | 4/255 | (0, 1] |" in table
    assert "| `precision` | cnn | auto | `auto` \\| `bf16` \\| `fp32` |" in table


def test_a_changed_default_makes_the_check_fail(tmp_path, monkeypatch):
    doc = tmp_path / "training.md"
    doc.write_text(f"# Training\n\n{BEGIN}\n{END}\n\nafter\n")
    assert hyperparameter_doc.main(["--doc", str(doc), "--check"]) == 1  # empty table: out of date
    assert hyperparameter_doc.main(["--doc", str(doc)]) == 0
    assert hyperparameter_doc.main(["--doc", str(doc), "--check"]) == 0
    assert doc.read_text().startswith("# Training\n\n") and doc.read_text().endswith(f"{END}\n\nafter\n")

    changed = dataclasses.make_dataclass(
        "Hyperparameters",
        [("dropout", float, dataclasses.field(default=0.25, metadata={"models": ("mlp",), "help": "changed"}))],
    )
    monkeypatch.setattr(hyperparameter_doc, "Hyperparameters", changed)
    assert hyperparameter_doc.main(["--doc", str(doc), "--check"]) == 1


def test_a_field_without_help_is_refused(monkeypatch):
    bare = dataclasses.make_dataclass("Hyperparameters", [("dropout", float, dataclasses.field(default=0.5))])
    monkeypatch.setattr(hyperparameter_doc, "Hyperparameters", bare)
    with pytest.raises(ValueError, match="'dropout' has no help"):
        render_table()


@pytest.mark.parametrize("doc", ["no markers\n", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}\n"])
def test_a_doc_without_one_pair_of_markers_is_refused_naming_the_file(tmp_path, doc, capsys):
    path = tmp_path / "training.md"
    path.write_text(doc)
    assert hyperparameter_doc.main(["--doc", str(path), "--check"]) == 2
    assert str(path) in capsys.readouterr().err
