"""The task registry: one entry per task the signature format knows, each one runnable."""

from __future__ import annotations

from pathlib import Path

import pytest

import edgernn
from edgernn.errors import UsageError
from edgernn.signature import TASKS as SIGNATURE_TASKS
from edgernn.tasks.registry import TASKS, require, task_of

ROOT = Path(__file__).resolve().parents[2]


def test_every_task_the_signature_accepts_has_one_entry():
    assert sorted(TASKS) == sorted(SIGNATURE_TASKS)
    assert all(name == entry.name for name, entry in TASKS.items())


@pytest.mark.parametrize(
    "path, task, runner",
    [
        (None, "forecast", "Stream"),
        (ROOT / "exported" / "char-lm.onnx", "generate", "Generator"),
        (ROOT / "tests" / "data" / "tiny-classifier.onnx", "classify", "ClassifierStream"),
    ],
)
def test_a_models_entry_wraps_it_in_the_class_that_runs_it(path, task, runner):
    model = edgernn.load(path)
    entry = task_of(model.signature)
    assert entry.name == task and type(entry.wrap(model)).__name__ == runner


def test_the_wrong_kind_of_model_names_the_command_that_runs_it():
    model = edgernn.load(ROOT / "exported" / "char-lm.onnx")
    with pytest.raises(UsageError, match="is a 'generate' model: use edgernn generate$"):
        require(model, "forecast", "edgernn stream")
    with pytest.raises(UsageError, match="no task 'pose'"):
        task_of("pose")
