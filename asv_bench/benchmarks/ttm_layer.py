"""asv benchmarks: the TT-matrix linear layer against the dense product at GPT-2 small's sizes
(specs/ttm_layer.md §Benchmark; the one-run table is ``tt-ref bench ttm``).

Layers ``c_fc`` (768 -> 3072) and ``c_proj`` (3072 -> 768), batches of 512 to 8192 tokens,
ranks 16 and 72 with the mode sizes of the paper's code (``rule="greenal"``), float32.
Timed: forward and backward (full and memory-lean saving) of the TT-matrix layer and of
the dense layer; ``peakmem_``: the process peak of each. ``track_``: exact figures that
must not change silently (parameters, elements kept for backward, the cost model's work),
each declared with its unit, the better direction and no tolerance, as
``asv_bench/gate.py`` reads them. Self-contained: public API and NumPy only.
"""

import os

import numpy as np

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

LAYERS = {"c_fc": (768, 3072), "c_proj": (3072, 768)}
BATCHES = [512, 2048, 8192]
RANKS = [16, 72]
BACKENDS = ["numpy", "cupy"]


def _namespace_or_skip(backend):
    import tt_ref

    if not tt_ref.is_backend_available(backend):
        raise NotImplementedError(f"backend {backend} not available here")
    return tt_ref.namespace_for(backend)


def _sync(xp):
    from tt_ref._backend import synchronize

    synchronize(xp)


def _declare(unit, better):
    """A ``track_`` figure's unit and direction, and zero tolerance (exact figures)."""
    def declare(function):
        function.unit, function.better, function.tolerance, function.rtol = unit, better, 0.0, 0.0
        return function

    return declare


class _Layer:
    params = (list(LAYERS), BATCHES, RANKS, BACKENDS)
    param_names = ["layer", "batch", "rank", "backend"]
    timeout = 600
    repeat = (1, 3, 20.0)
    number = 1

    def setup(self, layer, batch, rank, backend):
        import tt_ref

        self.xp = _namespace_or_skip(backend)
        n_in, n_out = LAYERS[layer]
        rng = np.random.default_rng(0)
        shape = tt_ref.ttm_layer_shape(n_in, n_out, rank, rule="greenal")
        self.weight = tt_ref.random_ttm_layer(shape, seed=0, dtype="float32", backend=backend)
        self.dense = self.xp.asarray((rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32))
        self.x = self.xp.asarray(rng.standard_normal((batch, n_in)).astype(np.float32))
        self.grad = self.xp.asarray(rng.standard_normal((batch, n_out)).astype(np.float32))
        self.bias = self.xp.zeros((n_out,), dtype=self.xp.float32)
        self.saved = {s: tt_ref.ttm_linear_forward(self.x, self.weight, self.bias, saving=s)[1]
                      for s in ("full", "lean")}


class TimeTTMLayer(_Layer):
    """Seconds of the TT-matrix layer (``path="auto"``) and of the dense layer."""

    def time_forward(self, layer, batch, rank, backend):
        import tt_ref

        tt_ref.ttm_linear_forward(self.x, self.weight, self.bias)
        _sync(self.xp)

    def time_backward_full(self, layer, batch, rank, backend):
        import tt_ref

        tt_ref.ttm_linear_backward(self.grad, self.saved["full"])
        _sync(self.xp)

    def time_backward_lean(self, layer, batch, rank, backend):
        import tt_ref

        tt_ref.ttm_linear_backward(self.grad, self.saved["lean"])
        _sync(self.xp)

    def time_dense_forward(self, layer, batch, rank, backend):
        self.xp.tensordot(self.x, self.dense, axes=([1], [1])) + self.bias
        _sync(self.xp)

    def time_dense_backward(self, layer, batch, rank, backend):
        xp = self.xp
        self.grad @ self.dense, xp.tensordot(self.grad, self.x, axes=([0], [0])), xp.sum(self.grad, axis=0)
        _sync(xp)


class PeakMemTTMLayer(_Layer):
    """Process peak memory of a forward and a backward (asv's ``peakmem_``)."""

    params = (list(LAYERS), [8192], RANKS, ["numpy"])

    def peakmem_forward_backward_full(self, layer, batch, rank, backend):
        import tt_ref

        _, saved = tt_ref.ttm_linear_forward(self.x, self.weight, self.bias)
        tt_ref.ttm_linear_backward(self.grad, saved)

    def peakmem_forward_backward_lean(self, layer, batch, rank, backend):
        import tt_ref

        _, saved = tt_ref.ttm_linear_forward(self.x, self.weight, self.bias, saving="lean")
        tt_ref.ttm_linear_backward(self.grad, saved)

    def peakmem_dense_forward_backward(self, layer, batch, rank, backend):
        xp = self.xp
        xp.tensordot(self.x, self.dense, axes=([1], [1])) + self.bias
        self.grad @ self.dense, xp.tensordot(self.grad, self.x, axes=([0], [0]))


class TTMLayerFigures:
    """Exact figures of the GPT-2 layers at batch 2048 (no timing)."""

    params = (list(LAYERS), RANKS)
    param_names = ["layer", "rank"]

    def setup(self, layer, rank):
        import tt_ref

        n_in, n_out = LAYERS[layer]
        self.shape = tt_ref.ttm_layer_shape(n_in, n_out, rank, rule="greenal")
        self.weight = tt_ref.random_ttm_layer(self.shape, seed=0)
        self.cost = tt_ref.ttm_linear_cost(self.weight, 2048)

    @_declare("parameters / dense parameters", "lower")
    def track_parameter_ratio(self, layer, rank):
        return self.shape.n_params / self.shape.dense_params

    @_declare("forward multiply-adds / dense", "lower")
    def track_forward_work_ratio(self, layer, rank):
        return self.cost["forward"][self.cost["inference_path"]] / self.cost["dense_forward"]

    @_declare("elements kept for backward / B n_in", "lower")
    def track_saved_full(self, layer, rank):
        return self.cost["saved"] / (2048 * self.shape.n_in)
