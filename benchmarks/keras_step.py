"""Step latency of an imported Keras model: edgernn's stream vs Keras stepping the same
stateful model, one sample per call (the way a Keras lesson streams).

    python benchmarks/keras_step.py [--hidden 64,64] [--steps 2000] [--tensorflow PYTHON]

Builds a stateful Keras LSTM (batch_shape (1, 1, 2), Dense(1) head) on the torch backend
(KERAS_BACKEND=torch unless set), saves it as .keras, imports it with ``edgernn import keras``
and times, per step: ``Stream.step`` (scaling included), Keras ``predict_on_batch``, a direct
``model(x)`` call (the backend's compiled-less fast path; under TensorFlow this is where a
``tf.function`` would go) and ``model.predict``. Prints a Markdown table (median and p99 in
microseconds, and the ratio to edgernn's median) and checks the outputs agree.

``--tensorflow PYTHON``: also time the same saved model under Keras on the TensorFlow backend
(``predict_on_batch`` and a ``tf.function`` call), in a subprocess of PYTHON, an environment
with tensorflow-cpu (``--keras-side`` is that subprocess: Keras alone, no edgernn).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread everywhere, as edgernn's own benchmarks
os.environ.setdefault("KERAS_BACKEND", "torch")

import json  # noqa: E402
import subprocess  # noqa: E402

import numpy as np  # noqa: E402


def timed(fn, n: int) -> np.ndarray:
    """Microseconds per call of ``fn(i)`` for i in range(n)."""
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        fn(i)
        out[i] = (time.perf_counter_ns() - t0) / 1e3
    return out


def keras_side(path: str, n: int) -> None:
    """Time Keras alone on its configured backend; JSON {name: [us, ...]} on stdout."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)  # before TF starts
        tf.config.threading.set_inter_op_parallelism_threads(1)
    model = keras.saving.load_model(path, compile=False)
    xs = np.random.default_rng(0).normal(size=(n, 1, 1, 2)).astype(np.float32)
    for i in range(50):
        model.predict_on_batch(xs[i])
    out = {"predict_on_batch": timed(lambda i: model.predict_on_batch(xs[i]), n).tolist()}
    if keras.backend.backend() == "tensorflow":
        call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        for i in range(50):
            call(xs[i])
        out["tf.function"] = timed(lambda i: call(xs[i]), n).tolist()
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", default="64,64", help="LSTM widths, bottom to top")
    ap.add_argument("--steps", type=int, default=2000, help="edgernn steps timed")
    ap.add_argument("--tensorflow", default=None, help="python of an env with tensorflow-cpu")
    ap.add_argument("--keras-side", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.keras_side:
        return keras_side(args.keras_side, min(args.steps, 500))
    import keras
    import torch

    import edgernn
    from edgernn.train.keras.convert import Options, import_keras

    torch.set_num_threads(1)
    hidden = [int(h) for h in args.hidden.split(",")]
    stack = [keras.Input(batch_shape=(1, 1, 2))]
    stack += [keras.layers.LSTM(h, stateful=True, return_sequences=True) for h in hidden]
    model = keras.Sequential([*stack, keras.layers.Dense(1)])
    folder = Path(tempfile.mkdtemp())
    model.save(folder / "m.keras")
    import_keras(
        folder / "m.keras",
        folder / "m.onnx",
        Options(features=("temp", "humidity"), targets=("temp",)),
    )
    stream = edgernn.load(folder / "m.onnx", provider="cpu").stream()
    rows = np.random.default_rng(0).normal(size=(args.steps, 2)).astype(np.float32)
    lists = rows.tolist()
    xs = rows[:, None, None, :]  # (N, 1, 1, 2): one Keras batch per step

    n_keras = min(args.steps, 500)
    for i in range(50):  # warm both up; then compare the first 200 fresh steps
        stream.step(lists[i])
        model.predict_on_batch(xs[i])
    stream.reset()
    model.layers[0].reset_states()
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_states()
    ours = [stream.step(lists[i]).forecast["temp"] for i in range(200)]
    theirs = [float(model.predict_on_batch(xs[i])[0, 0, 0]) for i in range(200)]
    worst = float(np.max(np.abs(np.array(ours) - np.array(theirs))))

    results = {"edgernn `Stream.step`": timed(lambda i: stream.step(lists[i]), args.steps)}
    results["Keras `predict_on_batch`"] = timed(lambda i: model.predict_on_batch(xs[i]), n_keras)
    tensors = [torch.from_numpy(x) for x in xs[:n_keras]]
    with torch.no_grad():
        results["Keras `model(x)` (torch, no_grad)"] = timed(lambda i: model(tensors[i]), n_keras)
    results["Keras `model.predict`"] = timed(lambda i: model.predict(xs[i], verbose=0), 30)
    if args.tensorflow:
        env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
        cmd = [args.tensorflow, __file__, "--keras-side", str(folder / "m.keras")]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        tf_times = json.loads(r.stdout.strip().splitlines()[-1])
        for name, us in tf_times.items():
            results[f"Keras on TensorFlow `{name}`"] = np.array(us)

    base = float(np.median(results["edgernn `Stream.step`"]))
    print(
        f"LSTM {args.hidden} + Dense(1), stateful, batch 1; keras {keras.__version__} "
        f"(backend {keras.backend.backend()}), torch {torch.__version__}; "
        f"python {sys.version.split()[0]}; max |edgernn - Keras| over 200 steps {worst:.1e}"
    )
    print("\n| per step | median us | p99 us | x edgernn |\n|---|---|---|---|")
    for name, us in results.items():
        med = float(np.median(us))
        print(f"| {name} | {med:.1f} | {np.percentile(us, 99):.1f} | {med / base:.1f}x |")


if __name__ == "__main__":
    main()
