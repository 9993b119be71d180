"""Fingerprints: a hash of what an artifact depends on, including the project code it runs.

The project's code is the packages it declares (:attr:`stagecache.project.Project.code_packages`,
``pipeline`` and ``tasks`` here); everything else is a library, the engine included, and enters a
fingerprint only through its version with ``[fingerprint] include_library_versions``. What a
stage's code hash covers (:func:`stage_code_hashes`), module by module:

1. The project modules that define the stage's class and its base classes (the module of a stage
   class and of its base classes), plus any modules the stage names in its ``code`` attribute (for imports the
   source does not show, such as ``importlib.import_module``).
2. Whatever those modules import from the project, at module level or inside functions,
   transitively, and the parent packages of every module (their ``__init__`` runs first).
3. Other stages are covered by their own fingerprints, which reach a dependent stage through
   its upstream fingerprints, not through its code. So a module that defines several stages is
   hashed, for each stage, without the bodies of the other stage classes in it, and an import
   whose every name is a stage class (``from project.data import DownloadData``) is wiring and is
   not followed. A stage must therefore require every stage whose behaviour it uses.
4. Result-neutral project modules (declared with their reasons in the project) are not hashed,
   and neither is what only they import.

Sources are normalised through the AST: comments, docstrings, formatting, help text
(``description=`` of a parameter) and import lines that name only unhashed modules (a library,
the engine, a result-neutral module) do not count; any other edit does.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import json
import sys
from pathlib import Path


def _project():
    from stagecache.project import current

    return current()


def result_neutral() -> dict[str, str]:
    """The project's result-neutral modules, each with its reason (declared once, in its :class:`Project`)."""
    return dict(_project().result_neutral)


def is_result_neutral(module: str) -> bool:
    """True when ``module`` is, or is inside, a package the project declared result-neutral."""
    return any(module == name or module.startswith(name + ".") for name in _project().result_neutral)


#: Where a code package's sources are read from, when not where Python imports it from (tests hash edited copies).
SOURCE_ROOTS: dict[str, Path] = {}


def _package_dir(package: str) -> Path | None:
    if package in SOURCE_ROOTS:
        return SOURCE_ROOTS[package]
    return _imported_package_dir(package)


@functools.cache
def _imported_package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@functools.cache
def _imported_module_file(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    return origin if origin is not None and origin.suffix == ".py" and origin.is_file() else None


def canonical_hash(obj) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def module_file(module: str) -> Path | None:
    """Source file of a module of the project's code packages, or None (a library's, or none at all)."""
    parts = module.split(".")
    if parts[0] not in _project().code_packages:
        return None
    root = _package_dir(parts[0])
    if root is None:  # a project of one module (``code_packages=("solo",)`` for solo.py) hashes that file
        return _imported_module_file(module) if len(parts) == 1 else None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


#: Keyword arguments that are help text, never behaviour (luigi's ``Parameter(description=...)``).
HELP_KEYWORDS = frozenset({"description"})


def _strip_help(tree: ast.AST) -> ast.AST:
    """Drop help-text keyword arguments (:data:`HELP_KEYWORDS`) from every call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            node.keywords = [k for k in node.keywords if k.arg not in HELP_KEYWORDS]
    return tree


def _is_hashed(module: str) -> bool:
    return module_file(module) is not None and not is_result_neutral(module)


def _strip_unhashed_imports(tree: ast.AST, module: str, is_package: bool) -> ast.AST:
    """Drop import lines that name only modules no fingerprint hashes (libraries, the engine, result-neutral
    project modules): adding or moving such an import changes nothing a stage computes by itself."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        kept = []
        for stmt in body:
            if isinstance(stmt, ast.Import):
                names = [alias.name for alias in stmt.names]
            elif isinstance(stmt, ast.ImportFrom):
                origin = _origin(stmt, package)
                names = [origin] + [f"{origin}.{alias.name}" for alias in stmt.names]
            else:
                kept.append(stmt)
                continue
            if any(_is_hashed(name) for name in names):
                kept.append(stmt)
        node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]
    return tree


def _origin(node: ast.ImportFrom, package: str) -> str:
    """The absolute module an ``from ... import`` line reads from."""
    if not node.level:
        return node.module or ""
    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def stage_classes(module: str) -> frozenset[str]:
    """Names of the stage classes (luigi tasks, not configuration) defined in a project module.

    Only an imported module can define a stage in use (a stage's class is imported to be run), so
    a module not imported yet is not imported here: ``status`` must not load what no stage needs.
    """
    loaded = sys.modules.get(module)
    if loaded is None or module_file(module) is None:
        return frozenset()
    import luigi

    return frozenset(
        name
        for name, obj in vars(loaded).items()
        if isinstance(obj, type)
        and issubclass(obj, luigi.Task)
        and not issubclass(obj, luigi.Config)
        and obj.__module__ == module
    )


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names of the project modules that ``tree`` imports (absolute or relative), stage wiring left out."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            origin = _origin(node, package)
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


@functools.cache
def _module_digest(module: str, keep: frozenset[str] = frozenset()) -> tuple[str, frozenset[str]]:
    """Hash and imports of ``module``, without the stage classes in it other than ``keep`` (read once per process)."""
    path = module_file(module)
    if path is None:
        raise ValueError(f"no source file for module {module!r} in the project's code packages")
    return _source_digest(module, keep, path.read_text(encoding="utf-8"), path.name == "__init__.py", str(path))


@functools.lru_cache(maxsize=1024)
def _source_digest(
    module: str, keep: frozenset[str], source: str, is_package: bool, filename: str
) -> tuple[str, frozenset[str]]:
    tree = _parse(source, filename)
    others = stage_classes(module) - keep
    tree.body = [node for node in tree.body if not (isinstance(node, ast.ClassDef) and node.name in others)]
    deps = _imported_modules(tree, module, is_package)
    parts = module.split(".")
    deps.update(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
    normalised_tree = _strip_unhashed_imports(_strip_help(_strip_docstrings(tree)), module, is_package)
    normalised = ast.dump(normalised_tree, annotate_fields=False, include_attributes=False)
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

    Result-neutral modules are left out (the project's :attr:`~stagecache.project.Project.result_neutral`).
    """
    return _closure({m: frozenset() for m in modules})


def stage_code_hashes(task) -> dict[str, str]:
    """``{module: hash}`` of all the code ``task`` runs: its class's and base classes' modules, ``task.code``,
    and what they import (the rules are in this module's docstring)."""
    starts: dict[str, frozenset[str]] = {m: frozenset() for m in task.code}
    for cls in type(task).__mro__:
        if module_file(cls.__module__) is not None:
            starts[cls.__module__] = starts.get(cls.__module__, frozenset()) | {cls.__name__}
    return _closure(starts)


def clear_code_cache() -> None:
    """Forget cached module hashes (after editing sources in a running process)."""
    _module_digest.cache_clear()
