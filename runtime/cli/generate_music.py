"""``edgernn generate MODEL --midi OUT.mid``: a music model's melody, note by note through the
runtime, written as MIDI (and optionally a WAV and a piano roll)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.tasks.midi import (
    read_midi,
    render_wav,
    require_mido,
    wav_tools,
    write_midi,
    write_roll,
)
from edgernn.tasks.music import MusicGenerator, Note, check_music_options, seconds_of, token_of
from edgernn.tasks.music_stats import in_key_fraction, key_of

NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
DEFAULT_SECONDS = 30.0  # when neither --seconds nor --events says when to stop


@dataclass
class MusicRequest:
    """What a music ``generate`` was asked for."""

    midi: str  # the MIDI file to write
    seconds: float | None  # stop once the melody lasts this long (at tempo)
    events: int | None  # stop after this many events
    tempo: float  # quarter notes a minute
    prompt_midi: str | None  # a MIDI file whose melody is continued
    wav: str | None  # a WAV to render with fluidsynth
    roll: str | None  # a piano-roll PNG to draw
    program: int  # General MIDI instrument (0 = piano)
    temperature: float  # sampling temperature (0 = greedy)
    top_k: int | None  # sample among the k most likely events
    top_p: float | None  # nucleus sampling
    seed: int  # random seed

    def check(self) -> None:
        """UsageError for a bad option, before any model is loaded."""
        if self.seconds is None and self.events is None:
            self.seconds = DEFAULT_SECONDS
        check_music_options(
            self.events, self.seconds, self.tempo, self.temperature, self.top_k, self.top_p
        )
        require_mido()  # MIDI out: say so now, not after generating
        if not 0 <= self.program <= 127:
            raise UsageError(
                f"--program must be a General MIDI instrument 0-127, got {self.program}"
            )
        if self.wav is not None:
            missing = wav_tools()[2]
            if missing:
                raise UsageError(f"--wav needs {missing}; or leave out --wav")

    def run(self, model: Model, as_json: bool) -> None:
        """Generate, printing each note as it comes (or one JSON object), then write files."""
        gen = MusicGenerator(model)
        prompt = read_midi(self.prompt_midi) if self.prompt_midi else []
        notes: list[Note] = list(prompt)
        for note in gen.notes(
            prompt,
            self.events,
            self.seconds,
            self.tempo,
            self.temperature,
            self.top_k,
            self.top_p,
            self.seed,
        ):
            notes.append(note)
            if not as_json:
                click.echo(describe(note))
        made = notes[len(prompt) :]
        write_midi(notes, self.midi, self.tempo, self.program)
        written = [self.midi]
        if self.roll:
            write_roll(notes, self.roll, f"{model.path.name}, seed {self.seed}")
            written.append(self.roll)
        if self.wav:
            render_wav(self.midi, self.wav)
            written.append(self.wav)
        tonic, mode = key_of(made)
        s = gen.stats
        facts = {
            "events": s.events,
            "prompt_events": s.prompt_events,
            "unknown_prompt_events": s.unknown_events,
            "seconds_of_music": round(seconds_of(made, self.tempo), 2),
            "key": f"{NAMES[tonic]} {mode}",
            "in_key": round(in_key_fraction(made), 3),
            "seconds": round(s.seconds, 4),
            "events_per_s": round(s.events / s.seconds, 1) if s.seconds else None,
            "files": written,
            "notes": [token_of(n) for n in made],  # "pitch:quarters" / "r:quarters", in order
        }
        if as_json:
            click.echo(json.dumps(facts))
            return
        click.echo(
            f"{s.events} events, {facts['seconds_of_music']} s at {self.tempo:g} bpm, "
            f"{facts['key']} ({facts['in_key']:.0%} of notes in key); {facts['events_per_s']} "
            f"events/s; wrote {', '.join(str(Path(w)) for w in written)}",
            err=True,
        )


def misplaced(
    midi: str | None, text_flags: Mapping[str, object], music_flags: Mapping[str, object]
) -> None:
    """UsageError for a text flag with --midi, or a music flag without it."""
    given = [f for f, v in (text_flags if midi is not None else music_flags).items() if v]
    if given and midi is not None:
        raise UsageError(
            f"{given[0]} is for text models; with --midi a melody continues a MIDI file: "
            "--prompt-midi FILE"
        )
    if given:
        raise UsageError(
            f"{given[0]} is for music models: name the MIDI file to write with --midi OUT.mid"
        )


def describe(note: Note) -> str:
    """One line per event: ``G4 1`` (pitch name and octave, quarters) or ``rest 0.5``."""
    if note.pitch is None:
        return f"rest {note.quarters:g}"
    return f"{NAMES[note.pitch % 12]}{note.pitch // 12 - 1} {note.quarters:g}"
