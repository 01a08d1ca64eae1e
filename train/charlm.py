"""Character-level language model: embedding + stacked LSTM + linear head, trained and exported.

``CharLM.forward(tokens, *states)`` takes the recurrent state as plain tensors and returns
the new state next to the logits, the same streaming contract as ``Forecaster``: the
exporter turns each state into ``state_in.N`` / ``state_out.N``. The default corpus is
Python's own documentation text (``pydoc_data.topics``), available offline everywhere.

>>> corpus = Corpus.from_text("abracadabra " * 50, vocab_size=4, val_frac=0.1)
>>> corpus.vocab, len(corpus.train) + len(corpus.val)
(('<unk>', 'a', 'b', 'r', ' '), 600)
"""

from __future__ import annotations

import collections
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgernn.errors import DataError, UsageError
from edgernn.signature import Scaler, Signature, StateSpec, TensorSpec, Tokenizer
from edgernn.train.checkpoint import load_module, save_module
from edgernn.train.models import native_kernels
from edgernn.train.steps import StepTrainer

KIND = "charlm"  # checkpoint kind (format and version: edgernn.train.checkpoint)
UNK = "<unk>"


@dataclass
class CharLMConfig:
    """Model size and training settings of a character LM."""

    vocab_size: int = 97  # token ids in [0, vocab_size), "<unk>" included (set from the corpus)
    embed: int = 64  # embedding width
    hidden: tuple[int, ...] = (256, 256)  # hidden size of each stacked LSTM layer, bottom to top
    corpus: str = "pydoc"  # "pydoc" (pydoc_data.topics) or the path of a UTF-8 text file
    max_vocab: int = 96  # most frequent training characters kept (plus "<unk>")
    window: int = 128  # characters per training window
    val_frac: float = 0.1  # the text's last share, held out for validation
    steps: int = 2000  # optimizer steps
    batch_size: int = 32  # windows per optimizer step
    lr: float = 2e-3  # Adam learning rate (cosine-decayed to 10% over the steps)
    clip: float = 1.0  # max gradient norm (0 = off)
    eval_windows: int = 64  # validation windows (batches of batch_size) for the final val loss
    seed: int = 0  # seed for numpy and torch
    quiet: bool = False  # no progress bar

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if not self.hidden or min(self.hidden) < 1 or self.embed < 1:
            raise UsageError(
                f"--hidden and --embed must be positive, got {self.hidden} and {self.embed}"
            )
        for name in ("window", "steps", "batch_size", "max_vocab"):
            if getattr(self, name) < 1:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 < self.val_frac < 1:
            raise UsageError(f"val_frac must be in (0, 1), got {self.val_frac}")

    def to_dict(self) -> dict:
        return asdict(self)


class CharLM(nn.Module):
    """Token ids -> next-token logits, with explicit LSTM state per layer (h, c)."""

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        sizes_in = (config.embed,) + config.hidden[:-1]
        self.layers = nn.ModuleList(
            nn.LSTM(i, h, batch_first=True) for i, h in zip(sizes_in, config.hidden)
        )
        self.head = nn.Linear(config.hidden[-1], config.vocab_size)

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state: per layer (1, B, H) hidden then cell."""
        return [torch.zeros(1, batch, h) for h in self.config.hidden for _ in range(2)]

    def state_shapes(self) -> list[tuple]:
        """Symbolic state shapes, e.g. (1, "batch", 256), in graph order."""
        return [(1, "batch", h) for h in self.config.hidden for _ in range(2)]

    def forward(self, tokens: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """tokens: (B, T) int64 -> (logits (B, T, V), *new_states)."""
        if not states:
            states = tuple(self.initial_state(tokens.shape[0]))
        h = self.embed(tokens)  # (B, T, E)
        new_states: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            h, (hn, cn) = layer(h, (states[2 * i], states[2 * i + 1]))  # (B, T, H)
            new_states += [hn, cn]
        return (self.head(h), *new_states)  # (B, T, V)


# ---- corpus --------------------------------------------------------------------------------
@dataclass
class Corpus:
    """A text split chronologically into train / val token ids, with its vocabulary."""

    vocab: tuple[str, ...]  # id -> character; id 0 is "<unk>"
    train: np.ndarray  # (N_train,) int64
    val: np.ndarray  # (N_val,) int64
    source: str = "text"  # where the text came from
    unknown: dict = field(default_factory=dict)  # unknown-character counts per split

    @classmethod
    def from_text(
        cls, text: str, vocab_size: int = 96, val_frac: float = 0.1, source: str = "text"
    ) -> Corpus:
        """Vocabulary = the ``vocab_size`` most frequent training characters (ties by first use) plus "<unk>"."""
        cut = int(len(text) * (1 - val_frac))
        counts = collections.Counter(text[:cut])
        vocab = (UNK, *(c for c, _ in counts.most_common(vocab_size)))
        tok = Tokenizer("char", vocab, UNK)
        train, val = (np.array(tok.encode(t), dtype=np.int64) for t in (text[:cut], text[cut:]))
        return cls(
            vocab,
            train,
            val,
            source,
            {"train": int((train == 0).sum()), "val": int((val == 0).sum())},
        )

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer("char", self.vocab, UNK)


def read_corpus(name: str) -> tuple[str, str]:
    """(text, description): "pydoc" = every pydoc_data topic, in sorted key order; else a UTF-8 file."""
    if name == "pydoc":
        from pydoc_data.topics import topics

        return "".join(
            topics[k] for k in sorted(topics)
        ), "pydoc_data.topics.topics (Python's documentation text), sorted keys"
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(
            f"--corpus {name!r} does not exist; pass 'pydoc' or the path of a UTF-8 text file"
        ) from e
    except UnicodeDecodeError as e:
        raise DataError(
            f"--corpus {name!r} is not UTF-8 text; convert it (e.g. iconv -t utf-8)"
        ) from e
    return text, str(path)


def windows(
    ids: np.ndarray, batch: int, window: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random contiguous windows: inputs (B, W) and next-character targets (B, W)."""
    if len(ids) < window + 2:
        raise DataError(
            f"the text split has {len(ids)} characters, fewer than --window {window} + 2; use a longer text or a smaller --window"
        )
    starts = rng.integers(0, len(ids) - window - 1, size=batch)
    idx = starts[:, None] + np.arange(window + 1)  # (B, W + 1)
    chunk = torch.from_numpy(ids[idx])
    return chunk[:, :-1], chunk[:, 1:]


# ---- training ------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: CharLM
    corpus: Corpus
    metrics: dict  # train/val loss (nats per char), val bits per char, seconds


def evaluate(
    model: CharLM, ids: np.ndarray, config: CharLMConfig, rng: np.random.Generator
) -> float:
    """Mean cross-entropy (nats per character) over ``eval_windows`` random windows."""
    model.eval()
    losses = []
    with native_kernels(), torch.no_grad():
        for _ in range(max(1, config.eval_windows // config.batch_size)):
            x, y = windows(ids, config.batch_size, config.window, rng)
            losses.append(
                float(nn.functional.cross_entropy(model(x)[0].flatten(0, 1), y.flatten()))
            )
    return float(np.mean(losses))


def train_charlm(config: CharLMConfig) -> TrainResult:
    """Seeded Adam training on random windows; progress (tqdm) on stderr."""
    text, source = read_corpus(config.corpus)
    corpus = Corpus.from_text(text, config.max_vocab, config.val_frac, source)
    config.vocab_size = len(corpus.vocab)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = CharLM(config)
    trainer = StepTrainer(model, config.lr, config.steps, config.clip, "charlm", config.quiet)
    start = time.perf_counter()
    with native_kernels():
        for _ in trainer:
            model.train()
            x, y = windows(corpus.train, config.batch_size, config.window, rng)
            trainer.update(
                nn.functional.cross_entropy(model(x)[0].flatten(0, 1), y.flatten())
            )  # nats per char
    seconds = time.perf_counter() - start
    val = evaluate(model, corpus.val, config, np.random.default_rng(config.seed + 1))
    metrics = {
        "train_loss": trainer.running,
        "val_loss": val,
        "val_bits_per_char": val / math.log(2),
        "seconds": round(seconds, 1),
        "steps": config.steps,
    }
    return TrainResult(model.eval(), corpus, metrics)


# ---- signature, checkpoint, export ---------------------------------------------------------
def signature_fields(
    model: CharLM,
    corpus_source: str,
    vocab: tuple[str, ...],
    metrics: dict,
    extra: dict | None = None,
) -> dict:
    """The training-time signature fields of a char LM (export adds states and parity)."""
    cfg = model.config
    return {
        "task": "generate",
        "arch": "lstm",
        "layers": list(cfg.hidden),
        "window": cfg.window,
        "tokenizer": {"kind": "char", "vocab": list(vocab), "unk": UNK},
        "provenance": {
            "data": {"corpus": corpus_source, "vocab_size": len(vocab), **(extra or {})},
            "metrics": metrics,
            "model": {"embed": cfg.embed, "hidden": list(cfg.hidden)},
        },
    }


def save_charlm(path: str | Path, model: CharLM, signature: dict) -> Path:
    """A self-describing checkpoint (``edgernn.train.checkpoint.save_module``)."""
    return save_module(path, KIND, model, signature)


def load_charlm(path: str | Path) -> tuple[CharLM, dict]:
    """(model in eval mode, signature fields); a clear DataError for anything else."""
    return load_module(path, KIND, lambda config: CharLM(CharLMConfig(**config)))


def build_signature(
    model: CharLM, fields: dict, states: tuple[StateSpec, ...], parity: dict, export: dict
) -> Signature:
    """The runtime's signature of an exported char LM."""
    tok = fields["tokenizer"]
    none = Scaler("none", (), ())
    return Signature(
        task="generate",
        arch="lstm",
        layers=tuple(fields["layers"]),
        features=(),
        targets=(),
        states=states,
        input_scaler=none,
        target_scaler=none,
        window=int(fields.get("window", 0)),
        causal=True,
        inputs=(TensorSpec("tokens", ("batch", "time"), "int64"),),
        outputs=(TensorSpec("logits", ("batch", "time", model.config.vocab_size)),),
        tokenizer=Tokenizer(tok["kind"], tuple(tok["vocab"]), tok["unk"]),
        parity=parity,
        provenance={**fields.get("provenance", {}), "export": export},
    )


def export_charlm(model: CharLM, fields: dict, out: str | Path, config=None) -> Signature:
    """Export through the verified exporter with graph names ``tokens`` / ``logits``."""
    from edgernn.train.export import ExportConfig, export_module, parity_record, versions

    # ONNX Runtime is held to 1e-5 like every export. Logits are unnormalised (|logit| ~ 20 on a
    # trained model), and onnx.reference, which accumulates in another order, reached 1.1e-5 on
    # the shipped model from float32 rounding alone: the independent check gets 2e-5.
    config = config or ExportConfig(
        input_name="tokens", output_name="logits", tolerance=1e-5, reference_tolerance=2e-5
    )
    if config.reduction() is not None:
        raise UsageError(
            "--quantize / --precision fp16 are not supported for char LMs yet; export float32"
        )

    def make(names, tried) -> Signature:
        states = tuple(
            StateSpec(i, o, tuple(s))
            for i, o, s in zip(names.state_inputs, names.state_outputs, model.state_shapes())
        )
        signature = build_signature(model, fields, states, parity_record(tried, config), versions())
        return Signature.from_json(signature.to_json())  # exactly what the runtime will read back

    return export_module(model.eval(), out, config, make)


# ---- the `edgernn train charlm` command ----------------------------------------------------
def run_charlm_command(
    *,
    corpus: str,
    hidden: tuple[int, ...],
    embed: int,
    window: int,
    vocab_size: int,
    steps: int,
    epochs: float | None,
    batch_size: int,
    lr: float,
    seed: int,
    out: Path,
    no_export: bool,
    quiet: bool,
) -> dict:
    """Train, save OUT/checkpoint.pt, export OUT/model.onnx (unless ``no_export``), write OUT/report.json."""
    if epochs is not None:
        if epochs <= 0:
            raise UsageError(f"--epochs must be > 0, got {epochs}")
        text, _ = read_corpus(corpus)
        steps = max(1, round(epochs * len(text) * 0.9 / (batch_size * window)))
    config = CharLMConfig(
        embed=embed,
        hidden=hidden,
        corpus=corpus,
        max_vocab=vocab_size,
        window=window,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        quiet=quiet,
    )
    result = train_charlm(config)
    c = result.corpus
    extra = {
        "chars": {"train": len(c.train), "val": len(c.val)},
        "unknown_chars": c.unknown,
        "split": "chronological",
    }
    fields = signature_fields(result.model, c.source, c.vocab, result.metrics, extra)
    out.mkdir(parents=True, exist_ok=True)
    files = {"checkpoint": str(save_charlm(out / "checkpoint.pt", result.model, fields))}
    report = {
        "task": "generate",
        "arch": "lstm",
        "layers": list(hidden),
        "corpus": c.source,
        "vocab_size": len(c.vocab),
        "chars": extra["chars"],
        "metrics": result.metrics,
        "config": config.to_dict(),
        "files": files,
    }
    if not no_export:
        t0 = time.perf_counter()
        sig = export_charlm(result.model, fields, out / "model.onnx")
        files["onnx"] = str(out / "model.onnx")
        report["export"] = {"parity": sig.parity, "seconds": round(time.perf_counter() - t0, 1)}
    files["report"] = str(out / "report.json")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
