"""The classifier's training steps: the loop's task over shuffled padded batches (last-step
cross-entropy, validation loss and accuracy), the retrain on train + val at the learning
rates an early-stopped run took, and one network's whole training (``train_member``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgernn.train.cells import native_kernels
from edgernn.train.classify.batches import last_logits, metrics, pad_batch, predict
from edgernn.train.classify.model import Classifier, ClassifierConfig
from edgernn.train.loop import Evaluation, History, LoopConfig, train_epochs

Split = tuple[list, np.ndarray]  # (sequences, labels (N,))


class SequenceTask:
    """Classifier training as the loop sees it: shuffled padded batches, last-step
    cross-entropy, validation loss and accuracy."""

    def __init__(
        self, model: Classifier, train: Split, val: Split, seed: int, token_dropout: float = 0.0
    ):
        self.model, self.val = model, val
        self.seqs, self.y = train
        self.size = len(self.seqs)
        self.token = bool(model.config.vocab_size)
        self.rng = np.random.default_rng(seed)
        # text: share of training tokens fed as <unk> (id 0), fresh each batch, so a model cannot
        # memorise a small set by its incidental words
        self.token_dropout = token_dropout if self.token else 0.0

    def shuffle(self) -> np.ndarray:
        return self.rng.permutation(self.size)

    def loss(self, idx: np.ndarray) -> torch.Tensor:
        x, lengths = pad_batch([self.seqs[j] for j in idx], self.token)
        if self.token_dropout > 0:
            drop = self.rng.random(tuple(x.shape)) < self.token_dropout  # (B, T)
            x = x.masked_fill(torch.from_numpy(drop), 0)
        logits = last_logits(self.model(x)[0], lengths)  # (B, C)
        return nn.functional.cross_entropy(logits, torch.from_numpy(self.y[idx]))

    def evaluate(self, epoch: int, train_loss: float, lr: float) -> Evaluation:
        seqs, y = self.val
        classes = tuple(map(str, range(self.model.config.n_classes)))
        m = metrics(predict(self.model, seqs), y, classes) if len(y) else {}
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": m.get("loss"),
            "val_accuracy": m.get("accuracy"),
        }
        shown = {
            "train": f"{train_loss:.3f}",
            "val": f"{m.get('loss', float('nan')):.3f}",
            "val_acc": f"{m.get('accuracy', float('nan')):.3f}",
        }
        score = (m["loss"], -m["accuracy"]) if m else (train_loss, 0.0)
        return Evaluation(score, m.get("loss"), row, shown)


def train_classifier(
    model: Classifier,
    train: Split,
    val: Split,
    loop: LoopConfig,
    seed: int,
    token_dropout: float = 0.0,
) -> History:
    """Seeded Adam on shuffled padded batches; the best epoch's weights are kept."""
    torch.manual_seed(seed)
    return train_epochs(model, SequenceTask(model, train, val, seed, token_dropout), loop)


def refit(
    model: Classifier,
    train: Split,
    lrs: list[float],
    loop: LoopConfig,
    seed: int,
    token_dropout: float = 0.0,
) -> None:
    """Adam over ``train`` for ``len(lrs)`` epochs, epoch e at learning rate ``lrs[e]`` (the
    schedule the early-stopped run took); eval mode at the end."""
    task = SequenceTask(model, train, ([], np.zeros(0, np.int64)), seed, token_dropout)
    opt = torch.optim.Adam(model.parameters(), lr=loop.lr)
    model.train()
    with native_kernels():
        for lr in lrs:
            for group in opt.param_groups:
                group["lr"] = lr
            order = task.shuffle()
            for i in range(0, task.size, loop.batch_size):
                opt.zero_grad()
                task.loss(order[i : i + loop.batch_size]).backward()
                if loop.clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), loop.clip)
                opt.step()
    model.eval()


REFIT_BELOW = 2000  # training sequences: below this, refit on train + val (``train_member``)


def train_member(
    config: ClassifierConfig,
    train: Split,
    val: Split,
    loop: LoopConfig,
    seed: int,
    token_dropout: float,
    refit_small: bool,
) -> tuple[Classifier, History, str | None]:
    """One network, seeded: early-stopped on ``val``; with ``refit_small`` and under
    ``REFIT_BELOW`` training sequences also retrained on train + val for the epochs chosen, and
    the retrain kept if it fits train + val at least as well. The model, the early-stopped run's
    history and a note on the retrain (None: none was tried)."""
    torch.manual_seed(seed)
    model = Classifier(config)
    history = train_classifier(model, train, val, loop, seed, token_dropout)
    if not (refit_small and len(val[1]) and len(train[1]) < REFIT_BELOW):
        return model, history, None
    torch.manual_seed(seed)
    again = Classifier(config)
    both = (train[0] + val[0], np.concatenate([train[1], val[1]]))
    refit(again, both, history.lr[: history.best_epoch], loop, seed, token_dropout)
    labels = tuple(map(str, range(config.n_classes)))
    kept, redone = (metrics(predict(m, both[0]), both[1], labels)["loss"] for m in (model, again))
    sizes = f"train + val ({len(both[1])} sequences) for the {history.best_epoch} epochs"
    if redone <= kept:  # the retrain fits all it saw at least as well: keep it
        return (
            again,
            history,
            f"retrained on {sizes} early stopping chose, with the same learning rates",
        )
    # e.g. an LSTM that left a long plateau late in the first run, not in the retrain
    return (
        model,
        history,
        (
            f"not kept: the retrain on {sizes} fitted them worse (loss {redone:.3f} vs "
            f"{kept:.3f}) than the early-stopped model, which is kept"
        ),
    )
