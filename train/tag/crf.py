"""A linear-chain CRF in torch: the negative log-likelihood by the forward algorithm, and
Viterbi decoding, both over padded batches with a mask.

A path ``y`` scores ``start[y0] + sum_t emit[t, y_t] + sum_t trans[y_{t-1}, y_t] +
end[y_last]``. ``allowed`` (K, K) and ``allowed_start`` (K,) say which moves the tag scheme
permits; the others score ``FORBIDDEN`` (fixed, not learned), so training and decoding never
take them and the exported scores carry the constraint to the runtime.

>>> crf = CRF(3)
>>> emit = torch.zeros(2, 4, 3); mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
>>> crf.nll(emit, torch.zeros(2, 4, dtype=torch.long), mask).shape
torch.Size([])
>>> [len(p) for p in crf.decode(emit, mask)]
[4, 2]
"""

from __future__ import annotations

import torch
from torch import nn

from edgernn.tasks.tag_decode import FORBIDDEN


class CRF(nn.Module):
    """Transition, start and end scores over ``n_tags`` tags, with the scheme's constraints."""

    def __init__(
        self,
        n_tags: int,
        allowed: torch.Tensor | None = None,
        allowed_start: torch.Tensor | None = None,
    ):
        super().__init__()
        self.trans_free = nn.Parameter(torch.zeros(n_tags, n_tags))  # (K from, K to)
        self.start_free = nn.Parameter(torch.zeros(n_tags))  # (K,)
        self.end = nn.Parameter(torch.zeros(n_tags))  # (K,)
        ok = torch.ones(n_tags, n_tags, dtype=torch.bool) if allowed is None else allowed
        ok0 = torch.ones(n_tags, dtype=torch.bool) if allowed_start is None else allowed_start
        self.register_buffer("allowed", ok.bool())
        self.register_buffer("allowed_start", ok0.bool())

    @property
    def trans(self) -> torch.Tensor:
        """(K, K) transition scores, forbidden moves at ``FORBIDDEN``."""
        return torch.where(
            self.allowed, self.trans_free, torch.full_like(self.trans_free, FORBIDDEN)
        )

    @property
    def start(self) -> torch.Tensor:
        """(K,) start scores, forbidden first tags at ``FORBIDDEN``."""
        return torch.where(
            self.allowed_start, self.start_free, torch.full_like(self.start_free, FORBIDDEN)
        )

    def nll(self, emit: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of log Z - score(gold). emit (B, T, K), tags (B, T), mask (B, T)
        True on real tokens (each row a prefix, at least one)."""
        trans, start = self.trans, self.start
        m = mask.float()  # (B, T)
        # score of the gold path
        score = start[tags[:, 0]] + emit[:, 0].gather(1, tags[:, :1]).squeeze(1)  # (B,)
        step = trans[tags[:, :-1], tags[:, 1:]] + emit[:, 1:].gather(2, tags[:, 1:, None])[..., 0]
        score = score + (step * m[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1) - 1)[:, None]).squeeze(1)  # (B,)
        score = score + self.end[last]
        # log Z by the forward algorithm
        alpha = start + emit[:, 0]  # (B, K)
        for t in range(1, emit.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + emit[:, t]  # (B, K)
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end, dim=1)  # (B,)
        return (log_z - score).mean()

    @torch.no_grad()
    def decode(self, emit: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best path of each sentence (its real tokens only). Ties go to the lower tag id."""
        trans, start = self.trans, self.start
        score = start + emit[:, 0]  # (B, K)
        backs = []
        for t in range(1, emit.shape[1]):
            best, back = (score[:, :, None] + trans).max(dim=1)  # (B, K) each
            score = torch.where(mask[:, t, None], best + emit[:, t], score)
            backs.append(back)
        lengths = mask.sum(1).tolist()
        final = (score + self.end).argmax(1).tolist()
        paths = []
        for b, (n, tag) in enumerate(zip(lengths, final)):
            path = [tag]
            for t in range(n - 1, 0, -1):
                tag = int(backs[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths
