"""The exception tree drawn in pipeline/errors.py's docstring is the code's: every error class of the library is
in it, under the classes it derives from."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pipeline
from pipeline import errors


def _library_errors() -> dict[str, type]:
    for module in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        importlib.import_module(module.name)
    found: dict[str, type] = {}
    todo = [errors.NewswatchError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("pipeline."):
            found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def _drawn_tree() -> dict[str, str | None]:
    """Each class named in the drawing -> the class it hangs under (None for the root)."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"([ │]*)(?:[├└]── )?([A-Z]\w+)(?:  |$)", line)
        if not match or "──" not in line and match.group(2) != "NewswatchError":
            continue
        depth = len(match.group(1)) + ("──" in line)  # a branch hangs under the name drawn at its column
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else None
        stack.append((depth, match.group(2)))
    return parents


def test_every_library_error_is_drawn_under_its_base_classes() -> None:
    drawn, classes = _drawn_tree(), _library_errors()
    assert drawn["NewswatchError"] is None and len(drawn) > 15, drawn
    assert set(classes) - set(drawn) == set(), "missing from the tree in pipeline/errors.py"
    assert set(drawn) - set(classes) == set(), "drawn in pipeline/errors.py but not defined"
    for name, parent in drawn.items():
        if parent is not None:
            assert issubclass(classes[name], classes[parent]), f"{name} is drawn under {parent}"
    for name in ("FeedUnavailable", "FetchRefused"):  # the drawing names FetchFailed's and DeliveryFailed's members
        assert issubclass(classes[name], errors.FetchFailed)
    for name in ("SmtpUnavailable", "SmtpRejected", "WebhookUnavailable", "WebhookRejected", "NotifyUnavailable"):
        assert issubclass(classes[name], errors.DeliveryFailed)
