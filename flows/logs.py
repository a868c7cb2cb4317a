"""Prefect's run loggers print a known failure (a NewswatchError: warehouse busy, disk full, bad config) as its
one-line message, without the traceback they attach to every exception: the CLI then ends with one `Error:` line
(flows/cli.py). Programming errors keep their traceback."""

from __future__ import annotations

import logging

from pipeline.errors import NewswatchError

RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


class KnownErrorsWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], NewswatchError):
            record.exc_info = None
            record.exc_text = None
        return True


def hide_known_error_tracebacks() -> None:
    """Install the filter on Prefect's run loggers (once; logging's configuration keeps a logger's filters)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, KnownErrorsWithoutTraceback) for f in logger.filters):
            logger.addFilter(KnownErrorsWithoutTraceback())
