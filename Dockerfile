# Image for the roles in deploy/docker-compose.yml (not built by CI here: no Docker engine).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY storage storage
COPY tenancy tenancy
COPY alerting alerting
COPY ingest ingest
COPY processors processors
COPY views_api views_api
COPY deploy deploy
COPY tallystream_sdk tallystream_sdk
RUN pip install --no-cache-dir .
USER nobody
