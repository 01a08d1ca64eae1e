"""Command-line values every ``edgernn train`` command parses the same way. Torch-free, so the
CLI can check options before PyTorch loads.

>>> parse_hidden("64,64,32")
(64, 64, 32)
>>> parse_hidden("64,x")
Traceback (most recent call last):
...
edgernn.errors.UsageError: --hidden '64,x': 'x' is not a positive integer; give layer sizes ...
>>> parse_names("temp, humidity", "--features")
('temp', 'humidity')
"""

from __future__ import annotations

from edgernn.errors import UsageError


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"64,64,32"`` -> (64, 64, 32); UsageError on anything but positive integers."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise UsageError(
                f"--hidden {text!r}: {part!r} is not a positive integer; "
                "give layer sizes like 64,64"
            )
        sizes.append(int(part))
    return tuple(sizes)


def parse_names(text: str | None, option: str) -> tuple[str, ...]:
    """``"temp, humidity"`` -> ("temp", "humidity"); None or "" -> (); no empty or repeated
    names."""
    if not text:
        return ()
    names = tuple(n.strip() for n in text.split(","))
    if any(not n for n in names):
        raise UsageError(
            f"{option} {text!r} has an empty name; give column names like temp,humidity"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{option} {text!r} names {', '.join(dupes)} twice; give each column once")
    return names
