"""Encoder-decoder seq2seq: embedding + LSTM encoder whose final (h, c) initialises an LSTM
decoder, dense head (softmax at decode time). Trained with teacher forcing, exported as two graphs.

Export writes ``model.onnx``, the decoder *step* graph (task "seq2seq": tokens (B, T) int64 +
(h, c) -> logits (B, T, V) + (h, c), exactly the char LM's contract) and ``model.encoder.onnx``
next to it (tokens (B, T) + zero (h, c) -> hidden (B, T, H) + final (h, c)). Both go through the
verified exporter (``export_module``, ONNX Runtime <= 1e-5 vs PyTorch). The decoder's signature
names the encoder file (``provenance["encoder"]``) and the special tokens (``provenance["special"]``).

Token ids: 0 "<unk>" (also padding), 1 "<s>" (decoder start), 2 "</s>" (end), then characters.

>>> pairs = synth_reverse(3, np.random.default_rng(0))
>>> all(t == s[::-1] and 3 <= len(s) <= 10 and s.isdigit() for s, t in pairs)
True
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgernn.errors import DataError, UsageError
from edgernn.signature import Scaler, Signature, StateSpec, TensorSpec, Tokenizer
from edgernn.train.checkpoint import load_module, save_module
from edgernn.train.models import native_kernels
from edgernn.train.steps import StepTrainer

KIND = "seq2seq"  # checkpoint kind (format and version: edgernn.train.checkpoint)
UNK, BOS, EOS = "<unk>", "<s>", "</s>"
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
SYNTH = "synth:reverse"


@dataclass
class Seq2SeqConfig:
    """Model size and training settings."""

    vocab_size: int = 16  # set from the data (specials included)
    embed: int = 32
    hidden: int = 64
    shared_embedding: bool = True  # one embedding table for source and target tokens
    data: str = SYNTH  # "synth:reverse" or a two-column CSV/TSV (source, target)
    synth_pairs: int = 2000  # synth:reverse: pairs generated (train + val)
    val_frac: float = 0.1
    steps: int = 1500
    batch_size: int = 64
    lr: float = 5e-3
    clip: float = 1.0
    seed: int = 0
    quiet: bool = False

    def __post_init__(self) -> None:
        for name in ("embed", "hidden", "steps", "batch_size", "synth_pairs"):
            if int(getattr(self, name)) < 1:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 < self.val_frac < 1:
            raise UsageError(f"val_frac must be in (0, 1), got {self.val_frac}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _GraphConfig:
    vocab_size: int
    n_outputs: int


class Seq2SeqNet(nn.Module):
    """Source ids -> encoder (h, c) -> decoder logits over the target vocabulary."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        v, e, h = config.vocab_size, config.embed, config.hidden
        self.src_embed = nn.Embedding(v, e)
        self.tgt_embed = self.src_embed if config.shared_embedding else nn.Embedding(v, e)
        self.encoder = nn.LSTM(e, h, batch_first=True)
        self.decoder = nn.LSTM(e, h, batch_first=True)
        self.head = nn.Linear(h, v)

    def zeros(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(1, batch, self.config.hidden)
        return z, z.clone()

    def encode(
        self, src: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) -> final (h, c) each (1, B, H); ``lengths`` reads padded rows at their last real step."""
        emb = self.src_embed(src)
        if lengths is not None:
            emb = nn.utils.rnn.pack_padded_sequence(
                emb, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
        _, (h, c) = self.encoder(emb, self.zeros(src.shape[0]))
        return h, c

    def decode(
        self, tgt_in: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Teacher-forced decoder: tgt_in (B, T) -> (logits (B, T, V), h, c)."""
        out, (h, c) = self.decoder(self.tgt_embed(tgt_in), (h, c))
        return self.head(out), h, c

    def forward(self, src, lengths, tgt_in):
        return self.decode(tgt_in, *self.encode(src, lengths))[0]

    def graphs(self) -> tuple[EncoderGraph, DecoderGraph]:
        return EncoderGraph(self), DecoderGraph(self)


class _Graph(nn.Module):
    def __init__(self, net: Seq2SeqNet, n_outputs: int):
        super().__init__()
        self.net = net
        self.config = _GraphConfig(net.config.vocab_size, n_outputs)

    def state_shapes(self) -> list[tuple]:
        return [(1, "batch", self.net.config.hidden)] * 2


class EncoderGraph(_Graph):
    """Exported encoder: tokens (B, T) + (h, c) (zeros for a fresh line) -> hidden (B, T, H), h, c."""

    def __init__(self, net: Seq2SeqNet):
        super().__init__(net, net.config.hidden)

    def forward(self, tokens, *states):
        out, (h, c) = self.net.encoder(self.net.src_embed(tokens), (states[0], states[1]))
        return out, h, c


class DecoderGraph(_Graph):
    """Exported decoder step graph: tokens (B, T) + (h, c) -> logits (B, T, V), h, c."""

    def __init__(self, net: Seq2SeqNet):
        super().__init__(net, net.config.vocab_size)

    def forward(self, tokens, *states):
        return self.net.decode(tokens, states[0], states[1])


# ---- data ----------------------------------------------------------------------------------
def synth_reverse(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``n`` random digit strings of length 3-10, each paired with its reverse."""
    pairs = []
    for _ in range(n):
        s = "".join(map(str, rng.integers(0, 10, size=int(rng.integers(3, 11)))))
        pairs.append((s, s[::-1]))
    return pairs


def read_pairs(path: str) -> list[tuple[str, str]]:
    """(source, target) rows of a two-column CSV or TSV (tab-separated when the name ends in .tsv
    or the first line has a tab). A first row ``source,target`` is a header and skipped."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(
            f"--data {path!r} does not exist; pass synth:reverse or a two-column CSV/TSV (source, target)"
        ) from e
    except UnicodeDecodeError as e:
        raise DataError(
            f"--data {path!r} is not UTF-8 text; convert it (e.g. iconv -t utf-8)"
        ) from e
    lines = text.splitlines()
    delim = "\t" if p.suffix.lower() == ".tsv" or (lines and "\t" in lines[0]) else ","
    rows = [r for r in csv.reader(lines, delimiter=delim) if r]
    if rows and [c.strip().lower() for c in rows[0]] == ["source", "target"]:
        rows = rows[1:]
    for i, r in enumerate(rows, 1):
        if len(r) != 2 or not r[0] or not r[1]:
            raise DataError(
                f"--data {path!r} row {i} has {len(r)} column(s) ({r!r:.60}); each row must be: source, target (both non-empty)"
            )
    if len(rows) < 2:
        raise DataError(
            f"--data {path!r} has {len(rows)} pair(s); give at least 2 rows of source, target"
        )
    return [(r[0], r[1]) for r in rows]


def load_pairs(config: Seq2SeqConfig) -> tuple[list, list, str]:
    """(train pairs, val pairs, description)."""
    if config.data == SYNTH:
        pairs = synth_reverse(config.synth_pairs, np.random.default_rng(config.seed))
        source = f"{SYNTH} ({config.synth_pairs} pairs, seed {config.seed})"
    elif config.data.startswith("synth:"):
        raise UsageError(f"unknown synthetic task {config.data!r}; the one available is {SYNTH}")
    else:
        pairs = read_pairs(config.data)
        source = config.data
    cut = max(1, min(len(pairs) - 1, int(round(len(pairs) * (1 - config.val_frac)))))
    return pairs[:cut], pairs[cut:], source


def build_vocab(pairs) -> tuple[str, ...]:
    chars = sorted({ch for s, t in pairs for ch in s + t})
    return (UNK, BOS, EOS, *chars)


def tokenizer(vocab) -> Tokenizer:
    return Tokenizer("char", tuple(vocab), UNK)


def batch_tensors(pairs, tok: Tokenizer):
    """(src (B, S), lengths (B,), tgt_in (B, T) = <s> + target, tgt_out (B, T) = target + </s>), padded with 0."""
    src = [tok.encode(s) for s, _ in pairs]
    tgt = [tok.encode(t) for _, t in pairs]
    S, T = max(map(len, src)), max(map(len, tgt)) + 1
    x = torch.zeros(len(pairs), S, dtype=torch.long)
    tin = torch.zeros(len(pairs), T, dtype=torch.long)
    tout = torch.zeros(len(pairs), T, dtype=torch.long)
    for i, (s, t) in enumerate(zip(src, tgt)):
        x[i, : len(s)] = torch.tensor(s)
        tin[i, : len(t) + 1] = torch.tensor([BOS_ID, *t])
        tout[i, : len(t) + 1] = torch.tensor([*t, EOS_ID])
    return x, torch.tensor([len(s) for s in src]), tin, tout


# ---- training ------------------------------------------------------------------------------
@torch.no_grad()
def greedy_torch(net: Seq2SeqNet, text: str, tok: Tokenizer, max_len: int = 50) -> str:
    """Greedy decoding in PyTorch (the reference for the runtime's ``Seq2Seq.greedy``)."""
    ids = tok.encode(text)
    h, c = net.encode(torch.tensor([ids]))
    token, out = BOS_ID, []
    for _ in range(max_len):
        logits, h, c = net.decode(torch.tensor([[token]]), h, c)
        token = int(logits[0, -1].argmax())
        if token == EOS_ID:
            break
        out.append(token)
    return tok.decode(out)


def exact_match(net: Seq2SeqNet, pairs, tok: Tokenizer) -> float:
    net.eval()
    return (
        float(np.mean([greedy_torch(net, s, tok, 2 * len(t) + 5) == t for s, t in pairs]))
        if pairs
        else float("nan")
    )


@dataclass
class TrainResult:
    model: Seq2SeqNet
    vocab: tuple[str, ...]
    metrics: dict
    source: str
    pairs: dict


def train_seq2seq(config: Seq2SeqConfig) -> TrainResult:
    """Seeded Adam with teacher forcing on random batches of training pairs."""
    train, val, source = load_pairs(config)
    vocab = build_vocab(train)
    tok = tokenizer(vocab)
    config.vocab_size = len(vocab)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = Seq2SeqNet(config)
    trainer = StepTrainer(net, config.lr, config.steps, config.clip, "seq2seq", config.quiet)
    start = time.perf_counter()
    with native_kernels():
        for _ in trainer:
            net.train()
            idx = rng.integers(0, len(train), size=min(config.batch_size, len(train)))
            x, lengths, tin, tout = batch_tensors([train[i] for i in idx], tok)
            logits = net(x, lengths, tin)
            trainer.update(
                nn.functional.cross_entropy(
                    logits.flatten(0, 1), tout.flatten(), ignore_index=PAD_ID
                )
            )
        seconds = time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            x, lengths, tin, tout = batch_tensors(val, tok)
            val_loss = float(
                nn.functional.cross_entropy(
                    net(x, lengths, tin).flatten(0, 1), tout.flatten(), ignore_index=PAD_ID
                )
            )
        acc = exact_match(net, val, tok)
    metrics = {
        "train_loss": trainer.running,
        "val_loss": val_loss,
        "val_exact_match": acc,
        "seconds": round(seconds, 1),
        "steps": config.steps,
    }
    lengths = {
        "train": len(train),
        "val": len(val),
        "max_source_len": max(len(s) for s, _ in train),
        "max_target_len": max(len(t) for _, t in train),
    }
    return TrainResult(net.eval(), vocab, metrics, source, lengths)


# ---- signature, checkpoint, export ---------------------------------------------------------
def signature_fields(
    net: Seq2SeqNet, vocab, source: str, metrics: dict, extra: dict | None = None
) -> dict:
    cfg = net.config
    return {
        "task": "seq2seq",
        "arch": "lstm",
        "layers": [cfg.hidden],
        "tokenizer": {"kind": "char", "vocab": list(vocab), "unk": UNK},
        "provenance": {
            "data": {"source": source, "vocab_size": len(vocab), **(extra or {})},
            "metrics": metrics,
            "model": {
                "embed": cfg.embed,
                "hidden": cfg.hidden,
                "shared_embedding": cfg.shared_embedding,
            },
        },
    }


def save_seq2seq(path: str | Path, net: Seq2SeqNet, fields: dict) -> Path:
    """A self-describing checkpoint (``edgernn.train.checkpoint.save_module``)."""
    return save_module(path, KIND, net, fields)


def load_seq2seq(path: str | Path) -> tuple[Seq2SeqNet, dict]:
    """(model in eval mode, signature fields); a clear DataError for anything else."""
    return load_module(path, KIND, lambda config: Seq2SeqNet(Seq2SeqConfig(**config)))


def encoder_path(decoder_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.encoder.onnx`` (same folder)."""
    p = Path(decoder_path)
    return p.with_name(p.stem + ".encoder" + (p.suffix or ".onnx"))


def export_seq2seq(net: Seq2SeqNet, fields: dict, out: str | Path) -> tuple[Signature, Signature]:
    """Write the decoder step graph to ``out`` and the encoder graph next to it; (decoder, encoder) signatures."""
    from edgernn.train.export import ExportConfig, export_module, parity_record, versions

    out = Path(out)
    enc_out = encoder_path(out)
    net = net.eval()
    encoder, decoder = net.graphs()
    tok = fields["tokenizer"]
    none = Scaler("none", (), ())
    hidden = net.config.hidden

    def maker(role: str, output: TensorSpec, config: ExportConfig, extra: dict):
        def make(names, tried) -> Signature:
            states = tuple(
                StateSpec(i, o, (1, "batch", hidden))
                for i, o in zip(names.state_inputs, names.state_outputs)
            )
            sig = Signature(
                task="seq2seq",
                arch="lstm",
                layers=(hidden,),
                features=(),
                targets=(),
                states=states,
                input_scaler=none,
                target_scaler=none,
                causal=True,
                inputs=(TensorSpec("tokens", ("batch", "time"), "int64"),),
                outputs=(output,),
                tokenizer=Tokenizer(tok["kind"], tuple(tok["vocab"]), tok["unk"]),
                parity=parity_record(tried, config),
                provenance={
                    **fields.get("provenance", {}),
                    "role": role,
                    **extra,
                    "special": {"bos": BOS, "eos": EOS, "pad": UNK},
                    "export": versions(),
                },
            )
            return Signature.from_json(sig.to_json())

        return make

    # Verified up to the longest training line (at least 12 steps): an LSTM's cell state grows with
    # the line (|c| ~ 40 after 50 random tokens on synth:reverse), where float32 rounding alone puts
    # ORT 1.5e-5-2.7e-5 off PyTorch in absolute terms; within the trained lengths it is < 1e-5.
    data = fields.get("provenance", {}).get("data", {})
    src_len, tgt_len = (
        max(12, int(data.get("max_source_len", 50))),
        max(12, int(data.get("max_target_len", 50)) + 1),
    )
    common = dict(input_name="tokens", tolerance=1e-5, reference_tolerance=2e-5)
    enc_cfg = ExportConfig(
        output_name="hidden", verify_shapes=((1, 1), (1, src_len), (4, 7)), **common
    )
    dec_cfg = ExportConfig(
        output_name="logits", verify_shapes=((1, 1), (1, tgt_len), (4, 7)), **common
    )
    enc_sig = export_module(
        encoder,
        enc_out,
        enc_cfg,
        maker(
            "encoder",
            TensorSpec("hidden", ("batch", "time", hidden)),
            enc_cfg,
            {"decoder": out.name},
        ),
    )
    dec_sig = export_module(
        decoder,
        out,
        dec_cfg,
        maker(
            "decoder",
            TensorSpec("logits", ("batch", "time", net.config.vocab_size)),
            dec_cfg,
            {"encoder": enc_out.name},
        ),
    )
    return dec_sig, enc_sig


# ---- the `edgernn train seq2seq` command ---------------------------------------------------
def run_seq2seq_command(
    *,
    data: str,
    hidden: int,
    embed: int,
    separate_embeddings: bool,
    pairs: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    out: Path,
    no_export: bool,
    quiet: bool,
) -> dict:
    """Train, save OUT/checkpoint.pt, export OUT/model.onnx + OUT/model.encoder.onnx, write OUT/report.json."""
    config = Seq2SeqConfig(
        embed=embed,
        hidden=hidden,
        shared_embedding=not separate_embeddings,
        data=data,
        synth_pairs=pairs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        quiet=quiet,
    )
    result = train_seq2seq(config)
    p = result.pairs
    fields = signature_fields(
        result.model,
        result.vocab,
        result.source,
        result.metrics,
        {
            "pairs": {"train": p["train"], "val": p["val"]},
            "max_source_len": p["max_source_len"],
            "max_target_len": p["max_target_len"],
        },
    )
    out.mkdir(parents=True, exist_ok=True)
    files = {"checkpoint": str(save_seq2seq(out / "checkpoint.pt", result.model, fields))}
    report = {
        "task": "seq2seq",
        "arch": "lstm",
        "layers": [hidden],
        "data": result.source,
        "pairs": result.pairs,
        "vocab_size": len(result.vocab),
        "metrics": result.metrics,
        "config": config.to_dict(),
        "files": files,
    }
    if not no_export:
        t0 = time.perf_counter()
        dec, enc = export_seq2seq(result.model, fields, out / "model.onnx")
        files["onnx"] = str(out / "model.onnx")
        files["encoder"] = str(encoder_path(out / "model.onnx"))
        report["export"] = {
            "decoder_parity": dec.parity,
            "encoder_parity": enc.parity,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    files["report"] = str(out / "report.json")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
