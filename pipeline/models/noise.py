"""Dropout masks drawn inside the compiled graph from a seed and a step counter.

A mask element is decided by 16 random bits: it is kept where the bits, read as an
integer, are below ``round(keep * 2**16)``, and a kept element is scaled by
``2**16 / that threshold`` (so the mask's mean is exactly 1; for ``keep = 0.8`` the
effective keep probability is 0.8000031, for 0.5 exactly 0.5). The bits come from a
counter-based generator: every 32-bit word is a hash of its position in the mask, the
training step, the seed and the mask's stream number (which layer it belongs to), so
a mask is a pure function of ``(seed, step, stream)``: nothing but the step counter has
to be carried from one batch to the next, or saved in a checkpoint, and the graph needs
no input from the host. The hash is Chris Wellons' ``lowbias32`` applied twice (an
integer hash with full avalanche), which is ample for dropout and cheap: XLA fuses it
with the multiplication by the mask, and one 32-bit word gives the bits of two elements
(word ``i``'s low half decides element ``i``, its high half element ``i + ceil(n/2)``).

The same integer arithmetic runs in numpy (:meth:`DropoutMask.perform`, for the
non-JAX backends) and in JAX, so every backend draws the same masks.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

BITS = 16
_GOLDEN = 0x9E3779B9


def threshold(keep: float) -> int:
    """Keep an element where its 16 random bits, as an integer, are below this."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep probability must be in (0, 1], got {keep}")
    return min(1 << BITS, max(1, round(keep * (1 << BITS))))


def _lowbias32(x, shift):
    x = x ^ shift(x, 16)
    x = x * np.uint32(0x7FEB352D)
    x = x ^ shift(x, 15)
    x = x * np.uint32(0x846CA68B)
    return x ^ shift(x, 16)


def _mask(xp, shift, seed, step, *, shape: tuple[int, ...], keep: float, stream: int):
    """The mask, written once for numpy and JAX (``xp``: the array module; ``shift``: logical right shift)."""
    u32 = xp.uint32
    key = _lowbias32(xp.asarray(seed).astype(u32) ^ u32((stream * _GOLDEN) & 0xFFFFFFFF), shift)
    key = _lowbias32(key + xp.asarray(step).astype(u32), shift)
    n = int(np.prod(shape))
    words = _lowbias32(_lowbias32(xp.arange((n + 1) // 2, dtype=u32) ^ key, shift) + key, shift)
    halves = xp.concatenate([words & u32(0xFFFF), shift(words, 16)])[:n].reshape(shape)
    t = threshold(keep)
    return xp.where(halves < u32(t), np.float32((1 << BITS) / t), np.float32(0.0))


class DropoutMask(Op):
    """``mask(seed, step)``: float32 of ``shape``, ``2**16 / threshold`` where kept, else 0 (see module)."""

    __props__ = ("shape", "keep", "stream")

    def __init__(self, shape: tuple[int, ...], keep: float, stream: int):
        self.shape, self.keep, self.stream = tuple(int(s) for s in shape), float(keep), int(stream)
        threshold(self.keep)

    def make_node(self, seed, step):
        seed, step = pt.as_tensor_variable(seed), pt.as_tensor_variable(step)
        return Apply(self, [seed, step], [pt.tensor(dtype="float32", shape=self.shape)])

    def perform_numpy(self, seed, step) -> np.ndarray:
        """The mask for ``(seed, step)``, computed by numpy."""
        with np.errstate(over="ignore"):
            return _mask(
                np,
                np.right_shift,
                np.asarray(seed),
                np.asarray(step),
                shape=self.shape,
                keep=self.keep,
                stream=self.stream,
            )

    def perform(self, node, inputs, outputs):
        outputs[0][0] = self.perform_numpy(*inputs)

    def infer_shape(self, fgraph, node, input_shapes):
        return [self.shape]

    def L_op(self, inputs, outputs, output_grads):  # noqa: N802 -- PyTensor's name for the gradient method
        return [disconnected_type(), disconnected_type()]

    def connection_pattern(self, node):
        return [[False], [False]]


def dropout_mask(seed, step, shape, keep: float, stream: int):
    """The symbolic mask of one dropout layer (``stream`` tells the layers of one step apart)."""
    return DropoutMask(tuple(shape), keep, stream)(seed, step)


def _register_jax() -> None:
    try:
        import jax.numpy as jnp
        from jax import lax
        from pytensor.link.jax.dispatch import jax_funcify
    except ImportError:  # no JAX: the other backends use perform()
        return

    @jax_funcify.register(DropoutMask)
    def _jax_dropout_mask(op, **kwargs):
        def mask(seed, step):
            return _mask(
                jnp,
                lambda x, k: lax.shift_right_logical(x, jnp.uint32(k)),
                seed,
                step,
                shape=op.shape,
                keep=op.keep,
                stream=op.stream,
            )

        return mask


_register_jax()


def _register_numba() -> None:
    """The same masks compiled by Numba (the Numba backend would otherwise run ``perform`` in object mode)."""
    try:
        from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key
    except ImportError:
        return

    @register_funcify_default_op_cache_key(DropoutMask)
    def _numba_dropout_mask(op, node=None, **kwargs):
        shape, n = op.shape, int(np.prod(op.shape))
        half, t = (n + 1) // 2, threshold(op.keep)
        mix, kept = (op.stream * _GOLDEN) & 0xFFFFFFFF, np.float32((1 << BITS) / t)
        m32 = 0xFFFFFFFF

        @numba_njit
        def lowbias32(x):  # on uint64 holding 32 bits: Numba widens uint32 arithmetic
            x = x ^ (x >> 16)
            x = (x * 0x7FEB352D) & m32
            x = x ^ (x >> 15)
            x = (x * 0x846CA68B) & m32
            return x ^ (x >> 16)

        @numba_njit
        def mask(seed, step):
            key = lowbias32((np.uint64(seed.item()) & m32) ^ np.uint64(mix))
            key = lowbias32((key + (np.uint64(np.int64(step.item()) & m32))) & m32)
            out = np.zeros(n, dtype=np.float32)
            for i in range(half):
                w = lowbias32((lowbias32(np.uint64(i) ^ key) + key) & m32)
                if (w & 0xFFFF) < t:
                    out[i] = kept
                if i + half < n and (w >> 16) < t:
                    out[i + half] = kept
            return out.reshape(shape)

        return mask


_register_numba()


def noise_counter(seed: int):
    """Shared ``(seed, step)`` for :func:`dropout_mask`: the seed (as 32 bits) and a step counter from 0.

    The training step updates ``step`` to ``step + 1``; both belong to the training
    state (a checkpoint stores them beside the weights).
    """
    return (
        pytensor.shared(np.array(seed & 0xFFFFFFFF, dtype=np.uint32), name="noise_seed", shape=()),
        pytensor.shared(np.array(0, dtype=np.int32), name="noise_step", shape=()),
    )
