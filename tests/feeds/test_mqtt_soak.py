"""A fast MQTT publisher into `edgernn stream` with a slow reader: every record comes out, RSS
stays flat.

The million-record run is `python benchmarks/mqtt_soak.py` (results in benchmarks/RESULTS.md);
this is the same script at 30,000 records, so it runs in every CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from brokers import mosquitto_binary

SOAK = Path(__file__).parent.parent.parent / "benchmarks" / "mqtt_soak.py"


def test_thirty_thousand_mqtt_records_all_come_out_with_flat_memory():
    mosquitto_binary()  # installed if missing
    r = subprocess.run(
        [sys.executable, str(SOAK), "--records", "30000", "--keys", "20", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    # QoS 1 end to end: nothing lost, nothing doubled
    assert result["outputs"] == 30000 and result["exit"] == 0
    assert (
        result["rss_growth_after_warmup_mb"] is not None
        and result["rss_growth_after_warmup_mb"] < 10
    )
