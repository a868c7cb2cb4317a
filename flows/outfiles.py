"""Files the CLI writes for people (digests, exports): written beside their destination and moved into place, so
a reader never sees half a file and a failure (a full disk) leaves neither it nor a temporary file behind."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import click

from pipeline.errors import DiskFull


def save_file(path: Path, write: Callable[[Path], None], what: str = "the file") -> None:
    """Call `write(tmp)` for a temporary file beside `path`, then rename it to `path`. Raises DiskFull naming
    `path` when the disk is full, click.ClickException naming it for any other OS error."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:  # pyarrow's errors for a full disk are OSErrors too
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(exc):
            raise DiskFull(str(path), what) from exc
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc
