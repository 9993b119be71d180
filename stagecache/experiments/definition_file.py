"""A task defined by a file of its own (``--file``: a sweep, a search), read and checked once per change of the file."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Generic, TypeVar

from stagecache.configcheck.errors import ConfigError

Definition = TypeVar("Definition")


class DefinitionFile(Generic[Definition]):
    """Mixed into a task with a ``file`` parameter: :attr:`definition` is the file as :meth:`read_definition` reads
    and checks it, read again whenever the file changed (luigi reuses task instances)."""

    kind: ClassVar[str]  # what the file defines, for the error of a file that cannot be read
    file: Any  # the task's luigi parameter
    _read: tuple[tuple[int, int] | None, Definition | None] = (None, None)  # (the file's mtime and size, what it held)

    def read_definition(self) -> Definition:
        raise NotImplementedError

    @property
    def definition(self) -> Definition:
        try:
            stat = os.stat(self.file)
        except OSError as exc:
            raise ConfigError(
                [f"--file: cannot read the {self.kind} file {self.file}: {exc.strerror or exc}"]
            ) from None
        key = (stat.st_mtime_ns, stat.st_size)
        if self._read[0] != key:
            self._read = (key, self.read_definition())
        definition = self._read[1]
        assert definition is not None  # read just now, or by an earlier call for the same file
        return definition
