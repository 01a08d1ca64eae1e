"""Scale-out on Apache Flink: the same models and per-key state on a Flink cluster.

Only ``operators`` and ``job`` touch PyFlink, and only when a job is built: importing
``edgernn.flink`` (or ``edgernn.flink.config``, ``keystate``, ``steps``, ``template``) never
loads it, so the runtime and its CLI stay light without the ``flink`` extra.

>>> from edgernn.flink import pyflink_missing
>>> pyflink_missing() in (None, "pyflink") or pyflink_missing()
True
"""

from __future__ import annotations

import importlib.util
import shutil


def pyflink_missing() -> str | None:
    """What a Flink job needs and this environment lacks ("pyflink", "java"), or None."""
    try:
        if importlib.util.find_spec("pyflink") is None:
            return "pyflink"
    except ImportError:
        return "pyflink"
    if shutil.which("java") is None:
        return "java"
    return None
