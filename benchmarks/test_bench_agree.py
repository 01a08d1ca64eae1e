"""Not timed: every implementation computes the same numbers, so the timings compare like with
like."""

from __future__ import annotations

import numpy as np
import torch


def test_numpy_cell_and_torch_match_onnx_runtime(loaded):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 2)).astype(np.float32)
    states = [
        0.5 * rng.standard_normal(s.shape).astype(np.float32) for s in loaded.model.initial_state(3)
    ]
    want_y, want_states = loaded.model.run(x, states)
    with torch.inference_mode():
        y, *st = loaded.net(torch.from_numpy(x), *map(torch.from_numpy, states))
    for got_y, got_states in (loaded.cell.run(x, states), (y.numpy(), [s.numpy() for s in st])):
        np.testing.assert_allclose(got_y, want_y, atol=1e-5, rtol=0)
        for g, w in zip(got_states, want_states):
            np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)
