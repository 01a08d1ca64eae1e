"""Music generation with a loaded ``music`` model: torch-free, one note event at a time.

**The event encoding.** A piece is its top voice (the melody: the highest sounding note at each
onset), one token per event: a note ``"<midi pitch>:<quarter lengths>"`` (``"67:1"`` is G4 for
a quarter note) or a rest ``"r:<quarter lengths>"``. Durations are snapped to ``DURATIONS``
(sixteenth to whole note, dotted values included; longer ones are cut to a whole note), and
every piece starts with ``"<bos>"``. The vocabulary is the model's, stored in its signature
(tokenizer kind "word": a sequence reads as its tokens separated by spaces).

>>> token_of(Note(67, 1.0)), token_of(Note(None, 0.5)), note_of("60:1.5")
('67:1', 'r:0.5', Note(pitch=60, quarters=1.5))
>>> snap(0.33), snap(7.0)
(0.25, 4.0)

Generation feeds the prompt (``<bos>`` and any prompt notes) through the graph as one chunk,
then each sampled event one step at a time through pre-bound buffers
(``Model.step_buffers``), and yields it as a ``Note`` as soon as it is drawn: temperature,
top-k and top-p sampling (``edgernn.tasks.generate.sample``) with a seeded numpy generator,
never drawing ``<bos>`` or ``<unk>``. It stops after ``max_events`` events or once the events
last ``seconds`` at ``tempo`` quarter notes per minute, whichever comes first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.tasks.generate import TokenSteps, check_options, sample

BOS = "<bos>"  # the first token of every piece
UNK = "<unk>"  # an event outside the vocabulary
# the duration grid in quarter notes: sixteenth, eighth, dotted eighth, quarter, dotted
# quarter, half, dotted half, whole
DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


@dataclass(frozen=True)
class Note:
    """One event of a melody."""

    pitch: int | None  # MIDI note number (60 = middle C); None for a rest
    quarters: float  # duration in quarter notes (1.0 = a quarter note)


def snap(quarters: float) -> float:
    """The grid duration (``DURATIONS``) nearest to ``quarters``."""
    return min(DURATIONS, key=lambda d: (abs(d - quarters), d))


def token_of(note: Note) -> str:
    """The event's token: ``"<pitch>:<quarters>"`` or ``"r:<quarters>"``."""
    head = "r" if note.pitch is None else str(note.pitch)
    return f"{head}:{note.quarters:g}"


def note_of(token: str) -> Note | None:
    """The event a token stands for; None for ``<bos>``, ``<unk>`` or anything else."""
    head, sep, tail = token.partition(":")
    if not sep:
        return None
    try:
        quarters = float(tail)
        pitch = None if head == "r" else int(head)
    except ValueError:
        return None
    return Note(pitch, quarters)


def seconds_of(notes: Sequence[Note], tempo: float) -> float:
    """How long ``notes`` last at ``tempo`` quarter notes per minute."""
    return sum(n.quarters for n in notes) * 60.0 / tempo


def check_music_options(
    max_events: int | None = 200,
    seconds: float | None = None,
    tempo: float = 90.0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> None:
    """UsageError (one line, with the fix) for any option out of range."""
    check_options(0, temperature, top_k, top_p)
    if max_events is not None and max_events < 1:
        raise UsageError(f"--events must be >= 1, got {max_events}; e.g. --events 200")
    if seconds is not None and not 0 < seconds < math.inf:
        raise UsageError(f"--seconds must be > 0 and finite, got {seconds}; e.g. --seconds 30")
    if not 0 < tempo <= 1000:
        raise UsageError(f"--tempo must be in (0, 1000] quarter notes a minute, got {tempo}")
    if max_events is None and seconds is None:
        raise UsageError("say when to stop: --seconds S or --events N")


@dataclass
class MusicStats:
    """What the last ``notes`` call did."""

    events: int = 0  # events generated
    prompt_events: int = 0  # prompt events fed (outside the vocabulary: fed as <unk>)
    unknown_events: int = 0  # prompt events outside the vocabulary
    seconds: float = 0.0  # wall time, prompt included


class MusicGenerator(TokenSteps):
    """Stateful melody generation over one ``music`` model (one piece at a time).

    >>> import edgernn
    >>> gen = MusicGenerator(edgernn.load(edgernn.default_model_path().with_name(
    ...     "music-bach.onnx"), provider="cpu"))
    >>> notes = list(gen.notes(max_events=8, seed=3))
    >>> len(notes), gen.stats.events, all(n.quarters in DURATIONS for n in notes)
    (8, 8, True)
    """

    def __init__(self, model: Model):
        sig = model.signature
        if sig.task != "music" or sig.tokenizer is None:
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; writing MIDI needs a 'music' model "
                "(e.g. the shipped music-bach.onnx, or one from `edgernn train music`)"
            )
        super().__init__(model)
        self.vocab = sig.tokenizer.vocab
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        self.events = [note_of(t) for t in self.vocab]  # id -> Note (None: not an event)
        self.unk_id = self.ids.get(UNK, 0)
        self.bos_id = self.ids.get(BOS, self.unk_id)
        # never sampled: the specials (their logits are pushed to -inf)
        self.banned = np.array([e is None for e in self.events])  # (V,)
        self.stats = MusicStats()

    def encode(self, notes: Sequence[Note]) -> np.ndarray:
        """Token ids (T,) of ``notes`` (durations snapped); unknown events become <unk>."""
        tokens = [token_of(Note(n.pitch, snap(n.quarters))) for n in notes]
        return np.array([self.ids.get(t, self.unk_id) for t in tokens], dtype=np.int64)

    def reset(self) -> None:
        """Back to a fresh state (no context)."""
        self.restart()
        self.stats = MusicStats()

    def feed(self, ids: np.ndarray) -> np.ndarray:
        """Run token ids (T,) as one chunk from the current state; the next-event logits (V,)."""
        return self.run_ids(ids[None].astype(np.int64))

    def notes(
        self,
        prompt: Sequence[Note] = (),
        max_events: int | None = 200,
        seconds: float | None = None,
        tempo: float = 90.0,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = 0,
    ) -> Iterator[Note]:
        """Each generated event, as drawn, continuing ``prompt`` (after ``<bos>``) from a fresh
        state. Options are checked now; ``seed`` makes it reproducible."""
        check_music_options(max_events, seconds, tempo, temperature, top_k, top_p)
        return self._run(
            prompt,
            max_events,
            seconds,
            tempo,
            temperature,
            top_k,
            top_p,
            np.random.default_rng(seed),
        )

    def _run(
        self,
        prompt: Sequence[Note],
        max_events: int | None,
        seconds: float | None,
        tempo: float,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        rng: np.random.Generator,
    ) -> Iterator[Note]:
        start = time.perf_counter()
        self.reset()
        ids = np.concatenate([[self.bos_id], self.encode(prompt)]).astype(np.int64)  # (T,)
        self.stats.prompt_events = len(prompt)
        self.stats.unknown_events = int(np.count_nonzero(ids[1:] == self.unk_id))
        logits = self.feed(ids)
        quarters_left = None if seconds is None else seconds * tempo / 60.0
        while True:
            masked = np.where(self.banned, -np.inf, logits)  # (V,)
            token = sample(masked, temperature, top_k, top_p, rng)
            note = self.events[token]
            assert note is not None  # specials are never drawn
            self.stats.events += 1
            self.stats.seconds = time.perf_counter() - start
            yield note
            if quarters_left is not None:
                quarters_left -= note.quarters
                if quarters_left <= 1e-9:
                    break
            if max_events is not None and self.stats.events >= max_events:
                break
            logits = self.step(token)  # the event just drawn is the next input
        self.stats.seconds = time.perf_counter() - start

    def nll(self, notes: Sequence[Note]) -> tuple[float, int]:
        """(summed negative log-likelihood in nats, events scored) of ``notes`` as a piece:
        ``<bos>`` then every event, each scored given everything before it, from a fresh
        state; events outside the vocabulary are scored as ``<unk>``."""
        ids = np.concatenate([[self.bos_id], self.encode(notes)]).astype(np.int64)  # (T + 1,)
        logits, _ = self.model.run(ids[None], self.model.initial_state(1))  # (1, T + 1, V)
        z = logits[0, :-1].astype(np.float64)  # (T, V): predictions of ids[1:]
        top = z.max(axis=1, keepdims=True)
        logz = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]  # (T,)
        return float((logz - z[np.arange(len(z)), ids[1:]]).sum()), len(notes)
