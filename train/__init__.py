"""The training side (the train extra: torch, onnx). Read it from ``registry``: one entry per
task (forecast, generate, classify, seq2seq) says how that task trains, saves, exports and
verifies. The shared parts: ``loop`` (the one trainer), ``checkpoint`` (save and load),
``publish`` (what a train command writes), ``export`` (the verified ONNX exporter, parity,
int8 / fp16, verify) and the per-task packages ``forecast``, ``classify``, ``charlm``,
``seq2seq``."""
