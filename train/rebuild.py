"""Rebuild the shipped default models and their golden outputs, from nothing but this repo.

    pip install "torch==2.13.0" -e ".[train]"
    python -m edgernn.train.rebuild              # sensor-forecast (as always)
    python -m edgernn.train.rebuild char-lm      # the character LM for `edgernn generate`
    python -m edgernn.train.rebuild music-bach   # the melody model for `edgernn generate --midi`
    python -m edgernn.train.rebuild all          # all three
    python -m edgernn.train.rebuild golden       # sensor-forecast.golden.json only, from the
                                                 # shipped .pt/.onnx

Trains ``sensor-forecast`` with the recipe below (seeded, on the synthetic sensor), exports it
with verified parity, copies ``model.onnx`` and ``checkpoint.pt`` into ``exported/``, and writes
``sensor-forecast.golden.json``: the demo feed's first GOLDEN_STEPS records (exactly what
``edgernn stream --source demo`` reads first, whatever its --limit), the PyTorch
checkpoint's forecasts for them (full sequence, independent of ONNX Runtime) and the runtime's
anomaly scores and flags. ``tests/core/test_golden.py`` holds the runtime to them.

``char-lm`` trains ``edgernn train charlm`` with CHAR_LM_RECIPE (LSTM 2x192 over Python's own
documentation text, ``pydoc_data.topics``; ~6-7 min on 2 cores with OMP_NUM_THREADS=1, which
was faster than 2 threads there), copies ``char-lm.onnx`` / ``.pt`` / ``.report.json`` here and
writes ``char-lm.golden.json``: the prompt, the runtime's greedy continuation and the PyTorch
checkpoint's logits for the prompt. ``tests/tasks/test_generate.py`` holds the runtime to them.

``music-bach`` trains ``edgernn train music`` with MUSIC_RECIPE (a GRU over the melodies of
the Bach chorales in music21's corpus, with the train and music extras; OMP_NUM_THREADS=1),
copies ``music-bach.onnx`` / ``.pt`` / ``.report.json`` here and writes
``music-bach.golden.json``: a prompt, PyTorch's logits for it, and the runtime's greedy and
seeded sampled continuations. ``tests/tasks/test_music_golden.py`` holds the runtime to them.
"""

from __future__ import annotations

import json
import shutil
import sys
from importlib import resources
from pathlib import Path

import numpy as np

# the repository's exported/ (editable install)
HERE = Path(str(resources.files("edgernn.exported")))
NAME = "sensor-forecast"
GOLDEN_STEPS = 400
RECIPE = [  # edgernn train forecast ...
    "--data",
    "synth:sensor?n=20000&seed=0",
    "--features",
    "temp,humidity",
    "--target",
    "temp",
    "--window",
    "50",
    "--arch",
    "lstm",
    "--hidden",
    "32,32",
    "--epochs",
    "30",
    # how the shipped model was trained, before the highway and stateful training (#12); its
    # epoch is now chosen on the streamed validation loss
    "--train-mode",
    "windows",
    "--no-highway",
    "--target-mode",
    "level",
    "--season",
    "none",
    "--patience",
    "5",
    "--seed",
    "0",
    "--out",
    f"runs/{NAME}",
]


CHAR_LM = "char-lm"
CHAR_LM_RECIPE = [  # edgernn train charlm ...
    "--corpus",
    "pydoc",
    "--hidden",
    "192,192",
    "--embed",
    "64",
    "--window",
    "128",
    "--vocab-size",
    "96",
    "--steps",
    "2000",
    "--batch-size",
    "32",
    "--lr",
    "2e-3",
    "--seed",
    "0",
    "--out",
    f"runs/{CHAR_LM}",
]
CHAR_LM_PROMPT, CHAR_LM_GREEDY = "The ", 80

MUSIC = "music-bach"
MUSIC_RECIPE = [  # edgernn train music ...
    "--data",
    "corpus:bach",
    "--arch",
    "gru",
    "--hidden",
    "128,128",
    "--embed",
    "32",
    "--window",
    "64",
    "--steps",
    "1500",
    "--batch-size",
    "32",
    "--lr",
    "3e-3",
    "--seed",
    "0",
    "--out",
    f"runs/{MUSIC}",
]
# the golden prompt: the opening of the chorale tune "Ein feste Burg", in C, as note events
MUSIC_PROMPT = [(72, 1.0), (72, 1.0), (72, 1.0), (67, 1.0), (69, 1.0), (71, 1.0), (72, 2.0)]
MUSIC_EVENTS, MUSIC_SEED, MUSIC_TEMPERATURE = 48, 3, 0.9


def train(task: str = "forecast", recipe: list[str] = RECIPE, name: str = NAME) -> Path:
    from click.testing import CliRunner

    from edgernn.cli import main

    result = CliRunner().invoke(main, ["train", task, *recipe], catch_exceptions=False)
    print(result.stdout, result.stderr, sep="\n")
    if result.exit_code != 0:
        raise SystemExit(result.exit_code)
    out = Path(recipe[recipe.index("--out") + 1])
    return ship(out, name)


def ship(out: Path, name: str) -> Path:
    """Copy a training run's model.onnx, checkpoint.pt and report.json here under ``name``."""
    shutil.copy(out / "model.onnx", HERE / f"{name}.onnx")
    shutil.copy(out / "checkpoint.pt", HERE / f"{name}.pt")
    shutil.copy(out / "report.json", HERE / f"{name}.report.json")
    return HERE / f"{name}.pt"


def golden(checkpoint: Path) -> dict:
    import torch

    import edgernn
    from edgernn.feeds.files import DEMO_SEED, demo_records
    from edgernn.train.cells import native_kernels
    from edgernn.train.registry import load_checkpoint

    model = edgernn.load(HERE / f"{NAME}.onnx", provider="cpu")
    sig = model.signature
    records = [r for _, r in demo_records(GOLDEN_STEPS)]
    rows = np.array([[r[f] for f in sig.features] for r in records], dtype=np.float32)  # (T, F)
    ckpt = load_checkpoint(checkpoint)
    with native_kernels(), torch.no_grad():
        y = ckpt.model(torch.from_numpy(sig.input_scaler.transform(rows)[None]))[0][
            0
        ].numpy()  # (T, K)
    s = model.stream()
    steps = [s.step(r) for r in rows]
    return {
        "description": (
            f"The demo feed's first {GOLDEN_STEPS} records (edgernn.sources.demo_records: the "
            "first "
            f"{GOLDEN_STEPS} lines `edgernn stream --source demo` reads, seed {DEMO_SEED}) in "
            "feature order, "
            "the PyTorch checkpoint's next-step forecasts for them (one full-sequence pass from a "
            "zero "
            "state), and the runtime's anomaly scores and flags when stepping them one by one. "
            "Written by "
            "python -m edgernn.exported.rebuild golden; checked by tests/runtime/test_golden.py."
        ),  # as first written (old module names): the file stays byte-identical
        "model_id": model.model_id,
        "features": list(sig.features),
        "targets": list(sig.targets),
        "inputs": rows.tolist(),
        "torch_forecast": sig.target_scaler.inverse(y).tolist(),
        "anomaly_score": [r.anomaly_score for r in steps],
        "anomaly": [r.anomaly for r in steps],
    }


def char_lm_golden(checkpoint: Path) -> dict:
    """The runtime's greedy continuation of the prompt and PyTorch's logits for the prompt."""
    import torch

    import edgernn
    from edgernn.tasks.generate import Generator
    from edgernn.train.cells import native_kernels
    from edgernn.train.registry import load_checkpoint

    model = edgernn.load(HERE / f"{CHAR_LM}.onnx", provider="cpu")
    gen = Generator(model)
    ids = model.signature.tokenizer.encode(CHAR_LM_PROMPT)
    net = load_checkpoint(checkpoint, "charlm").model
    with native_kernels(), torch.no_grad():
        logits = net(torch.tensor([ids], dtype=torch.int64))[0][0].numpy()  # (T, V)
    return {
        "model_id": model.model_id,
        "prompt": CHAR_LM_PROMPT,
        "prompt_ids": ids,
        "greedy": "".join(gen.generate(CHAR_LM_PROMPT, CHAR_LM_GREEDY, temperature=0.0)),
        "torch_logits": logits.tolist(),
    }


def music_golden(checkpoint: Path) -> dict:
    """PyTorch's logits for <bos> + the prompt, and the runtime's greedy and seeded sampled
    continuations of it (as event tokens)."""
    import torch

    import edgernn
    from edgernn.tasks.music import BOS, MusicGenerator, Note, token_of
    from edgernn.train.cells import native_kernels
    from edgernn.train.registry import load_checkpoint

    gen = MusicGenerator(edgernn.load(HERE / f"{MUSIC}.onnx", provider="cpu"))
    prompt = [Note(p, q) for p, q in MUSIC_PROMPT]
    ids = [gen.ids[BOS], *gen.encode(prompt).tolist()]
    net = load_checkpoint(checkpoint, "music").model
    with native_kernels(), torch.no_grad():
        logits = net(torch.tensor([ids], dtype=torch.int64))[0][0].numpy()  # (T, V)

    def tokens(**options: float) -> list[str]:
        return [token_of(n) for n in gen.notes(prompt, MUSIC_EVENTS, **options)]  # type: ignore[arg-type]

    return {
        "model_id": gen.model.model_id,
        "prompt": [token_of(n) for n in prompt],
        "prompt_ids": ids,
        "torch_logits": logits.tolist(),
        "greedy": tokens(temperature=0.0),
        "sampled": {
            "temperature": MUSIC_TEMPERATURE,
            "seed": MUSIC_SEED,
            "events": tokens(temperature=MUSIC_TEMPERATURE, seed=MUSIC_SEED),
        },
    }


def rebuild_sensor_forecast(train_first: bool = True) -> None:
    checkpoint = train() if train_first else HERE / f"{NAME}.pt"
    path = HERE / f"{NAME}.golden.json"
    path.write_text(json.dumps(golden(checkpoint)) + "\n")
    print(f"wrote {HERE / (NAME + '.onnx')} and {path}" if train_first else f"wrote {path}")


def rebuild_char_lm(train_first: bool = True) -> None:
    checkpoint = train("charlm", CHAR_LM_RECIPE, CHAR_LM) if train_first else HERE / f"{CHAR_LM}.pt"
    path = HERE / f"{CHAR_LM}.golden.json"
    path.write_text(json.dumps(char_lm_golden(checkpoint)) + "\n")
    print(f"wrote {HERE / (CHAR_LM + '.onnx')} and {path}")


def rebuild_music(train_first: bool = True) -> None:
    checkpoint = train("music", MUSIC_RECIPE, MUSIC) if train_first else HERE / f"{MUSIC}.pt"
    path = HERE / f"{MUSIC}.golden.json"
    path.write_text(json.dumps(music_golden(checkpoint)) + "\n")
    print(f"wrote {HERE / (MUSIC + '.onnx')} and {path}")


def main(argv: list[str] | None = None) -> None:
    """``rebuild [sensor-forecast | char-lm | music-bach | all | golden]`` (default
    sensor-forecast)."""
    name = (argv if argv is not None else sys.argv[1:] or [NAME])[0]
    builders = {
        NAME: [rebuild_sensor_forecast],
        CHAR_LM: [rebuild_char_lm],
        MUSIC: [rebuild_music],
        "all": [rebuild_sensor_forecast, rebuild_char_lm, rebuild_music],
        "golden": [lambda: rebuild_sensor_forecast(train_first=False)],
    }
    if name not in builders:
        raise SystemExit(f"unknown model {name!r}; choose one of {', '.join(builders)}")
    for build in builders[name]:
        build()


if __name__ == "__main__":
    main()
