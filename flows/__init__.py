"""Prefect flows and the CLI: composition of the `pipeline` library and the `warehouse` store. Importing it changes
nothing in the process: entry points call flows.process.prepare_process() first."""
