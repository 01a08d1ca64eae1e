"""pytest-benchmark suite: ``pytest benchmarks`` (not part of ``pytest`` in tests/; needs the
train extra). ``--bench-grid`` picks the models: ``headline`` (LSTM 2x64, default), ``quick``
(every architecture and hidden size, 2 layers) or ``full`` (also 1 layer)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread, like every loop (before numpy loads)

import pytest  # noqa: E402  (after the BLAS settings)

sys.path.insert(0, str(Path(__file__).parent))
pytest.importorskip("torch")

import impls  # noqa: E402
import models  # noqa: E402


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--bench-grid",
        choices=("headline", "quick", "full"),
        default="headline",
        help="which benchmark models to run (benchmarks/models.py)",
    )


def pytest_generate_tests(metafunc) -> None:
    if "bm" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--bench-grid")
        grid = [models.headline()] if choice == "headline" else models.grid(quick=choice == "quick")
        metafunc.parametrize("bm", grid, ids=[m.name for m in grid])


_LOADED: dict[str, impls.Loaded] = {}


@pytest.fixture
def loaded(bm) -> impls.Loaded:
    """The model built (once) and loaded in every form."""
    if bm.name not in _LOADED:
        _LOADED[bm.name] = impls.load(models.ensure(bm))
    return _LOADED[bm.name]
