"""What the stream loop asks of a source: the one interface every feed meets.

Every source is an iterable of ``(position, item)`` (``Item``: a text line or a parsed JSON
object). A *live* source (MQTT) also acknowledges what is finished and counts its
reconnections and redeliveries; the stream loop and the status line read those through
``LiveSource`` instead of probing attributes.

>>> isinstance(iter([(1, "a,b")]), LiveSource)
False
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from edgernn.feeds.options import Item


@runtime_checkable
class Source(Protocol):
    """Records as ``(position, item)``; positions grow by one per record."""

    def __iter__(self) -> Iterator[Item]: ...


@runtime_checkable
class LiveSource(Source, Protocol):
    """A source behind a connection that acknowledges processed records."""

    reconnects: int  # times the connection was lost and made again
    duplicates: int  # redelivered messages recognised and skipped

    def done(self, position: int) -> None:
        """Every record up to ``position`` is finished: acknowledge what carried them (or,
        after ``hold_acks``, hold them for the next checkpoint)."""

    def hold_acks(self) -> None:
        """Acknowledge finished messages only when ``checkpointed`` says a checkpoint has them."""

    def held(self) -> int:
        """Finished messages whose acknowledgement waits for a checkpoint."""

    def checkpointed(self) -> None:
        """A checkpoint covering every finished record is committed: acknowledge them."""


Items = Iterable[Item]
