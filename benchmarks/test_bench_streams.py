"""Many streams stepped together: one tick = one step of every stream (``pytest benchmarks -k
streams``).

``extra_info`` carries the FLOPs of a tick and the GFLOP/s achieved at the median.
"""

from __future__ import annotations

import itertools

import impls
import pytest

from edgernn.bench.cost import flops_per_step


@pytest.mark.parametrize("streams", [64, 1024])
@pytest.mark.parametrize("impl", impls.IMPLS)
def test_streams(benchmark, loaded, impl, streams):
    step, i = impls.make(impl, loaded, batch=streams), itertools.count()
    flops = flops_per_step(loaded.model.signature) * streams
    benchmark.group = f"{streams} streams {loaded.bm.name}"
    benchmark.extra_info["flops_per_tick"] = flops
    benchmark(lambda: step(next(i)))
    if benchmark.stats:  # None under --benchmark-disable
        benchmark.extra_info["gflops_at_median"] = round(
            flops / benchmark.stats.stats.median / 1e9, 2
        )
