"""The recurrent cells every model stacks, and the CPU kernels they train and run on.

>>> sorted(CELLS)
['gru', 'lstm', 'rnn']
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@contextlib.contextmanager
def native_kernels() -> Iterator[None]:
    """oneDNN off for the duration: measured here, its LSTM kernel made a batch-32 x 50-step
    forward+backward take 1.08 s instead of 0.02 s. (``mkldnn.flags()`` would also warn about
    TF32.)"""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before
