"""The heart: a loaded model (one ONNX Runtime session) and the stream state it runs.

model, buffers (bound step I/O), stream, window, pool and slabs (many keyed streams),
snapshot (saved state), anomaly (residual statistics), providers and placement.
"""
