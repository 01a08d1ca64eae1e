"""Gradient diagnostics: how far back a trained recurrent model's last forecast still "feels"
its input.

``input_sensitivity`` is |dL_T / dx_t| for every step t of a window, where L_T is the MSE of the
LAST step's forecast: the mean over windows of the L2 norm (over features) of the gradient of
that loss with respect to the input at step t. For a vanilla RNN it decays quickly with the
distance T - t (vanishing gradients); an LSTM's cell state keeps it much flatter. Together with
the per-layer gradient norms recorded by ``fit`` (``History.grad_norms``) it is the
``gradients`` section of report.json.

>>> from edgernn.train.forecast.model import Forecaster, ForecasterConfig
>>> _ = torch.manual_seed(0)
>>> m = Forecaster(ForecasterConfig("rnn", 2, 1, (8,)))
>>> x = np.random.default_rng(0).standard_normal((4, 12, 2)).astype(np.float32)  # (W, T, F)
>>> s = input_sensitivity(m, x)
>>> len(s), all(v >= 0 for v in s)
(12, True)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgernn.train.cells import native_kernels
from edgernn.train.forecast.model import Forecaster
from edgernn.train.loop import History

SENSITIVITY_WINDOWS = 256  # validation windows averaged over


def input_sensitivity(
    model: Forecaster,
    x: np.ndarray,
    y: np.ndarray | None = None,
    max_windows: int = SENSITIVITY_WINDOWS,
) -> list[float]:
    """Mean |dL_T / dx_t| for t = 1..T (index 0 = the window's first step, -1 = its last).

    ``x`` (W, T, F) model units; ``y`` (W, T, K) targets, or None to use L_T = mean(y_T^2).
    Eval mode, zero initial state, the first ``max_windows`` windows; the model is unchanged.
    """
    if len(x) == 0:
        return []
    xs = torch.from_numpy(np.ascontiguousarray(x[:max_windows], dtype=np.float32)).requires_grad_(
        True
    )
    was_training = model.training
    model.eval()
    try:
        with native_kernels(), torch.enable_grad():
            last = model(xs)[0][:, -1]  # (B, K)
            target = (
                torch.zeros_like(last)
                if y is None
                else torch.from_numpy(np.asarray(y[:max_windows, -1], np.float32))
            )
            loss = nn.functional.mse_loss(last, target)
            (grad,) = torch.autograd.grad(loss, xs)
    finally:
        model.train(was_training)
    return torch.linalg.vector_norm(grad.double(), dim=2).mean(dim=0).tolist()  # (T,)


def sensitivity_ratio(sensitivity: list[float]) -> float | None:
    """First step / last step of ``input_sensitivity``: near 0 means the gradient vanished."""
    if not sensitivity or sensitivity[-1] == 0:
        return None
    return sensitivity[0] / sensitivity[-1]


def gradients_report(history: History, sensitivity: list[float]) -> dict:
    """The ``gradients`` section of report.json."""
    return {
        "per_layer_norms": {k: list(v) for k, v in history.grad_norms.items()},
        "input_sensitivity": list(sensitivity),
        "input_sensitivity_ratio": sensitivity_ratio(sensitivity),
        "notes": "per_layer_norms: mean L2 norm of each part's gradients per epoch, before "
        "clipping; "
        "input_sensitivity: mean |dL_T/dx_t| over validation windows for t = 1..T (last = the "
        "forecast step)",
    }
