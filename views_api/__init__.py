"""The dashboard query API (FastAPI): thin routes over one SQL-building module."""
