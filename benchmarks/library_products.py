"""MKL's products inside XLA's compiled step: how close they come to the GEMM bound, and what the step gains.

    python benchmarks/library_products.py [--rounds 2] [--epochs 4] [--output FILE]

Needs ``pip install mkl`` (Intel's library, ``libmkl_rt``, into this environment), a C++
compiler and PyTorch (``.[bench]``); the pipeline uses none of them. The script compiles
a small XLA FFI handler that computes one float32 product with MKL's ``cblas_sgemm``
(transposes given as attributes, no copies) and times, each variant in a fresh process
and the variants interleaved round by round, over one epoch of 468 batches of 128:

- ``products``: the eight products of one deep-net training step (``train_speed.py``'s
  shapes) in one ``jax.jit`` call per batch, by XLA (``xla``) or by MKL through the
  handler (``mkl``), and PyTorch's ``torch.mm`` of the same shapes (``torch``, the bound
  ``train_speed.py`` takes on this machine);
- ``step``: the deep net's whole training step written by hand in JAX (ReLU, the
  pipeline's in-graph dropout masks, softmax cross-entropy, RMSprop), once with XLA's
  products and once with MKL's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from results_file import append_results  # benchmarks/, beside this script

B, BATCHES = 128, 468
VARIANTS = ("products-xla", "products-mkl", "products-torch", "step-xla", "step-mkl")

HANDLER = r"""
#include "xla/ffi/api/ffi.h"
namespace ffi = xla::ffi;
extern "C" void cblas_sgemm(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                            float*, int);
static ffi::Error Product(ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b, ffi::ResultBuffer<ffi::F32> c,
                          bool ta, bool tb) {  // c = op(a) @ op(b), row-major
  auto ad = a.dimensions(), bd = b.dimensions();
  int m = ta ? ad[1] : ad[0], k = ta ? ad[0] : ad[1], n = tb ? bd[0] : bd[1];
  cblas_sgemm(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, 1.0f, a.typed_data(), ad[1], b.typed_data(), bd[1],
              0.0f, c->typed_data(), n);
  return ffi::Error::Success();
}
XLA_FFI_DEFINE_HANDLER_SYMBOL(MklProduct, Product, ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>()
    .Arg<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>().Attr<bool>("ta").Attr<bool>("tb"));
"""


def build_handler(directory: Path) -> Path:
    """Compile the FFI handler against this jaxlib's headers and the ``mkl`` wheel's ``libmkl_rt``."""
    import jax

    found = sorted(Path(sys.prefix, "lib").glob("libmkl_rt.so*"))
    if not found:
        raise SystemExit(f"no libmkl_rt.so* under {sys.prefix}/lib: run `pip install mkl` first")
    source, library = directory / "mkl_product.cc", directory / "libmkl_product.so"
    source.write_text(HANDLER)
    command = ["g++", "-O2", "-shared", "-fPIC", "-std=c++17", f"-I{jax.ffi.include_dir()}", str(source)]
    command += ["-o", str(library), f"-L{found[0].parent}", f"-l:{found[0].name}", f"-Wl,-rpath,{found[0].parent}"]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"compiling the FFI handler failed:\n{out.stderr[-2000:]}")
    return library


def product_function(kind: str, library: Path):
    """``dot(a, b, ta, tb)`` = op(a) @ op(b) by XLA or by MKL through the FFI handler."""
    import ctypes

    import jax
    import jax.numpy as jnp

    if kind == "xla":
        return lambda a, b, ta=False, tb=False: jnp.dot(a.T if ta else a, b.T if tb else b)
    jax.ffi.register_ffi_target("mkl_product", jax.ffi.pycapsule(ctypes.cdll.LoadLibrary(str(library)).MklProduct))

    def dot(a, b, ta=False, tb=False):
        shape = (a.shape[1] if ta else a.shape[0], b.shape[0] if tb else b.shape[1])
        return jax.ffi.ffi_call("mkl_product", jax.ShapeDtypeStruct(shape, jnp.float32))(a, b, ta=ta, tb=tb)

    return dot


def deep_net_step(dot):
    """The deep net's training step by hand: the products are ``dot``'s, the rest XLA's."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from pipeline.models.noise import _mask  # the pipeline's in-graph dropout masks, as its JAX backend draws them

    def mask(step, shape, keep, stream):
        shift = lambda x, n: lax.shift_right_logical(x, jnp.uint32(n))  # noqa: E731
        return _mask(jnp, shift, 0, step, shape=shape, keep=keep, stream=stream)

    def step(ws, acc, x, y, n):
        m0, m1, m2 = mask(n, x.shape, 0.8, 0), mask(n, (B, 625), 0.5, 1), mask(n, (B, 625), 0.5, 2)
        xm = x * m0
        z1 = dot(xm, ws[0])
        h1 = jnp.maximum(z1, 0) * m1
        z2 = dot(h1, ws[1])
        h2 = jnp.maximum(z2, 0) * m2
        p = jax.nn.softmax(dot(h2, ws[2]))
        d3 = (p - y) / B
        d2 = dot(d3, ws[2], tb=True) * (z2 > 0) * m2
        d1 = dot(d2, ws[1], tb=True) * (z1 > 0) * m1
        grads = (dot(xm, d1, ta=True), dot(h1, d2, ta=True), dot(h2, d3, ta=True))
        acc = [0.9 * a + 0.1 * g * g for a, g in zip(acc, grads)]
        ws = [w - 0.001 * g / jnp.sqrt(a + 1e-6) for w, g, a in zip(ws, grads, acc)]
        return ws, acc, -jnp.mean(jnp.sum(y * jnp.log(p), axis=1))

    return jax.jit(step)


def time_variant(variant: str, library: Path, epochs: int) -> list[float]:
    """Seconds per epoch of ``variant``, after one epoch of warm-up (compiles included there)."""
    import numpy as np

    rng = np.random.default_rng(0)
    if variant == "products-torch":
        import torch

        torch.set_num_threads(2)
        from train_speed import GEMM_SHAPES

        mats = [(torch.rand(m, k), torch.rand(k, n)) for m, k, n in GEMM_SHAPES["deep_mlp"]]

        def epoch():
            for _ in range(BATCHES):
                for a, b in mats:
                    torch.mm(a, b)
    else:
        import jax
        import jax.numpy as jnp

        dot = product_function(variant.split("-")[1], library)
        if variant.startswith("products"):
            shapes = [(B, 784), (B, 625), (B, 625), (B, 10), (B, 625), (B, 625), (784, 625), (625, 625), (625, 10)]
            args = [jnp.asarray(rng.random(s, dtype=np.float32)) for s in shapes]
            products = jax.jit(
                lambda x, h1, h2, d3, d2, d1, w1, w2, w3: (  # the eight products of train_speed's shapes
                    dot(x, w1), dot(h1, w2), dot(h2, w3), dot(x, d1, ta=True), dot(d2, w2, tb=True),
                    dot(h1, d2, ta=True), dot(d3, w3, tb=True), dot(h2, d3, ta=True),
                )
            )  # fmt: skip

            def epoch():
                jax.block_until_ready([products(*args) for _ in range(BATCHES)][-1])
        else:
            step = deep_net_step(dot)
            X = rng.random((BATCHES, B, 784), dtype=np.float32)
            Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, (BATCHES, B))]
            shapes = ((784, 625), (625, 625), (625, 10))
            state = {"ws": [jnp.asarray(rng.standard_normal(s, dtype=np.float32) * 0.01) for s in shapes]}
            state["acc"] = [jnp.zeros_like(w) for w in state["ws"]]

            def epoch():
                for i in range(BATCHES):
                    state["ws"], state["acc"], _ = step(state["ws"], state["acc"], X[i], Y[i], np.uint32(i))
                jax.block_until_ready(state["ws"])

    epoch()
    seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch()
        seconds.append(time.perf_counter() - t0)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="fresh processes per variant, interleaved")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per process, after one of warm-up")
    parser.add_argument("--output", type=Path, help="append JSON lines here")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one variant, in a worker process
    parser.add_argument("--library", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(time_variant(args.variant, args.library, args.epochs)))
        return
    env = {**os.environ, "MKL_NUM_THREADS": "2", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        library = build_handler(Path(tmp))
        for _ in range(args.rounds):
            for variant in VARIANTS:
                command = [sys.executable, __file__, "--variant", variant, "--library", str(library)]
                out = subprocess.run([*command, "--epochs", str(args.epochs)], env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"{variant} failed:\n{out.stderr[-3000:]}")
                seconds[variant] += json.loads(out.stdout.splitlines()[-1])
    bound = min(seconds["products-torch"])
    print(f"{'variant':16s} {'fastest s/epoch':>16s} {'median':>8s} {'÷ bound':>8s}")
    rows = []
    for variant, values in seconds.items():
        fastest, median = min(values), statistics.median(values)
        print(f"{variant:16s} {fastest:16.3f} {median:8.3f} {fastest / bound:8.2f}")
        rows.append({"variant": variant, "fastest": fastest, "median": median, "seconds": values})
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    append_results(args.output, [{"time": stamp, "cpus": os.cpu_count(), **row} for row in rows])


if __name__ == "__main__":
    main()
