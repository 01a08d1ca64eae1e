"""Several classifiers of one size, trained apart, as one model whose probabilities are their
mean.

A network trained on a few dozen sequences lands in quite different places from one seed to
the next (on PickupGestureWiimoteZ, 50 training sequences, test accuracy ranges 0.68-0.80 over
eight seeds); the mean of a few of them is steadier and better than a typical one, which is
why InceptionTime ships as five networks. The graph's ``logits`` are the log of the members'
mean probability, so a softmax of them is that mean exactly and the runtime needs nothing new.

Members are trained as ordinary ``Classifier`` s, then put together (``assemble``):

- ``TCNEnsemble`` (sensor temporal CNNs, the default): the members side by side, a member axis
  through every tensor and one batched matrix multiply per layer, so the graph has the
  operators of one network (a step of five costs ~1.2x one, not 5x);
- ``Ensemble`` (recurrent cells, text): one member after another, each with its own states.

>>> cfg = ClassifierConfig(arch="gru", n_features=2, hidden=(4,), n_classes=3, members=2)
>>> net = build_classifier(cfg)
>>> logits, *states = net(torch.zeros(5, 7, 2))  # (B, T, F)
>>> tuple(logits.shape), len(states)  # (B, T, C), one GRU state per member
((5, 7, 3), 2)
>>> bool(torch.allclose(logits.exp().sum(-1), torch.ones(5, 7)))  # mean probabilities
True
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from edgernn.train.attention import online_pool
from edgernn.train.classify.model import Classifier, ClassifierConfig
from edgernn.train.classify.peak import MaxPool
from edgernn.train.classify.tcn import TemporalConv, causal_taps


class Ensemble(nn.Module):
    """``config.members`` classifiers of ``config``'s size; log of their mean probability."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        one = replace(config, members=1)
        self.members = nn.ModuleList(Classifier(one) for _ in range(config.members))
        self.sizes = [len(m.state_shapes()) for m in self.members]  # states per member

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        return [s for m in self.members for s in m.initial_state(batch)]

    def state_shapes(self) -> list[tuple]:
        return [s for m in self.members for s in m.state_shapes()]

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (B, T, F) model units or (B, T) int64 ids -> (log mean probability (B, T, C),
        *every member's new states)."""
        if not states:
            states = tuple(self.initial_state(x.shape[0]))
        logps, new, i = [], [], 0
        for member, n in zip(self.members, self.sizes):
            logits, *s = member(x, *states[i : i + n])
            logps.append(torch.log_softmax(logits, dim=-1))  # (B, T, C)
            new += s
            i += n
        mean = torch.logsumexp(torch.stack(logps), dim=0) - math.log(len(logps))  # (B, T, C)
        return (mean, *new)


class TCNEnsemble(nn.Module):
    """``config.members`` temporal-CNN classifiers computed side by side, for one graph with
    the operators of one network: a member axis M runs through every tensor, (B, T, M, C),
    and each layer is one batched matrix multiply of all members' weights, (M, k*C_in, C_out).
    The input and its history are shared; each member's hidden states stay its own, so the
    numbers are each member's (up to float rounding). Built from trained members
    (``from_members``); never trained itself."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        m, k, hidden, h = config.members, config.kernel, config.hidden, config.hidden[-1]
        shape = TemporalConv(config.n_features, hidden, k)  # one member's sizes and histories
        self.dilations, self.sizes_in = shape.dilations, shape.sizes_in
        self.history = [shape.history(i) for i in range(len(hidden))]
        self.weights = nn.ParameterList(
            _init(m, k * c, o) for c, o in zip(self.sizes_in, hidden)
        )  # (M, k*C_in, C_out) per layer: each member's taps x weights
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(m, o)) for o in hidden)
        if config.attention:  # AttentionPool(H) per member: W (H, H), b, v (H, 1)
            self.attn_w = _init(m, h, h)
            self.attn_b = nn.Parameter(torch.zeros(m, h))
            self.attn_v = _init(m, h, 1)
        self.peak = MaxPool(h) if config.max_pool else None
        widths = 1 + config.attention + config.max_pool  # [h_t, context_t, peak_t]
        self.head_w = _init(m, widths * h, config.n_classes)
        self.head_b = nn.Parameter(torch.zeros(m, config.n_classes))

    @classmethod
    def from_members(cls, config: ClassifierConfig, nets: list[Classifier]) -> TCNEnsemble:
        """The trained one-network classifiers ``nets`` side by side."""
        fused = cls(config)
        with torch.no_grad():
            for i in range(len(config.hidden)):
                convs = [n.tcn.convs[i] for n in nets]  # type: ignore[union-attr]
                fused.weights[i].copy_(torch.stack([c.weight.T for c in convs]))
                fused.biases[i].copy_(torch.stack([c.bias for c in convs]))
            if config.attention:
                pools = [n.attn for n in nets]
                fused.attn_w.copy_(torch.stack([p.proj.weight.T for p in pools]))  # type: ignore[union-attr]
                fused.attn_b.copy_(torch.stack([p.proj.bias for p in pools]))  # type: ignore[union-attr]
                fused.attn_v.copy_(torch.stack([p.v.weight.T for p in pools]))  # type: ignore[union-attr]
            fused.head_w.copy_(torch.stack([n.head.weight.T for n in nets]))
            fused.head_b.copy_(torch.stack([n.head.bias for n in nets]))
        return fused.eval()

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        return [
            torch.zeros(*(batch if a == "batch" else a for a in s)) for s in self.state_shapes()
        ]

    def state_shapes(self) -> list[tuple]:
        """Input history (1, B, K_0, F), shared; each later layer's (1, B, K_i, M, C_in); then
        attention's seen (1, B, 1, 1), lse (1, B, M, 1), pooled (1, B, M, H); then max
        pooling's seen (1, B, 1, 1) and peak (1, B, M, H)."""
        m, c = self.config.members, self.config
        sizes_in = self.sizes_in
        shapes: list[tuple] = [(1, "batch", self.history[0], sizes_in[0])]
        shapes += [(1, "batch", self.history[i], m, sizes_in[i]) for i in range(1, len(c.hidden))]
        h = c.hidden[-1]
        if c.attention:
            shapes += [(1, "batch", 1, 1), (1, "batch", m, 1), (1, "batch", m, h)]
        if c.max_pool:
            shapes += [(1, "batch", 1, 1), (1, "batch", m, h)]
        return shapes

    def _layer(self, i: int, h: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Layer i over h (B, T, [M,] C_in) with its history (B, K, [M,] C_in) -> (output
        (B, T, M, C_out), new history)."""
        taps, past = causal_taps(past, h, self.dilations[i], self.config.kernel)
        # shared input (B, T, 1, 1, k*F), else (B, T, M, 1, k*C_in); times each member's
        # weights (M, k*C_in, C_out) -> (B, T, M, 1, C_out)
        taps = taps.unsqueeze(2).unsqueeze(2) if i == 0 else taps.unsqueeze(3)
        out = torch.relu(torch.matmul(taps, self.weights[i]).squeeze(3) + self.biases[i])
        return out, past

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x (B, T, F) model units -> (log mean probability (B, T, C), *new states)."""
        if not states:
            states = tuple(self.initial_state(x.shape[0]))
        h, new = x, []
        for i in range(len(self.config.hidden)):
            out, past = self._layer(i, h, states[i][0])
            new.append(past.unsqueeze(0))
            if out.shape[-1] == h.shape[-1]:  # residual, as in TemporalConv
                out = out + (h.unsqueeze(2) if i == 0 else h)  # the input is every member's
            h = out  # (B, T, M, C_out)
        rest, pooled = list(states[len(new) :]), [h]  # h: (B, T, M, H)
        if self.config.attention:
            proj = torch.matmul(h.unsqueeze(3), self.attn_w).squeeze(3) + self.attn_b
            e = torch.matmul(torch.tanh(proj).unsqueeze(3), self.attn_v).squeeze(3)  # (B,T,M,1)
            context, *pool = online_pool(e, h, *rest[:3])
            new += pool
            pooled.append(context)
            rest = rest[3:]
        if self.peak is not None:
            peak, *pool = self.peak(h, *rest)
            new += pool
            pooled.append(peak)
        both = torch.cat(pooled, dim=-1).unsqueeze(3)  # (B, T, M, 1, widths * H)
        logits = torch.matmul(both, self.head_w).squeeze(3) + self.head_b  # (B, T, M, C)
        logp = torch.log_softmax(logits, dim=-1)
        mean = torch.logsumexp(logp, dim=2) - math.log(self.config.members)  # (B, T, C)
        return (mean, *new)


def _init(members: int, n_in: int, n_out: int) -> nn.Parameter:
    """(M, n_in, n_out) weights at nn.Linear's scale (a fresh model is not all zeros)."""
    bound = 1 / math.sqrt(n_in)
    return nn.Parameter(torch.empty(members, n_in, n_out).uniform_(-bound, bound))


def build_classifier(config: ClassifierConfig) -> Classifier | Ensemble | TCNEnsemble:
    """One classifier, or an ensemble of ``config.members``: a sensor temporal CNN's members
    side by side in one set of operators (``TCNEnsemble``), others one after another."""
    if config.members == 1:
        return Classifier(config)
    if config.arch == "tcn" and not config.vocab_size:
        return TCNEnsemble(config)
    return Ensemble(config)


def assemble(
    config: ClassifierConfig, nets: list[Classifier]
) -> Classifier | Ensemble | TCNEnsemble:
    """The trained one-network classifiers ``nets`` as the model ``build_classifier(config)``
    describes."""
    model = build_classifier(config)
    if isinstance(model, TCNEnsemble):
        return TCNEnsemble.from_members(config, nets)
    if isinstance(model, Ensemble):
        for member, net in zip(model.members, nets):
            member.load_state_dict(net.state_dict())
        return model.eval()
    return nets[0]
