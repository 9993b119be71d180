"""Fingerprints: a hash of what an artifact depends on, including the code it runs.

The code version of a stage is the hash of the ``pipeline`` modules it names and,
transitively, the ``pipeline`` modules (and parent packages) those import. Sources are
normalised through the AST, so comments, docstrings and formatting do not count.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

PIPELINE_PACKAGE = "pipeline"
PIPELINE_ROOT = Path(__file__).resolve().parent.parent / PIPELINE_PACKAGE


def canonical_hash(obj) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def module_file(module: str) -> Path | None:
    """Source file of a ``pipeline...`` module, or None when there is none."""
    parts = module.split(".")
    if parts[0] != PIPELINE_PACKAGE:
        return None
    base = PIPELINE_ROOT.joinpath(*parts[1:])
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


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names of the ``pipeline`` modules that ``tree`` imports (absolute or relative)."""
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
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)  # submodules imported by name
    return {m for m in found if m.split(".")[0] == PIPELINE_PACKAGE and module_file(m)}


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
def _module_digest(module: str) -> tuple[str, frozenset[str]]:
    path = module_file(module)
    if path is None:
        raise ValueError(f"no source file for module {module!r} under {PIPELINE_ROOT}")
    tree = _parse(path.read_text(encoding="utf-8"), str(path))
    deps = _imported_modules(tree, module, path.name == "__init__.py")
    parts = module.split(".")
    deps.update(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
    normalised = ast.dump(_strip_docstrings(tree), annotate_fields=False, include_attributes=False)
    return hashlib.sha256(normalised.encode()).hexdigest(), frozenset(deps - {module})


def code_hashes(modules) -> dict[str, str]:
    """``{module: hash}`` for ``modules`` and every ``pipeline`` module they import, transitively."""
    out: dict[str, str] = {}
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in out:
            continue
        digest, deps = _module_digest(module)
        out[module] = digest
        todo.extend(deps)
    return dict(sorted(out.items()))


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
