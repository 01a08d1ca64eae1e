"""Key identity: which records belong to the same series.

A key is its JSON value's type and text: the number ``1``, the string ``"1"`` and ``true``
are three keys, as are ``1`` and ``1.0`` (numbers are compared as Python reads them back, so
``1.0`` and ``1e0`` are one key). CSV cells and MQTT topic levels are text, so their keys are
strings. Inside the runtime (the pool, the state directory, the sink's topics) a key is one
string, ``key_id(value)``: a string key is itself (what state directories always held), any
other value is a NUL character and its JSON text, and a string that itself starts with NUL
gets a second one, so distinct keys never share an id. Outputs carry the value back
(``key_value``): ``"key": 1`` and ``"key": "1"``.

>>> [key_id(v) for v in ("1", 1, 1.0, True, "\\x001")]
['1', '\\x001', '\\x001.0', '\\x00true', '\\x00\\x001']
>>> [key_value(key_id(v)) for v in ("1", 1, True, "\\x001")]
['1', 1, True, '\\x001']

Text that is not valid UTF-8 (read as lone surrogates, ``surrogateescape``) is not a key: the
record is rejected with that reason, so two different invalid byte strings never merge.

>>> key_id("caf\\udce9")
Traceback (most recent call last):
...
edgernn.errors.RecordError: key 'caf\\udce9' is not valid UTF-8; send the key as UTF-8 text
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from edgernn.errors import RecordError

TAG = "\x00"  # starts the id of a key that is not a string (and escapes a string starting so)
_SURROGATE = re.compile("[\ud800-\udfff]")  # what undecodable bytes become (surrogateescape)


def key_id(value: Any) -> str:
    """The one string that names the series of a JSON key value (see the module)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise RecordError(f"key {value[:40]!r} is not valid UTF-8; send the key as UTF-8 text")
        return TAG + value if value.startswith(TAG) else value
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"key {value!r} is not a finite number")
    if not isinstance(value, (int, float)):  # bool is an int
        raise RecordError(f"a key must be text, a number or true/false, not {type(value).__name__}")
    return TAG + json.dumps(value)  # ValueError for an int over 4300 digits


def key_value(ident: str) -> Any:
    """The JSON value ``key_id`` made ``ident`` from: what an output line's ``key`` holds."""
    if not ident.startswith(TAG):
        return ident
    rest = ident[1:]
    return rest if rest.startswith(TAG) else json.loads(rest)
