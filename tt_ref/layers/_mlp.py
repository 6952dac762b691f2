"""A small multilayer perceptron trained with the layers' own backward: the demonstration
behind ``tt-ref bench ttm --mlp`` (``docs/results-ttm.md``).

Two hidden layers (dense or TT-matrix), ReLU, a dense softmax output, cross-entropy,
Adam; everything on Array API arrays, gradients by hand (no autograd anywhere). Not a
training library: just enough to show the layers learn and what they cost.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .._backend import backend_name, default_rng, from_numpy, namespace_for, resolve_dtype, to_numpy, to_scalar
from ..tt import TTMatrix
from ._init import random_ttm_layer, ttm_layer_shape
from ._linear import ttm_linear, ttm_linear_backward, ttm_linear_forward

__all__ = ["MLPResult", "train_mlp"]


@dataclass
class MLPResult:
    """One trained network: its kind, sizes, accuracy and training seconds (CPU time on the host)."""

    name: str
    rank: int | None
    hidden_params: int
    total_params: int
    train_accuracy: float
    test_accuracy: float
    seconds: float
    losses: list = field(default_factory=list)


class _Adam:
    """Adam over a flat list of arrays (bias-corrected, default betas)."""

    def __init__(self, params, lr: float, xp):
        self.lr, self.xp, self.t = lr, xp, 0
        self.m = [xp.zeros_like(p) for p in params]
        self.v = [xp.zeros_like(p) for p in params]

    def step(self, params, grads):
        xp, b1, b2 = self.xp, 0.9, 0.999
        self.t += 1
        c1, c2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * (g * g)
            out.append(p - self.lr * (self.m[i] / c1) / (xp.sqrt(self.v[i] / c2) + 1e-8))
        return out


class _Network:
    """Parameters as one flat list: per hidden layer (cores..., bias) or (W, bias), then (W, bias)."""

    def __init__(self, sizes, rank, rng, xp, dtype):
        self.xp, self.rank, self.layout = xp, rank, []
        self.params = []
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
            if rank is None:
                w = rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)
                self.params.append(from_numpy(w, xp, dtype=dtype))
                self.layout.append(("dense", 1))
            else:
                ttm = random_ttm_layer(ttm_layer_shape(n_in, n_out, rank), seed=rng, init="he", dtype=dtype,
                                       backend=backend_name(xp))
                self.params.extend(ttm.cores)
                self.layout.append(("ttm", ttm.ndim))
            self.params.append(xp.zeros((n_out,), dtype=dtype))
        w = rng.standard_normal((sizes[-1], sizes[-2])) * math.sqrt(1.0 / sizes[-2])
        self.params += [from_numpy(w, xp, dtype=dtype), xp.zeros((sizes[-1],), dtype=dtype)]

    def _layers(self):
        i = 0
        for kind, count in self.layout:
            yield kind, self.params[i : i + count], self.params[i + count]
            i += count + 1

    def hidden_params(self) -> int:
        return sum(math.prod(p.shape) for p in self.params[:-2])

    def loss_and_grads(self, x, onehot):
        """Cross-entropy of a batch and the gradient of every parameter (hand-written backward)."""
        xp = self.xp
        saved, h = [], x
        for kind, weight, bias in self._layers():
            if kind == "dense":
                pre = h @ xp.permute_dims(weight[0], (1, 0)) + bias
                saved.append((kind, h, weight[0], pre))
            else:
                pre, state = ttm_linear_forward(h, TTMatrix._from_cores(tuple(weight)), bias, saving="full")
                saved.append((kind, state, None, pre))
            h = xp.maximum(pre, 0.0)
        w_out, b_out = self.params[-2], self.params[-1]
        logits = h @ xp.permute_dims(w_out, (1, 0)) + b_out
        shifted = logits - xp.max(logits, axis=1, keepdims=True)
        log_prob = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        batch = x.shape[0]
        loss = -xp.sum(log_prob * onehot) / batch
        d_logits = (xp.exp(log_prob) - onehot) / batch
        grads = [xp.permute_dims(d_logits, (1, 0)) @ h, xp.sum(d_logits, axis=0)]
        d_h = d_logits @ w_out
        for kind, first, second, pre in reversed(saved):
            d_pre = xp.where(pre > 0.0, d_h, xp.zeros_like(d_h))
            if kind == "dense":
                grads = [xp.permute_dims(d_pre, (1, 0)) @ first, xp.sum(d_pre, axis=0)] + grads
                d_h = d_pre @ second
            else:
                g = ttm_linear_backward(d_pre, first)
                grads = list(g.cores) + [g.bias] + grads
                d_h = g.x
        return loss, grads

    def predict(self, x):
        xp, h = self.xp, x
        for kind, weight, bias in self._layers():
            if kind == "dense":
                pre = h @ xp.permute_dims(weight[0], (1, 0)) + bias
            else:
                pre = ttm_linear(h, TTMatrix._from_cores(tuple(weight)), bias)
            h = xp.maximum(pre, 0.0)
        logits = h @ xp.permute_dims(self.params[-2], (1, 0)) + self.params[-1]
        return xp.argmax(logits, axis=1)


def train_mlp(x_train, y_train, x_test, y_test, *, hidden=(256, 256), rank=None, epochs=30, batch_size=64,
              lr=3e-3, seed=0, backend="numpy", dtype="float32") -> MLPResult:
    """Train a ``D -> hidden -> classes`` ReLU network with Adam; dense (``rank=None``) or
    TT-matrix hidden layers of ``rank`` (shapes from :func:`ttm_layer_shape`, d = 3).

    Inputs are host NumPy arrays (features already scaled, integer labels 0..C-1); the
    work runs on ``backend``. Mini-batches are drawn from one host generator seeded by
    ``seed``, so a seed gives the same run on every backend up to rounding.
    """
    xp = namespace_for(backend)
    dtype = resolve_dtype(dtype, xp)
    rng = default_rng(seed)
    n_classes = int(max(np.max(y_train), np.max(y_test))) + 1
    sizes = (x_train.shape[1],) + tuple(hidden) + (n_classes,)
    net = _Network(sizes, rank, rng, xp, dtype)
    adam = _Adam(net.params, lr, xp)
    x_dev, x_test_dev = from_numpy(x_train, xp, dtype=dtype), from_numpy(x_test, xp, dtype=dtype)
    onehot = from_numpy(np.eye(n_classes)[y_train], xp, dtype=dtype)
    losses = []
    # Process CPU time on the host (other processes do not count), wall time on a GPU.
    clock = time.perf_counter if backend == "cupy" else time.process_time
    start = clock()
    for _ in range(epochs):
        order = rng.permutation(x_train.shape[0])
        epoch_loss = 0.0
        for begin in range(0, len(order), batch_size):
            idx = xp.asarray(order[begin : begin + batch_size].astype(np.int64))
            loss, grads = net.loss_and_grads(xp.take(x_dev, idx, axis=0), xp.take(onehot, idx, axis=0))
            net.params = adam.step(net.params, grads)
            epoch_loss += to_scalar(loss) * int(idx.shape[0])
        losses.append(epoch_loss / x_train.shape[0])
    seconds = clock() - start
    train_acc = float(np.mean(to_numpy(net.predict(x_dev)) == y_train))
    test_acc = float(np.mean(to_numpy(net.predict(x_test_dev)) == y_test))
    name = "dense" if rank is None else f"TTM rank {rank}"
    return MLPResult(name, rank, net.hidden_params(), sum(math.prod(p.shape) for p in net.params), train_acc,
                     test_acc, seconds, losses)
