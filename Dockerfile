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
COPY config/ config/
RUN pip install -c constraints.txt .

# The installed package looks for its shipped topic file next to itself (site-packages);
# point it at the copy under /app/config instead.
ENV NEWSWATCH_TOPIC__PATH=/app/config/topics/airspace_violations.toml

# Run as a non-root user; /app/data (the DuckDB warehouse, a named volume in compose) belongs to it.
RUN useradd --create-home --uid 10001 newswatch \
    && mkdir -p /app/data \
    && chown newswatch:newswatch /app/data
USER newswatch

ENTRYPOINT ["newswatch"]
CMD ["--help"]
