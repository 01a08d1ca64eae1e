"""Docstring examples are documentation that runs: every module of edgernn is collected (the
training ones too when torch is installed), none is kept on a hand-written list."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import edgernn


def _train_extra() -> bool:
    """Are torch and onnx importable (the train extra)? A blocked import says no too."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("torch", "onnx"))
    except ImportError:
        return False


TORCH = _train_extra()


def all_modules() -> list[str]:
    """Every module under edgernn, and under edgernn.train when torch is here. An editable
    install maps edgernn.train to train/, outside runtime/, so it is walked on its own."""
    roots = [("edgernn", edgernn.__path__)]
    if TORCH:
        roots.append(("edgernn.train", importlib.import_module("edgernn.train").__path__))
    names = {"edgernn", *(name for name, _ in roots)}
    for prefix, path in roots:
        for info in pkgutil.walk_packages(path, f"{prefix}."):
            if info.name.startswith("edgernn.train") and not TORCH:
                continue  # the train extra is not installed: its modules cannot be imported
            if info.name.endswith("__main__"):
                continue  # runs the CLI when imported
            names.add(info.name)
    return sorted(names)


MODULES = all_modules()


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_subpackage_has_examples_that_run():
    """The collection is real: the examples live across the layout, not in one file."""
    ran: dict[str, int] = {}
    for name in MODULES:
        part = name.split(".")[1] if name.count(".") > 1 else "edgernn"
        ran[part] = ran.get(part, 0) + doctest.testmod(importlib.import_module(name)).attempted
    assert sum(ran.values()) > 20 and sum(n > 0 for n in ran.values()) >= 3, ran
    assert not TORCH or ran.get("train", 0) > 0, "the train modules' examples were not collected"
