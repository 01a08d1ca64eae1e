"""A fast source into a slow sink: memory stays bounded (backpressure), nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).parent.parent.parent / "benchmarks" / "stream_soak.py"


def test_a_million_records_through_a_slow_sink_keep_rss_flat():
    """The issue's soak, whole: 1,000,000 records (~20 s here), RSS sampled every 0.5 s."""
    r = subprocess.run(
        [sys.executable, str(SOAK), "--records", "1000000", "--keys", "100", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert result["exit"] == 0
    # one bad line in 1000 rejected, every good one out
    assert result["outputs"] == 1_000_000 - 1000
    assert (
        result["rss_growth_after_warmup_mb"] is not None
        and result["rss_growth_after_warmup_mb"] < 10
    )
