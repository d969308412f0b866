# Image for the roles in deploy/docker-compose.yml (not built by CI here: no Docker engine).
FROM node:20-slim AS ui
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY schemas schemas
COPY guards guards
COPY storage storage
COPY tenancy tenancy
COPY alerting alerting
COPY ingest ingest
COPY processors processors
COPY views_api views_api
COPY deploy deploy
COPY tallystream_sdk tallystream_sdk
RUN pip install --no-cache-dir --no-deps --no-build-isolation .
COPY ui/index.html ui/styles.css ui/
COPY ui/src ui/src
COPY --from=ui /ui/node_modules ui/node_modules
ENV TALLY_UI_DIR=/app/ui
USER nobody
