"""The state contract of a loaded model, checked with the runtime alone (no torch, no onnx).

Whatever produced a graph, a stream over it must behave like one recurrent model:

- ``shapes``: outputs and states have the signature's shapes at batch 3 and length 2;
- ``steps == chunk``: T single steps give what one chunk of T gives;
- ``chunks 1/3/7``: any chunking of the same inputs gives the same outputs;
- ``reset == fresh``: a reset stream is a fresh stream, bit for bit;
- ``batch independence``: a stream's outputs do not change when another stream shares the
  graph call (batch 2 vs batch 1);
- ``snapshot/restore``: a restored snapshot continues bit-identically.

A window model (``signature.causal`` False, e.g. bidirectional) has no state to step; it gets
``check_window_contract`` instead: window shapes, ``window re-run == graph`` (each
``WindowStream`` step gives the graph's forecast on that window) and batch independence.

Inputs are random, in the user's units (the input scaler's offset + scale * N(0, 1)).
Errors are in model units (forecast differences divided by the target scaler's scale,
float32 rounding of the user-unit values not counted), so one tolerance serves any data
scale; "bit-identical" checks compare raw values with tolerance 0.
"""

from edgernn.checks.graph import check_graph_contract, check_window_contract
from edgernn.checks.report import TOLERANCE, Check, VerifyReport, tolerance_for, user_inputs
from edgernn.checks.stream import check_contract

__all__ = [
    "TOLERANCE",
    "Check",
    "VerifyReport",
    "check_contract",
    "check_graph_contract",
    "check_window_contract",
    "tolerance_for",
    "user_inputs",
]
