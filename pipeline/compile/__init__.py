"""The compile layer: how PyTensor graphs are compiled, and the caches that make a warm start fast.

Result-neutral: it chooses the backend, keeps JAX's XLA executables and PyTensor's
rewritten graphs, and records what compiling cost; the numbers a model computes do
not depend on it (``tasks.project.RESULT_NEUTRAL`` leaves it out of every
fingerprint). Model modules hold the math and call :func:`backend.compile_function`;
anything that changes what a model computes belongs there, not here.
Every use of PyTensor's or JAX's internals is in :mod:`pipeline.compile.internals`.
"""
