"""What an MQTT sink publishes again after a lost connection: the outputs the broker confirmed
just before it.

A broker's PUBACK says it has the message, not that it has saved it or passed it on: a broker
killed with SIGKILL loses what it confirmed since its last save (mosquitto saves every
``autosave_interval`` seconds) and had not yet delivered. A client cannot tell which those are,
so after reconnecting the sink publishes again every output confirmed in the ``window_s``
seconds before the last confirmation (at most ``most`` of them): a subscriber gets each at
least once, a repeat being an identical copy.

>>> r = Replay(window_s=5.0, most=3)
>>> for mid, t in ((1, 0.0), (2, 3.0), (3, 7.0)):
...     r.sent(mid, f"out/{mid}", b"{}")
...     r.confirmed(mid, now=t)
>>> [topic for topic, _ in r.due()]  # 1 is more than 5 s older than 3
['out/2', 'out/3']
>>> r.confirmed(9, now=8.0); r.sent(9, "out/9", b"{}")  # a confirmation may come first
>>> [topic for topic, _ in r.due()]
['out/2', 'out/3', 'out/9']
"""

from __future__ import annotations

import threading
import time
from collections import deque

REPLAY_S = 5.0  # seconds of confirmed outputs sent again after a reconnection
REPLAY_MAX = 20_000  # most outputs kept for that (memory: their payloads)


class Replay:
    """Published outputs by message id until confirmed, then kept ``window_s`` seconds."""

    def __init__(self, window_s: float = REPLAY_S, most: int = REPLAY_MAX):
        self.window_s = window_s  # how far back before the last confirmation outputs are kept
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[str, bytes]] = {}  # mid -> (topic, payload), unconfirmed
        self._early: dict[int, float] = {}  # mid -> time, confirmed before ``sent`` said it
        # (time confirmed, topic, payload), oldest first
        self._recent: deque[tuple[float, str, bytes]] = deque(maxlen=most)

    def sent(self, mid: int, topic: str, payload: bytes) -> None:
        """Output ``mid`` was handed to the client."""
        with self._lock:
            at = self._early.pop(mid, None)
            if at is None:
                self._pending[mid] = (topic, payload)
            else:
                self._keep(at, topic, payload)

    def confirmed(self, mid: int, now: float | None = None) -> None:
        """The broker confirmed ``mid`` (the network thread; maybe before ``sent``)."""
        at = time.monotonic() if now is None else now
        with self._lock:
            message = self._pending.pop(mid, None)
            if message is None:
                self._early[mid] = at
            else:
                self._keep(at, *message)

    def due(self) -> list[tuple[str, bytes]]:
        """The outputs to publish again after a reconnection, oldest first."""
        with self._lock:
            return [(topic, payload) for _, topic, payload in self._recent]

    def _keep(self, at: float, topic: str, payload: bytes) -> None:
        self._recent.append((at, topic, payload))
        while self._recent and self._recent[0][0] < at - self.window_s:
            self._recent.popleft()
