"""Soak `edgernn stream` over a real MQTT broker: a fast publisher, a slow reader, RSS sampled.

    python benchmarks/mqtt_soak.py [--records 1000000] [--keys 50] [--json]

Starts mosquitto on 127.0.0.1 (a free port, its own config: QoS 1 queue large enough for the
run), then `edgernn stream --source mqtt://.../s/+ --mqtt-key-level 1 --key sensor`; a paho
client publishes JSON records at QoS 1 as fast as the broker acknowledges them (in windows of
2000), and the stream's stdout is read with a small delay every 100 lines. Reports the
throughput end to end, that every record came out, and the stream's RSS over the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stream_soak import rss_mb  # benchmarks/ is on the path when run as a script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker(work: Path, port: int) -> subprocess.Popen:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 2000000\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    proc = subprocess.Popen(
        [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{port}")


def publish(port: int, n: int, keys: int) -> float:
    """Seconds to publish ``n`` records at QoS 1, acknowledged by the broker."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-publisher")
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0, last = time.monotonic(), None
    for i in range(n):
        t = i // keys
        last = c.publish(
            f"s/k{i % keys}",
            json.dumps({"timestamp": t, "temp": 20 + (t % 96) / 10, "humidity": 55.0}),
            qos=1,
        )
        if i % 2000 == 1999:
            last.wait_for_publish(60)
    last.wait_for_publish(60)
    seconds = time.monotonic() - t0
    c.disconnect()
    c.loop_stop()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        mosq = broker(Path(tmp), port)
        cmd = [
            sys.executable,
            "-m",
            "edgernn",
            "stream",
            "--source",
            f"mqtt://127.0.0.1:{port}/s/+",
            "--mqtt-key-level",
            "1",
            "--key",
            "sensor",
            "--client-id",
            "soak",
            "--quiet",
        ]
        # a run that reads nothing leaves the persistent session and its subscription at the
        # broker: whatever is published from now on waits there, however slowly the stream starts
        subprocess.run([*cmd, "--limit", "0"], check=True, timeout=120)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        counted = [0]

        def reader() -> None:
            for _ in proc.stdout:
                counted[0] += 1
                if counted[0] % 100 == 0:
                    time.sleep(0.0005)

        threading.Thread(target=reader, daemon=True).start()
        samples: list[tuple[int, float]] = []
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                r = rss_mb(proc.pid)
                if r is not None:
                    samples.append((counted[0], round(r, 1)))
                time.sleep(0.5)

        threading.Thread(target=sampler, daemon=True).start()
        t0 = time.monotonic()
        pub_s = publish(port, args.records, args.keys)
        while counted[0] < args.records and time.monotonic() - t0 < pub_s + 120:
            time.sleep(0.1)
        total = time.monotonic() - t0
        stop.set()
        proc.terminate()
        proc.wait(30)
        mosq.terminate()
        mosq.wait(10)
    warm = [r for n, r in samples if n >= args.records // 5]
    result = {
        "records": args.records,
        "keys": args.keys,
        "outputs": counted[0],
        "publish_s": round(pub_s, 1),
        "seconds": round(total, 1),
        "records_per_s": round(counted[0] / total),
        "exit": proc.returncode,
        "rss_mb_first": samples[0][1] if samples else None,
        "rss_mb_after_warmup": [min(warm), max(warm)] if warm else None,
        "rss_growth_after_warmup_mb": round(max(warm) - min(warm), 1) if warm else None,
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
