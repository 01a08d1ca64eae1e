"""What training prints while it runs: a first line naming the data, the model and the device,
then one plain line per epoch (or about 20 per step-mode run) in a log, a bar on a terminal;
--json keeps stdout pure JSON with progress on stderr, --quiet silences progress."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import sys
import termios
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from edgernn.cli import main  # noqa: E402
from edgernn.train.loop import Evaluation, LoopConfig, train_epochs, train_steps  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402

LINE = re.compile(r"^(epoch|step) (\d+)/(\d+): .*lr [0-9.e-]+; [0-9.hms]+ elapsed, ETA [0-9.hms]+$")


class Squares:
    """A tiny epoch-mode task: fit y = 2x with a linear model."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.size = model, 16
        self.x = torch.linspace(-1, 1, self.size).unsqueeze(1)  # (N, 1)

    def shuffle(self) -> torch.Tensor:
        return torch.arange(self.size)

    def loss(self, idx: torch.Tensor) -> torch.Tensor:
        return (self.model(self.x[idx]) - 2 * self.x[idx]).pow(2).mean()

    def evaluate(self, epoch: int, train_loss: float, lr: float) -> Evaluation:
        return Evaluation(train_loss, None, {"epoch": epoch}, {"train": f"{train_loss:.3g}"})


def epochs(n: int, quiet: bool = False) -> None:
    model = torch.nn.Linear(1, 1)
    train_epochs(model, Squares(model), LoopConfig(lr=0.05, epochs=n, batch_size=4, quiet=quiet))


def steps(n: int, quiet: bool = False) -> None:
    model = torch.nn.Linear(2, 1)
    x = torch.ones(4, 2)  # (B, F)
    train_steps(model, LoopConfig(lr=0.05, steps=n, quiet=quiet), lambda: model(x).pow(2).mean())


def test_a_log_gets_one_plain_line_per_epoch(capsys):
    epochs(4)
    err = capsys.readouterr().err  # captured: not a terminal, like a log file
    assert "\r" not in err and "batches" not in err
    lines = err.splitlines()
    assert [LINE.match(line).group(1, 2, 3) for line in lines] == [
        ("epoch", str(i), "4") for i in range(1, 5)
    ]
    assert all("train " in line for line in lines)  # the task's numbers, then the loop's lr


@pytest.mark.parametrize("n, shown", [(45, list(range(3, 46, 3))), (7, list(range(1, 8)))])
def test_a_log_gets_about_twenty_lines_per_step_run_and_the_last_step(capsys, n, shown):
    steps(n)
    err = capsys.readouterr().err
    assert "\r" not in err
    matches = [LINE.match(line) for line in err.splitlines()]
    assert [(m.group(1), int(m.group(2)), int(m.group(3))) for m in matches] == [
        ("step", s, n) for s in shown
    ]
    assert all("loss " in m.group(0) for m in matches)


def test_quiet_prints_nothing(capsys):
    epochs(2, quiet=True)
    steps(5, quiet=True)
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_bar_and_no_plain_lines(monkeypatch):
    master, child = os.openpty()  # a real terminal for stderr, 24 x 100
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with os.fdopen(child, "w") as tty:
        monkeypatch.setattr(sys, "stderr", tty)
        epochs(2)
        steps(3)
        tty.flush()
        drawn = b""
        while select.select([master], [], [], 0.2)[0]:
            drawn += os.read(master, 65536)
    os.close(master)
    drawn = drawn.decode()
    assert "\r" in drawn and "epoch" in drawn and "step" in drawn  # tqdm frames, redrawn in place
    assert not re.search(r"^(epoch|step) \d+/\d+: ", drawn, re.M)


# ---- the train commands, stderr captured (not a terminal) -----------------------------------
SEQ2SEQ = ["--pairs", "120", "--steps", "20", "--hidden", "8", "--embed", "4", "--batch-size", "16"]
CLASSIFY = ["--data", "synth:sensor-classes?n=60&length=20", "--hidden", "4", "--epochs", "3"]


def train(task: str, *args: str):
    return CliRunner().invoke(main, ["train", task, *args])


def test_the_first_line_names_rows_series_windows_parameters_and_device(tmp_path):
    r = train(
        "forecast",
        *("--data", "synth:sensor?n=400", "--window", "8", "--hidden", "6,4", "--epochs", "2"),
        *("--train-mode", "stateful"),
        *("--out", str(tmp_path), "--no-export"),
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "report.json").read_text())
    model = load_checkpoint(tmp_path / "checkpoint.pt").model
    params = sum(p.numel() for p in model.parameters())
    first, *epoch_lines = r.stderr.splitlines()
    lags = ",".join(map(str, report["model"]["highway_lags"]))
    assert first == (
        f"train forecast: 400 rows in 1 series -> {report['data']['rows']['train']} training "
        f"rows, streamed in 50-step chunks; lstm 6,4 + linear highway on lags {lags} "
        f"({params:,} parameters) on cpu, {report['model']['target_mode']} targets, up to 2 epochs"
    )
    assert [line.split(":")[0] for line in epoch_lines[:2]] == ["epoch 1/2", "epoch 2/2"]
    assert "\r" not in r.stderr


def test_json_keeps_stdout_pure_and_progress_on_stderr(tmp_path):
    r = train("classify", *CLASSIFY, "--out", str(tmp_path), "--no-export", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["task"] == "classify"  # nothing else on stdout
    first, *lines = r.stderr.splitlines()
    assert re.fullmatch(
        r"train classify: [\d,]+ rows in 60 sequences -> 39 training sequences \(3 classes\); "
        r"tcn 4 \+ attention \+ max pool, 5 members averaged \([\d,]+ parameters\) on cpu, "
        r"up to 3 epochs each",
        first,
    )
    # small data: five networks, each announced, then its epochs
    announced = [line for line in lines if line.startswith("network ")]
    assert len(announced) == 5 and announced[0].startswith("network 1/5 (seed 0): 39 training")
    for m, line in enumerate(announced):  # each its own draw of validation from train + val
        got = re.fullmatch(rf"network {m + 1}/5 \(seed {1000 * m}\): (\d+) training, (\d+) "
                           r"validation sequences", line)  # fmt: skip
        assert got and int(got[1]) + int(got[2]) == 51, line
    lines = [line for line in lines if not line.startswith("network ")]
    assert [LINE.match(line).group(2) for line in lines] == ["1", "2", "3"] * 5
    assert all("val_acc " in line for line in lines) and "\r" not in r.stderr

    r = train("seq2seq", *SEQ2SEQ, "--out", str(tmp_path / "s2s"), "--no-export", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["task"] == "seq2seq"
    first, *lines = r.stderr.splitlines()
    assert first.startswith("train seq2seq: 120 pairs -> 108 training pairs") and "on cpu" in first
    assert [LINE.match(line).group(2) for line in lines] == [str(s) for s in range(1, 21)]


def test_quiet_json_prints_nothing_on_stderr(tmp_path: Path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("def f(x):\n    return x + 1\n" * 40, encoding="utf-8")
    runs = [
        ("classify", *CLASSIFY),  # exports too: the export is silent as well
        ("seq2seq", *SEQ2SEQ, "--no-export"),
        ("charlm", "--corpus", str(corpus), "--hidden", "8", "--embed", "4", "--window", "16")
        + ("--steps", "3", "--batch-size", "4", "--no-export"),
    ]
    for i, (task, *args) in enumerate(runs):
        r = train(task, *args, "--out", str(tmp_path / str(i)), "--quiet", "--json")
        assert r.exit_code == 0, r.output
        assert r.stderr == "" and json.loads(r.stdout)["files"], (task, r.stderr)
