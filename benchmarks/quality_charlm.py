"""The char LM part of the quality benchmark: a corpus of standard library docstrings, the
held-out bits per char of a model trained on it (streamed through the exported graph with the
runtime), and bz2's bits per char on the same held-out text.

The corpus is every docstring (module, class, function) of the ``.py`` files under
``sysconfig.get_paths()["stdlib"]``, files in sorted path order and docstrings in ``ast.walk``
order, joined by blank lines, cut at ``max_chars``. Tests (``test``/``tests`` folders),
``site-packages`` and files that do not parse are left out. The held-out text is the last
``HELD_OUT`` of it, exactly the chronological validation tail `edgernn train charlm` keeps out of
training (``--corpus FILE``, ``val_frac`` 0.1).

>>> bz2_bits_per_char("abc" * 1000) < 0.2
True
>>> docstrings('def f():\\n    "Say hi."\\n')
['Say hi.']
"""

from __future__ import annotations

import ast
import bz2
import math
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import quality_forecast as qf

import edgernn

HELD_OUT = 0.1  # share of the corpus at its end: charlm's default val_frac (Corpus.from_text)
SKIP_DIRS = {"test", "tests", "site-packages", "idle_test", "__pycache__"}


@dataclass(frozen=True)
class Score:
    """Held-out bits per char of a char LM, streamed one character at a time."""

    bits_per_char: float  # mean -log2 p(next char) over the held-out text
    chars: int  # characters scored (the held-out text less its first)
    unknown: int  # held-out characters outside the vocabulary (scored as <unk>)
    seconds: float  # wall time of the streaming


def docstrings(source: str) -> list[str]:
    """The docstrings of a module's source (module, classes, functions), in ``ast.walk`` order."""
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, kinds):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                out.append(doc)
    return out


def stdlib_corpus(max_chars: int) -> tuple[str, int]:
    """(text, files read): the standard library's docstrings, deterministic, at most max_chars."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    size, files = 0, 0
    for path in sorted(root.rglob("*.py")):
        if SKIP_DIRS & set(path.relative_to(root).parts[:-1]):
            continue
        try:
            docs = docstrings(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        files += 1
        for d in docs:
            parts.append(d)
            size += len(d) + 2
        if size >= max_chars:
            break
    return "\n\n".join(parts)[:max_chars], files


def held_out(text: str) -> str:
    """The tail `edgernn train charlm` validates on and never trains on (Corpus.from_text's cut)."""
    return text[int(len(text) * (1 - HELD_OUT)) :]


def bz2_bits_per_char(text: str) -> float:
    """bz2 (level 9) compressed size of the UTF-8 text, in bits per character."""
    return 8 * len(bz2.compress(text.encode("utf-8"), 9)) / len(text)


def stream_bits_per_char(model_path: Path, text: str, context: str = "") -> Score:
    """Step the model over ``context`` then ``text`` one character at a time (a Generator from a
    zero state) and average -log2 p of each next character of ``text`` from the logits."""
    import time

    gen = edgernn.Generator(edgernn.load(model_path, provider="cpu"))
    ids = gen.encode(context + text)[0]  # (T,) int64, <unk> for characters outside the vocab
    first = max(len(context), 1)  # index of the first character scored
    start = time.perf_counter()
    total = 0.0
    for t in range(len(ids) - 1):
        logits = gen.step(int(ids[t]))  # (V,) the next character's logits
        if t + 1 >= first:
            z = logits.astype(np.float64)  # (V,)
            m = z.max()
            log_norm = m + math.log(float(np.exp(z - m).sum()))
            total += (log_norm - z[ids[t + 1]]) / math.log(2)
    scored = len(ids) - first
    unknown = int(np.count_nonzero(ids[len(context) :] == gen.unk_id))
    return Score(total / scored, scored, unknown, time.perf_counter() - start)


@dataclass
class CharLMResult:
    """The char LM row of the quality table."""

    corpus_chars: int  # characters in the corpus (train + held-out)
    corpus_files: int  # standard library files whose docstrings it holds
    held_out_chars: int  # characters in the held-out tail
    bz2_bpc: float  # bz2's bits per char on the held-out tail
    training: qf.Training  # the `edgernn train charlm` run
    score: Score | None = None  # the streamed held-out score, None when no model was exported


def run_charlm(
    work: Path, max_chars: int, steps: int | None = None, timeout: float | None = None
) -> CharLMResult:
    """Build the corpus, train `edgernn train charlm` on it (defaults unless ``steps``), time
    it, and score the exported graph by streaming the held-out tail."""
    text, files = stdlib_corpus(max_chars)
    corpus = work / "stdlib-docstrings.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text(text, encoding="utf-8")
    tail = held_out(text)
    out = work / "charlm"
    cmd = [sys.executable, "-m", "edgernn", "train", "charlm", "--corpus", str(corpus)]
    cmd += ["--out", str(out), "--json"] + ([] if steps is None else ["--steps", str(steps)])
    training = qf.run_command(cmd, timeout)
    res = CharLMResult(len(text), files, len(tail), bz2_bits_per_char(tail), training)
    if training.report is not None and (out / "model.onnx").exists():
        res.score = stream_bits_per_char(out / "model.onnx", tail)
    return res
