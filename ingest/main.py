"""Entry point of the ingest role: `tallystream-ingest`."""

from __future__ import annotations

import uvicorn

from ingest.app import create_app
from ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
