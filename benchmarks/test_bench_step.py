"""Single-stream step latency of every implementation (``pytest benchmarks -k step``)."""

from __future__ import annotations

import itertools

import impls
import pytest


@pytest.mark.parametrize("impl", impls.IMPLS)
def test_step(benchmark, loaded, impl):
    step, i = impls.make(impl, loaded), itertools.count()
    benchmark.group = f"step {loaded.bm.name}"
    benchmark(lambda: step(next(i)))


@pytest.mark.parametrize("chunk", [10, 100])
@pytest.mark.parametrize("impl", ["edgernn", "bare_ort", "torch_native", "numpy"])
def test_chunk(benchmark, loaded, impl, chunk):
    step, i = impls.make(impl, loaded, chunk=chunk), itertools.count()
    benchmark.group = f"chunk of {chunk} {loaded.bm.name}"
    benchmark.extra_info["steps_per_call"] = chunk
    benchmark(lambda: step(next(i)))
