"""Fingerprints: a hash of what an artifact depends on, including the code it runs.

What a stage's code hash covers (``stage_code_hashes``), module by module:

1. The module that defines the stage's Task class, and the modules of its base classes
   (``tasks.train`` for ``TrainLogReg``, ``tasks.base`` for every stage), plus any modules
   the stage names in its ``code`` attribute (needed only for imports the source does not
   show, such as ``importlib.import_module``).
2. Whatever those modules import from ``pipeline`` or ``tasks``, at module level or
   inside functions and methods, transitively, and the parent packages of every module
   (their ``__init__`` runs first: ``pipeline.models`` sets floatX, ``tasks`` sets thread
   limits).
3. Other stages are covered by their own fingerprints, which reach a dependent stage
   through its upstream fingerprints, not through its code. So a module that defines
   several stages is hashed, for each stage, without the bodies of the other stage
   classes in it (editing ``TrainMLP`` does not rerun ``TrainLogReg``), and an import
   whose every name is a stage class (``from tasks.data import OneHotMNIST``) is wiring
   and is not followed. A stage must therefore require every stage whose behaviour it
   uses (reading another stage's parameters is fine).
4. Result-neutral modules (:data:`RESULT_NEUTRAL`, each with its reason) are not hashed,
   and neither is what only they import: a module that cannot change a result cannot pass
   one on (``tasks.progress`` imports ``tasks.status`` to plan; the report, which uses
   ``tasks.status`` for its provenance, imports it itself and so hashes it).

Sources are normalised through the AST, so comments, docstrings and formatting do not
count; any other edit does.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import json
from pathlib import Path

PIPELINE_PACKAGE = "pipeline"
TASKS_PACKAGE = "tasks"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PIPELINE_ROOT = PROJECT_ROOT / PIPELINE_PACKAGE
TASKS_ROOT = PROJECT_ROOT / TASKS_PACKAGE

# The one place that declares code result-neutral: left out of every fingerprint, with the reason.
RESULT_NEUTRAL = {
    "pipeline.compile": "chooses how graphs are compiled (the [pytensor] backend, itself a cosmetic setting), "
                        "caches compiled work (JAX's XLA executables, PyTensor's rewritten graphs, both checked "
                        "before use) and records what compiling cost; the numbers a model computes are defined "
                        "by the model modules' graphs, not by it (tests: a warm start computes what a cold one "
                        "did to the last bit; the jax and numba backends train the same model)",
    "tasks.compiling": "opens the compile layer's caches for a stage and collects its compile records: "
                       "compile machinery, like pipeline.compile",
    "tasks.console": "formats luigi's console lines (adds the time): output only",
    "tasks.childevents": "carries worker processes' stage starts and ends to the scheduling process for "
                         "tasks.progress: output only",
    "tasks.progress": "logs the plan, stage and epoch lines and the final table, and forwards progress to the "
                      "scheduler: it reads results, it never changes them",
    "tasks.configcheck": "only reads the configuration and the command line and stops a run before any work "
                         "when they are wrong; a configuration it accepts reaches the stages as luigi reads it",
    "tasks.divergence": "refuses to train again a configuration that diverged before; it decides whether a "
                        "stage builds, never what it computes",
    # moving and checking bytes: where an artifact or checkpoint is kept never changes what a stage computes
    **{module: "stores and verifies bytes (a directory or an S3-compatible bucket): every load is checked "
               "against the sha256 recorded when the bytes were written, and a training resumed from a "
               "checkpoint is tested to end bit-identical to an uninterrupted one, so the storage layer cannot "
               "change a result without failing a check"
       for module in ("tasks.storage", "tasks.manifest", "tasks.checkpoints", "tasks.store_target", "tasks.stores")},
    "tasks.fingerprint": "computes the keys themselves: an edit that changes how they are computed changes "
                         "them by itself, and one that does not (a refactor) has nothing to rerun",
}


def is_result_neutral(module: str) -> bool:
    """True when ``module`` is, or is inside, a package of :data:`RESULT_NEUTRAL`."""
    return any(module == name or module.startswith(name + ".") for name in RESULT_NEUTRAL)


def canonical_hash(obj) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def module_file(module: str) -> Path | None:
    """Source file of a ``pipeline...`` or ``tasks...`` module, or None when there is none."""
    parts = module.split(".")
    root = {PIPELINE_PACKAGE: PIPELINE_ROOT, TASKS_PACKAGE: TASKS_ROOT}.get(parts[0])
    if root is None:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def stage_classes(module: str) -> frozenset[str]:
    """Names of the stage classes (luigi tasks, not configuration) defined in a ``tasks`` module."""
    if module.split(".")[0] != TASKS_PACKAGE:
        return frozenset()
    import luigi

    namespace = vars(importlib.import_module(module))
    return frozenset(name for name, obj in namespace.items()
                     if isinstance(obj, type) and issubclass(obj, luigi.Task) and not issubclass(obj, luigi.Config)
                     and obj.__module__ == module)


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names of the project modules that ``tree`` imports (absolute or relative), stage wiring left out."""
    found = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            names = [alias.name for alias in node.names]
            if module_file(origin) and set(names) <= stage_classes(origin):
                continue  # wiring: those stages are in their own fingerprints
            found.add(origin)
            found.update(f"{origin}.{name}" for name in names)  # submodules imported by name
    return {m for m in found if module_file(m)}


def _parse(source: str, filename: str, attempts: int = 3) -> ast.Module:
    """``ast.parse``, retried when CPython raises its spurious "AST constructor recursion depth mismatch".

    CPython 3.11 before 3.11.8 can leave the AST converter's depth counter off after an
    unrelated earlier failure (python/cpython#106905); the next parse then fails with that
    SystemError although the source is fine. Each call starts the counter afresh, so a
    retry parses normally. Real syntax errors are raised as they are.
    """
    for attempt in range(attempts):
        try:
            return ast.parse(source, filename=filename)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@functools.lru_cache(maxsize=None)
def _module_digest(module: str, keep: frozenset[str] = frozenset()) -> tuple[str, frozenset[str]]:
    """Hash and imports of ``module``, without the stage classes in it other than ``keep`` (read once per process)."""
    path = module_file(module)
    if path is None:
        raise ValueError(f"no source file for module {module!r} under {PROJECT_ROOT}")
    return _source_digest(module, keep, path.read_text(encoding="utf-8"), path.name == "__init__.py", str(path))


@functools.lru_cache(maxsize=1024)
def _source_digest(module: str, keep: frozenset[str], source: str, is_package: bool,
                   filename: str) -> tuple[str, frozenset[str]]:
    tree = _parse(source, filename)
    others = stage_classes(module) - keep
    tree.body = [node for node in tree.body if not (isinstance(node, ast.ClassDef) and node.name in others)]
    deps = _imported_modules(tree, module, is_package)
    parts = module.split(".")
    deps.update(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
    normalised = ast.dump(_strip_docstrings(tree), annotate_fields=False, include_attributes=False)
    return hashlib.sha256(normalised.encode()).hexdigest(), frozenset(deps - {module})


def _closure(starts: dict[str, frozenset[str]]) -> dict[str, str]:
    keeps: dict[str, frozenset[str]] = {}
    todo = list(starts.items())
    while todo:
        module, keep = todo.pop()
        if module in keeps and keep <= keeps[module]:
            continue
        keeps[module] = keeps.get(module, frozenset()) | keep
        if not is_result_neutral(module):
            todo.extend((dep, frozenset()) for dep in _module_digest(module, keeps[module])[1])
    return {m: _module_digest(m, keeps[m])[0] for m in sorted(keeps) if not is_result_neutral(m)}


def code_hashes(modules) -> dict[str, str]:
    """``{module: hash}`` for ``modules`` and every project module they import, transitively.

    Result-neutral modules are left out (:data:`RESULT_NEUTRAL`).
    """
    return _closure({m: frozenset() for m in modules})


def stage_code_hashes(task) -> dict[str, str]:
    """``{module: hash}`` of all the code ``task`` runs: its class's and base classes' modules, ``task.code``,
    and what they import (the rules are in this module's docstring)."""
    starts: dict[str, frozenset[str]] = {m: frozenset() for m in task.code}
    for cls in type(task).__mro__:
        if cls.__module__.split(".")[0] in (PIPELINE_PACKAGE, TASKS_PACKAGE):
            starts[cls.__module__] = starts.get(cls.__module__, frozenset()) | {cls.__name__}
    return _closure(starts)


def clear_code_cache() -> None:
    """Forget cached module hashes (after editing sources in a running process)."""
    _module_digest.cache_clear()


# --- Environment metadata (recorded in every manifest; part of the fingerprint only when
# [fingerprint] include_library_versions is true). Read from package metadata: nothing is imported.
RECORDED_LIBRARIES = ("numpy", "pytensor", "jax", "luigi", "joblib", "matplotlib")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the results depend on (None where one is not installed)."""
    from importlib import metadata

    out = {}
    for name in RECORDED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    """Where an artifact was built: host, Python version, platform and library versions."""
    import platform
    import socket
    import sys

    return {"host": socket.gethostname(), "python": platform.python_version(), "platform": sys.platform,
            "libraries": library_versions()}
