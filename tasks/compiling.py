"""Stages that compile PyTensor graphs: the configured backend, its compile cache, and what compiling cost."""

from __future__ import annotations

import logging
import time

from stagecache import ArtifactTask
from tasks.config import pytensor as pytensor_config
from tasks.threads import size_xla_pool

log = logging.getLogger(__name__)


def configured_backend() -> str:
    """``[pytensor] backend`` resolved to the backend that will run (``jax``, ``numba`` or ``c``)."""
    from pipeline.compile.backend import resolve_backend

    return resolve_backend(pytensor_config().backend)


def open_compile_cache():
    """Point the JAX backend at ``[pytensor] compile_cache`` (where JAX is installed); the directory or None."""
    from pipeline.compile.backend import use_compile_cache
    from pipeline.compile.placement import jax_available

    if not jax_available():
        return None
    config = pytensor_config()
    return use_compile_cache(
        config.compile_cache_dir(), max_bytes=config.compile_cache_max_mb << 20, graph_cache=config.graph_cache
    )


class CompilingTask(ArtifactTask):
    """An artifact task whose build compiles PyTensor functions.

    Its run opens the compile cache first and collects a record of every compilation
    (:attr:`compiles`), timed from :attr:`run_started`, the moment the task began.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:  # an unknown backend or a bad cache setting fails here, before any stage runs
            config = pytensor_config()
        except ValueError as exc:
            cause = exc.__cause__ or exc
            what = "backend" if "valid choice" in str(cause) else "invalid configuration"
            raise ValueError(f"[pytensor] {what}: {cause}") from exc
        if config.compile_cache_max_mb <= 0:
            raise ValueError(f"[pytensor] compile_cache_max_mb must be > 0, got {config.compile_cache_max_mb}")
        if config.device != "cpu":  # (the CPU needs no check, and status must not import PyTensor for it)
            from pipeline.compile.placement import check_device

            try:  # device = cuda without a GPU fails here, with one line
                check_device(config.device)
            except ValueError as exc:
                raise ValueError(f"[pytensor] {exc}") from None
        self.compiles: list = []
        self.run_started: float | None = None
        self.first_batch: dict | None = None

    def run(self):
        from pipeline.compile.backend import record_compiles

        self.run_started, self.first_batch = time.perf_counter(), None
        size_xla_pool()
        open_compile_cache()
        from pipeline.compile.placement import use_device

        use_device(pytensor_config().device)
        with record_compiles(on_record=self._compiled) as self.compiles:
            super().run()

    def _compiled(self, record) -> None:
        """Note when the training function's first call returned (the first batch is done)."""
        if record.name.endswith("_train") and self.first_batch is None:
            self.first_batch = {
                "seconds_to_first_batch": round(record.finished_at - self.run_started, 3),
                "first_batch_unix": time.time(),
            }
            log.info(
                "%s: first batch done %.2f s after the task started (compiling %.2f s; rewritten graph "
                "cache %s, XLA cache %s)",
                self.get_task_family(),
                self.first_batch["seconds_to_first_batch"],
                record.seconds,
                record.graph_cache,
                record.cache,
            )
