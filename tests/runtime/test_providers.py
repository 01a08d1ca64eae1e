"""Provider choice: auto says what it took; cuda never falls back silently."""

from __future__ import annotations

import pytest

import edgernn
from edgernn.errors import ProviderError, UsageError
from edgernn.providers import cuda_missing


def test_auto_reports_its_choice():
    m = edgernn.load(provider="auto")
    assert m.provider in ("cpu", "cuda")
    if m.provider == "cpu":
        assert m.provider_note.startswith("cuda not used: ")


def test_cpu_is_cpu():
    assert edgernn.load(provider="cpu").session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.skipif(cuda_missing() is None, reason="CUDA may run on this machine")
def test_cuda_without_cuda_is_an_error():
    with pytest.raises(ProviderError, match="provider 'cuda' cannot run here"):
        edgernn.load(provider="cuda")


def test_unknown_provider_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown provider 'tpu'"):
        edgernn.load(provider="tpu")


def test_session_options_turn_spinning_off():
    m = edgernn.load(provider="cpu")
    opts = m.session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.intra_op_num_threads == 1
