"""Docstring examples are documentation that runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["edgernn", "edgernn.signature", "edgernn.synth", "edgernn.anomaly", "edgernn.records", "edgernn.snapshot", "edgernn.pool", "edgernn.runner"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
