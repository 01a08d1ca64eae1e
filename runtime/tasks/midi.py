"""Melodies to and from playable files: MIDI (mido, pure Python), a piano-roll PNG
(matplotlib) and a WAV rendered offline by fluidsynth with a General MIDI soundfont.

Each needs its own optional package, imported when used: mido comes with
``pip install 'edgernn[music]'``, matplotlib with ``edgernn[plot]``, fluidsynth is a system
program (``apt-get install fluidsynth``). A missing one is a UsageError naming the install.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tune.mid"
>>> melody = [Note(60, 1.0), Note(None, 0.5), Note(64, 0.5), Note(67, 2.0)]
>>> write_midi(melody, path, tempo=120)
>>> read_midi(path) == melody
True
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from importlib import util
from pathlib import Path
from typing import Any

from edgernn.errors import DataError, UsageError
from edgernn.tasks.music import Note, snap

TICKS = 480  # MIDI ticks per quarter note
VELOCITY = 80  # how hard every note is struck (0-127)
DRUMS = 9  # General MIDI's percussion channel (10, counted from 1): not a melody
SOUNDFONT_ENV = "EDGERNN_SOUNDFONT"  # a .sf2 to render WAVs with, when set


def require_mido() -> Any:
    """The mido module; UsageError naming the install when it is missing."""
    try:
        import mido
    except ImportError as e:
        raise UsageError(
            "MIDI files need mido; pip install 'edgernn[music]' (or pip install mido)"
        ) from e
    return mido


def write_midi(
    notes: Sequence[Note], path: str | Path, tempo: float = 90.0, program: int = 0
) -> None:
    """A type-0 MIDI file of ``notes`` at ``tempo`` quarter notes per minute, played by
    General MIDI ``program`` (0 = piano, 19 = church organ); rests are silence."""
    mido = require_mido()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=round(60_000_000 / tempo), time=0))
    track.append(mido.Message("program_change", program=program, time=0))
    wait = 0  # ticks since the last message
    for n in notes:
        ticks = round(n.quarters * TICKS)
        if n.pitch is None:
            wait += ticks
            continue
        track.append(mido.Message("note_on", note=n.pitch, velocity=VELOCITY, time=wait))
        track.append(mido.Message("note_off", note=n.pitch, velocity=0, time=ticks))
        wait = 0
    track.append(mido.MetaMessage("end_of_track", time=wait))
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS)
    mid.tracks.append(track)
    mid.save(str(path))


def read_midi(path: str | Path) -> list[Note]:
    """The top voice of a MIDI file (all tracks merged, drums left out; the highest note at
    each onset, cut at the next onset), durations snapped to the grid; rests between notes
    kept, a leading rest dropped. DataError for a missing, corrupt or note-less file."""
    mido = require_mido()
    p = Path(path)
    try:
        mid = mido.MidiFile(str(p))
    except FileNotFoundError:
        raise DataError(f"--prompt-midi {str(p)!r} does not exist; give a .mid file") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as e:
        raise DataError(
            f"--prompt-midi {str(p)!r} is not a readable MIDI file ({e}); give a valid .mid file"
        ) from None
    onsets: dict[int, int] = {}  # tick -> highest pitch starting there
    tick = 0
    for msg in mido.merge_tracks(mid.tracks):
        tick += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel != DRUMS:
            onsets[tick] = max(onsets.get(tick, -1), msg.note)
    if not onsets:
        raise DataError(
            f"--prompt-midi {str(p)!r} has no notes; give a MIDI file with a melody in it"
        )
    starts = sorted(onsets)
    ends = _note_ends(mid, mido)
    notes: list[Note] = []
    for i, t in enumerate(starts):
        nxt = starts[i + 1] if i + 1 < len(starts) else None
        end = min(ends.get((t, onsets[t]), t + mid.ticks_per_beat), nxt if nxt else 1 << 62)
        notes.append(Note(onsets[t], snap(max(end - t, 1) / mid.ticks_per_beat)))
        if nxt is not None and nxt - end >= mid.ticks_per_beat / 8:
            notes.append(Note(None, snap((nxt - end) / mid.ticks_per_beat)))
    return notes


def _note_ends(mid: Any, mido: Any) -> dict[tuple[int, int], int]:
    """(onset tick, pitch) -> the tick its note ends (note_off, or note_on at velocity 0)."""
    open_at: dict[int, int] = {}
    ends: dict[tuple[int, int], int] = {}
    tick = 0
    for msg in mido.merge_tracks(mid.tracks):
        tick += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_at[msg.note] = tick
        elif msg.type in ("note_off", "note_on") and msg.note in open_at:
            ends[(open_at.pop(msg.note), msg.note)] = tick
    return ends


def write_roll(notes: Sequence[Note], path: str | Path, title: str = "") -> None:
    """A piano-roll PNG: one bar per note, pitch up, time in quarter notes across."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise UsageError("--roll needs matplotlib; pip install 'edgernn[plot]'") from e
    fig, ax = plt.subplots(figsize=(12, 4))
    t = 0.0
    for n in notes:
        if n.pitch is not None:
            ax.broken_barh(
                [(t, n.quarters)], (n.pitch - 0.4, 0.8), color="tab:blue", edgecolor="white"
            )
        t += n.quarters
    for bar in range(0, int(t) + 1, 4):
        ax.axvline(bar, color="0.85", lw=0.5, zorder=0)  # a 4/4 bar line every 4 quarters
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(str(path), dpi=80)
    plt.close(fig)


def find_soundfont() -> Path | None:
    """A General MIDI .sf2: $EDGERNN_SOUNDFONT, the one pretty_midi ships, or Debian's
    fluid-soundfont-gm; None when there is none."""
    candidates = []
    if os.environ.get(SOUNDFONT_ENV):
        candidates.append(Path(os.environ[SOUNDFONT_ENV]))
    spec = util.find_spec("pretty_midi")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "TimGM6mb.sf2")
    candidates += [
        Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
        Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    ]
    return next((c for c in candidates if c.is_file()), None)


def wav_tools() -> tuple[str | None, Path | None, str]:
    """(fluidsynth program, soundfont, why WAV cannot be rendered: "" when it can)."""
    program, font = shutil.which("fluidsynth"), find_soundfont()
    missing = []
    if program is None:
        missing.append("the fluidsynth program (apt-get install fluidsynth)")
    if font is None:
        missing.append(
            f"a General MIDI soundfont (pip install pretty_midi, which ships one, or set "
            f"{SOUNDFONT_ENV}=/path/to/font.sf2)"
        )
    return program, font, " and ".join(missing)


def render_wav(midi: str | Path, wav: str | Path, rate: int = 22050) -> None:
    """Render a MIDI file to a WAV offline with fluidsynth; UsageError naming what is missing."""
    program, font, missing = wav_tools()
    if missing:
        raise UsageError(f"--wav needs {missing}")
    cmd = [str(program), "-ni", "-g", "1.0", "-F", str(wav), "-r", str(rate), str(font), str(midi)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not Path(wav).is_file():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataError(f"fluidsynth could not render {str(wav)!r}: {last[0]}")
