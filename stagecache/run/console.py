"""Timestamps on luigi's own console lines, in the format of the pipeline's lines.

Luigi sets up its console handler when a run starts, unless the configuration names a
logging file (``[core] logging_conf_file``) or turns its logging off
(``[core] no_configure_logging``); that handler prints ``INFO: message`` with no time.
:func:`timestamp_luigis_lines` keeps luigi's set-up (its ``--log-level`` included), gives
the handler it adds a formatter with the time, and sets the pipeline's own console
lines to the same level.
"""

from __future__ import annotations

import logging

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LUIGI_FORMAT = "%(asctime)s %(levelname)s: %(message)s"
LINE_FORMAT = "%(asctime)s %(levelname)s: %(name)s: %(message)s"


def project_loggers() -> tuple[str, ...]:
    """The engine's logger and the project's (declared in its :class:`stagecache.stages.project.Project`)."""
    from stagecache.stages.project import declared

    project = declared()
    return ("stagecache", *(project.loggers if project is not None else ()))


def log_to_console() -> None:
    """Give the engine's and the project's loggers a console handler at INFO (epochs, downloads,
    artifacts written), unless the application set up logging itself. Luigi configures only its own."""
    if logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LINE_FORMAT, TIME_FORMAT))
    for name in project_loggers():
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)


def timestamp_luigis_lines() -> None:
    """Wrap luigi's default console set-up so that the handler it adds timestamps its lines."""
    from luigi.setup_logging import InterfaceLogging

    default = InterfaceLogging.__dict__.get("_default")
    if not isinstance(default, classmethod) or getattr(default.__func__, "timestamps", False):
        return  # another luigi than the one this was written for, or already wrapped: leave it be

    def _default(cls, opts):
        logger = logging.getLogger("luigi-interface")
        before = set(logger.handlers)
        configured = default.__func__(cls, opts)
        for handler in logger.handlers:
            if handler not in before:
                handler.setFormatter(logging.Formatter(LUIGI_FORMAT, TIME_FORMAT))
        level = getattr(logging, str(opts.log_level).upper(), None)
        for name in project_loggers():  # the pipeline's console lines follow the same --log-level
            if isinstance(level, int) and logging.getLogger(name).handlers:
                logging.getLogger(name).setLevel(level)
        return configured

    _default.timestamps = True  # type: ignore[attr-defined]
    InterfaceLogging._default = classmethod(_default)  # type: ignore[method-assign,assignment]
