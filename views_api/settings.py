"""Settings of the views role."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ViewsSettings(BaseSettings):
    """Where the views API listens."""

    model_config = SettingsConfigDict(env_prefix="TALLY_VIEWS_", extra="ignore")

    host: str = "127.0.0.1"
    """Interface to bind."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port to bind."""
