"""Prefect flows and the CLI: composition of the `pipeline` library and the `warehouse` store."""

from flows.logs import hide_known_error_tracebacks

hide_known_error_tracebacks()
