"""Wire models for the optional ``alertmanager`` section: receivers per severity and grouping."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ReceiverSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    severities: list[str] = Field(min_length=1, description="alerts with these severities go to this receiver")
    webhook_url: str | None = None
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Alertmanager receiver settings passed through as written (slack_configs, email_configs, ...)",
    )
    continue_: bool = Field(default=False, alias="continue")

    @field_validator("config")
    @classmethod
    def _no_name(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "name" in value:
            raise ValueError("set the receiver's name with `name`, not inside `config`")
        return value


class AlertmanagerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: list[ReceiverSpec] = Field(default_factory=list)
    default_receiver: str = "default"
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "service"])
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    inhibit_tickets_by_pages: bool = True
