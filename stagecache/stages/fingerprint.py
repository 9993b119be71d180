"""Fingerprints: a hash of what an artifact depends on, including the project code it runs.

The project's code is the packages it declares (:attr:`stagecache.stages.project.Project.code_packages`,
``pipeline`` and ``tasks`` here); everything else is a library, the engine included, and enters a
fingerprint only through its version with ``[fingerprint] include_library_versions``. What a
stage's code hash covers (:func:`stage_code_hashes`), module by module:

1. The stage's class and its base classes, in the project modules that define them, and all of each
   module the stage names in its ``code`` attribute (for imports the source does not show, such as
   ``importlib.import_module``).
2. Of a module, what a stage runs: the statements that act when the module runs (anything but a
   definition: a call, an ``if``, an assignment into another object), the definitions of the names the
   stage uses (a function, class or top-level assignment), and, transitively, every top-level name those
   read (a helper, a constant). A definition no code of the stage reads does not count. A module that
   reads ``globals()`` or ``vars()`` counts whole.
3. Across modules: running a module runs its top-level imports, so each module they name counts with its
   statements that act (a definition there only binds a name); a name the stage uses of an import adds its
   definition in the module it comes from (``from m import f``), or the attributes read of a module
   (``import m as x`` then ``x.f``: ``f``; ``import a.b``: all of it); an import inside a function that runs
   adds every name it imports. The parent packages of every module run first (their statements that act).
   So an edit of one function changes the stages that call it, not those whose modules merely import a
   constant from its module.
4. Other stages are covered by their own fingerprints, which reach a dependent stage through
   its upstream fingerprints, not through its code. So the other stage classes of a module are never
   part of a stage's hash, and an import of a stage class (``from project.data import DownloadData``) is
   wiring and is not followed. A stage must therefore require every stage whose behaviour it uses.
5. Result-neutral project modules (declared with their reasons in the project) are not hashed,
   and neither is what only they import.

The hash of a module is per stage: the normalised source of the statements that count for it, in order.
Sources are normalised through the AST: comments, docstrings, formatting, help text
(``description=`` of a parameter) and import lines that name only unhashed modules (a library,
the engine, a result-neutral module) do not count; any other edit of what counts does.
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
    from stagecache.stages.project import current

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


#: A need that stands for every top-level name of a module (``import pkg.mod``, a star import, ``code``).
EVERYTHING = "*"


class _Module:
    """A module's top-level statements, normalised, with what each defines, reads, imports and hashes to."""

    def __init__(self, module: str, tree: ast.Module, is_package: bool):
        self.module = module
        self.is_package = is_package
        self.package = module if is_package else module.rpartition(".")[0]
        self.body = tree.body
        self.defines: dict[str, list[int]] = {}  # name -> the top-level statements that bind it
        self.always: list[int] = []  # statements that do something when the module runs
        self.reads: list[frozenset[str]] = []  # per statement: the names it reads or binds
        self.nested: list[list[ast.Import | ast.ImportFrom]] = []  # per statement: imports inside it
        self.uses: list[dict[str, int]] = []  # per statement: occurrences of each name
        self.attributes: list[dict[str, tuple[int, frozenset[str]]]] = []  # name -> (as ``name.x``, the x's)
        self.dumps: list[str] = []  # per statement: its normalised form ("" for an import of unhashed modules)
        for index, node in enumerate(self.body):
            names = _bound_names(node)
            if names is None:
                self.always.append(index)
            for name in names or ():
                self.defines.setdefault(name, []).append(index)
            uses: dict[str, int] = {}
            attributes: dict[str, tuple[int, set[str]]] = {}
            nested = []
            for part in ast.walk(node):
                if isinstance(part, ast.Name):
                    uses[part.id] = uses.get(part.id, 0) + 1
                elif isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name):
                    count, attrs = attributes.get(part.value.id, (0, set()))
                    attributes[part.value.id] = (count + 1, attrs | {part.attr})
                elif part is not node and isinstance(part, (ast.Import, ast.ImportFrom)):
                    nested.append(part)
            self.reads.append(frozenset(uses))
            self.uses.append(uses)
            self.attributes.append({k: (n, frozenset(a)) for k, (n, a) in attributes.items()})
            self.nested.append(nested)
            # in place (what the statement reads and imports is noted above): the tree is this object's own
            stripped = _strip_unhashed_imports(ast.Module(body=[node], type_ignores=[]), module, is_package)
            body = getattr(stripped, "body", [])
            self.dumps.append(
                ""
                if len(body) == 1 and isinstance(body[0], ast.Pass) and not isinstance(node, ast.Pass)
                else ast.dump(stripped, annotate_fields=False, include_attributes=False)
            )
        self.dynamic = any("globals" in names or "vars" in names for names in self.reads)

    def attributes_of(self, indices, name: str) -> frozenset[str]:
        """The attributes read from ``name`` in the statements ``indices`` (``name.attr``), or
        :data:`EVERYTHING` when the name is also used otherwise (passed on, stored: anything in it may be used)."""
        uses, via_attribute, attrs = 0, 0, set()
        for index in indices:
            uses += self.uses[index].get(name, 0)
            count, found = self.attributes[index].get(name, (0, frozenset()))
            via_attribute += count
            attrs |= found
        return frozenset(attrs) if uses == via_attribute else frozenset({EVERYTHING})


def _bound_names(node: ast.stmt) -> list[str] | None:
    """Names a top-level statement only binds (a definition), or None for a statement that acts when it runs."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Import):
        return [alias.asname or alias.name.partition(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return None if any(alias.name == "*" for alias in node.names) else [a.asname or a.name for a in node.names]
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = []
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, (ast.Attribute, ast.Subscript)):
                    return None  # writes into another object
                if isinstance(part, ast.Name):
                    names.append(part.id)
        return names
    return None


@functools.cache
def _analysis(module: str) -> _Module:
    """``module``'s parsed and normalised source (read once per process)."""
    path = module_file(module)
    if path is None:
        raise ValueError(f"no source file for module {module!r} in the project's code packages")
    return _parsed(module, path.read_text(encoding="utf-8"), path.name == "__init__.py", str(path))


@functools.lru_cache(maxsize=1024)
def _parsed(module: str, source: str, is_package: bool, filename: str) -> _Module:
    tree = _strip_help(_strip_docstrings(_parse(source, filename)))
    assert isinstance(tree, ast.Module)
    return _Module(module, tree, is_package)


def _add(needs: dict[str, frozenset[str]], module: str, names) -> None:
    needs[module] = needs.get(module, frozenset()) | frozenset(names)


def _import_needs(info: _Module, node: ast.Import | ast.ImportFrom, used, chosen) -> dict[str, frozenset[str]]:
    """What one import statement makes a stage run: ``{module: names}``.

    Running the statement runs each module it names (their statements that act, with no name: their
    definitions are only bound), and a name it binds that ``used(name)`` adds what that name is: a
    definition of the module it comes from, or a module, whose attributes read in the statements
    ``chosen`` count. An import whose every name is a stage class is wiring: those stages are in their
    own fingerprints.
    """
    needs: dict[str, frozenset[str]] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            _add(needs, alias.name, ())
            if used(alias.asname or alias.name.partition(".")[0]):
                # ``import a.b as m`` reads m's attributes; ``import a.b`` binds ``a``: all of a.b counts
                what = info.attributes_of(chosen, alias.asname) if alias.asname else frozenset({EVERYTHING})
                _add(needs, alias.name, what)
        return needs
    origin = _origin(node, info.package)
    names = [alias.name for alias in node.names]
    stages = stage_classes(origin) if module_file(origin) else frozenset()
    if set(names) <= stages:
        return needs
    _add(needs, origin, ())
    for alias in node.names:
        bound = alias.asname or alias.name
        if alias.name == "*":
            _add(needs, origin, {EVERYTHING})
        elif alias.name in stages:
            continue
        elif module_file(f"{origin}.{alias.name}"):  # a submodule, run by the import
            submodule = f"{origin}.{alias.name}"
            _add(needs, submodule, info.attributes_of(chosen, bound) if used(bound) else ())
        elif used(bound):
            _add(needs, origin, {alias.name})
    return needs


@functools.cache
def _select(module: str, need: frozenset[str], keep: frozenset[str]) -> tuple[str, tuple[tuple[str, frozenset], ...]]:
    """Hash of what ``module`` runs for a stage that uses its names ``need`` (:data:`EVERYTHING`: all of them),
    and what that runs in other project modules, ``((module, names), ...)``.

    What counts: the statements that act when the module runs (not definitions: they only bind a name),
    and the definitions of the names needed, with every top-level name they read, transitively. The stage
    classes of the module other than ``keep`` are left out: other stages count in their own fingerprints.
    """
    info = _analysis(module)
    others = stage_classes(module) - keep
    everything = EVERYTHING in need or info.dynamic
    chosen = set(info.always)
    seen: set[str] = set()
    todo = [*(info.defines if everything else need), *(n for i in info.always for n in info.reads[i])]
    while todo:
        name = todo.pop()
        if name in seen or name in others:
            continue
        seen.add(name)
        for index in info.defines.get(name, ()):
            if index not in chosen:
                chosen.add(index)
                todo.extend(info.reads[index])
    order = sorted(chosen)

    def used(name: str) -> bool:
        return name in seen

    deps: dict[str, frozenset[str]] = {}
    for node in info.body:  # running the module runs its top-level imports
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for dep, names in _import_needs(info, node, used, order).items():
                _add(deps, dep, names)
    for index in order:  # imports inside what runs (functions, classes, statements that act): every name counts
        for part in info.nested[index]:
            for dep, names in _import_needs(info, part, lambda _name: True, [index]).items():
                _add(deps, dep, names)
    parts = module.split(".")
    for i in range(1, len(parts)):  # parent packages run first
        _add(deps, ".".join(parts[:i]), ())
    deps.pop(module, None)
    digest = hashlib.sha256("\n".join(info.dumps[i] for i in order if info.dumps[i]).encode()).hexdigest()
    return digest, tuple(sorted((m, n) for m, n in deps.items() if module_file(m)))


def _closure(starts: dict[str, tuple[frozenset[str], frozenset[str]]]) -> dict[str, str]:
    """Hashes of the modules reached from ``starts`` (``{module: (names needed, stage classes kept)}``)."""
    needs: dict[str, frozenset[str]] = {}
    keeps = {module: keep for module, (_, keep) in starts.items()}
    todo = [(module, need) for module, (need, _) in starts.items()]
    while todo:
        module, need = todo.pop()
        merged = needs.get(module, frozenset()) | need
        if EVERYTHING in merged:
            merged = frozenset({EVERYTHING})
        if module in needs and merged == needs[module]:
            continue
        needs[module] = merged
        if not is_result_neutral(module):
            todo.extend(_select(module, merged, keeps.get(module, frozenset()))[1])
    return {m: _select(m, needs[m], keeps.get(m, frozenset()))[0] for m in sorted(needs) if not is_result_neutral(m)}


def code_hashes(modules) -> dict[str, str]:
    """``{module: hash}`` for all of ``modules`` and what they run of the project's other modules, transitively.

    Result-neutral modules are left out (the project's :attr:`~stagecache.stages.project.Project.result_neutral`).
    """
    return _closure({m: (frozenset({EVERYTHING}), frozenset()) for m in modules})


def stage_code_hashes(task) -> dict[str, str]:
    """``{module: hash}`` of the code ``task`` runs: its class and base classes, all of ``task.code``, and what
    they use and run of the project's modules (the rules are in this module's docstring)."""
    starts: dict[str, tuple[frozenset[str], frozenset[str]]] = {
        m: (frozenset({EVERYTHING}), frozenset()) for m in task.code
    }
    for cls in type(task).__mro__:
        if module_file(cls.__module__) is not None:
            need, keep = starts.get(cls.__module__, (frozenset(), frozenset()))
            starts[cls.__module__] = (need | {cls.__name__}, keep | {cls.__name__})
    return _closure(starts)


def clear_code_cache() -> None:
    """Forget cached module hashes (after editing sources in a running process)."""
    _analysis.cache_clear()
    _select.cache_clear()
