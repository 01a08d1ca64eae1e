"""The heart: a loaded model (one ONNX Runtime session) and the stream state it runs.

- model: ``Model`` and ``load``; protocols: ``LoadedModel``, what the rest needs of a model
- stream (one series), window (a non-causal model on a live feed), pool (many keyed streams)
- buffers (a stream's pre-bound step I/O), slabs and extras (a pool's state and per-slot
  arrays), binding (pre-bound graph calls), views (flat memoryviews for the hot paths)
- rows (one step's input, checked), anomaly (residual statistics), snapshot (saved state)
- providers and placement (where the graph runs), latency (percentiles for reports)
"""
