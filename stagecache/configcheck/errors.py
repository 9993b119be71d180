"""What a configuration mistake is: :class:`ConfigError`, its exit code, and the lines for a file
that :mod:`configparser` cannot read at all. Standard library only (see :mod:`stagecache.configcheck`)."""

from __future__ import annotations

import ast
import configparser
import re

CONFIG_ERROR_EXIT = 3
"""Exit code of both entry points for a configuration or command-line mistake (distinct from [retcode])."""


class ConfigError(ValueError):
    """One or more configuration problems, each a line naming where and what."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _unrepr(line: str) -> str:
    """configparser keeps the repr() of a line it could not read."""
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return line
    return value if isinstance(value, str) else line


def _section_at(path: str, lineno: int) -> str:
    """``"[Section] "`` for the section a line of ``path`` belongs to ("" when unknown)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()[:lineno]
    except OSError:
        return ""
    headers = [m.group(1) for m in (re.match(r"\s*\[(.+)\]", line) for line in lines) if m]
    return f"[{headers[-1]}] " if headers else ""


def syntax_error(exc: configparser.Error) -> ConfigError:
    """A ConfigError for what :mod:`configparser` could not read."""
    source = getattr(exc, "source", None) or getattr(exc, "filename", None) or "luigi.cfg"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return ConfigError([f"{source}:{exc.lineno}: {exc.line.strip()!r} comes before any [section] header"])
    if isinstance(exc, configparser.ParsingError):
        return ConfigError(
            [
                f"{source}:{lineno}: {_section_at(source, lineno)}cannot read {_unrepr(line).strip()!r}: "
                f"expected 'key = value' (is the '=' missing?), a [section] header, or a comment "
                f"starting with #"
                for lineno, line in exc.errors
            ]
        )
    if isinstance(exc, configparser.DuplicateOptionError):
        return ConfigError([f"{source}:{exc.lineno}: [{exc.section}] {exc.option} is set a second time in this file"])
    if isinstance(exc, configparser.DuplicateSectionError):
        return ConfigError([f"{source}:{exc.lineno}: [{exc.section}] appears a second time in this file"])
    return ConfigError([f"{source}: {exc}"])
