# newswatch image: the CLI and its Prefect flows. Used by docker-compose.yml (service `newswatch`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# torch first, from the CPU-only index: resolved from PyPI it would pull the multi-GB CUDA build.
# constraints.txt pins torch==2.13.0, which the installed 2.13.0+cpu satisfies.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# The project and its exact dependency versions.
COPY pyproject.toml constraints.txt README.md ./
COPY pipeline/ pipeline/
COPY warehouse/ warehouse/
COPY flows/ flows/
# The default config, the feed list, the topic and the demo corpus are package data (pipeline/defaults/),
# installed into site-packages with the code: the sources are not needed after this.
RUN pip install -c constraints.txt . && rm -rf pipeline warehouse flows build *.egg-info

# The compose service's settings, read after the shipped defaults (config/local.toml in the working directory).
COPY config/docker.toml config/local.toml

# Run as a non-root user; /app/data (the DuckDB warehouse, a named volume in compose) and /app/out (where
# `newswatch demo` writes its digest; its warehouse goes to /app/data/demo.duckdb) belong to it.
RUN useradd --create-home --uid 10001 newswatch \
    && mkdir -p /app/data /app/out \
    && chown newswatch:newswatch /app/data /app/out
USER newswatch

ENTRYPOINT ["newswatch"]
CMD ["--help"]
