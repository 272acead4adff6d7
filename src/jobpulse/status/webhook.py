"""Alertmanager's webhook payload (``version: "4"``), validated and bounded before anything is stored."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobpulse.status.model import parse_time

__all__ = ["Alert", "PayloadError", "WebhookPayload", "parse_payload"]

MAX_ALERTS = 1000
MAX_LABELS = 64
MAX_TEXT = 2000  # an annotation longer than this is cut (a description, never an id)
ZERO_TIME = "0001-01-01T00:00:00Z"


class PayloadError(ValueError):
    """The body is not an Alertmanager v4 payload; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _bounded_map(value: dict[str, Any], what: str, cut: bool) -> dict[str, str]:
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} {what}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise ValueError(f"{what} values must be strings")
        if len(key) > 200:
            raise ValueError(f"{what} names are at most 200 characters")
        if len(item) > MAX_TEXT:
            if not cut:
                raise ValueError(f"{what} values are at most {MAX_TEXT} characters")
            item = item[: MAX_TEXT - 1] + "…"
        out[key] = item
    return out


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, Any]
    annotations: dict[str, Any] = Field(default_factory=dict)
    startsAt: str = Field(max_length=64)
    endsAt: str = Field(default=ZERO_TIME, max_length=64)
    generatorURL: str = Field(default="", max_length=4096)
    fingerprint: str = Field(pattern=r"^[0-9a-zA-Z]{1,64}$")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, Any]) -> dict[str, str]:
        out = _bounded_map(value, "labels", cut=False)
        if not out.get("alertname"):
            raise ValueError("an alert needs an `alertname` label")
        return out

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: dict[str, Any]) -> dict[str, str]:
        return _bounded_map(value, "annotations", cut=True)

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_time(value)
        return value

    @property
    def alertname(self) -> str:
        name: str = self.labels["alertname"]
        return name

    @property
    def starts(self) -> float:
        return parse_time(self.startsAt)


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=4096)
    status: Literal["firing", "resolved"]
    receiver: str = Field(default="", max_length=200)
    alerts: list[Alert] = Field(max_length=MAX_ALERTS)
    groupLabels: dict[str, Any] = Field(default_factory=dict)
    commonLabels: dict[str, Any] = Field(default_factory=dict)
    commonAnnotations: dict[str, Any] = Field(default_factory=dict)
    externalURL: str = Field(default="", max_length=4096)
    truncatedAlerts: int = Field(default=0, ge=0)

    @field_validator("groupLabels", "commonLabels")
    @classmethod
    def _labels(cls, value: dict[str, Any]) -> dict[str, str]:
        return _bounded_map(value, "labels", cut=False)

    @field_validator("commonAnnotations")
    @classmethod
    def _annotations(cls, value: dict[str, Any]) -> dict[str, str]:
        return _bounded_map(value, "annotations", cut=True)


def parse_payload(body: bytes) -> WebhookPayload:
    """Parse and validate; :class:`PayloadError` (400 for bad JSON, 422 for a wrong shape) otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("the body is not JSON", 400) from None
    if not isinstance(data, dict):
        raise PayloadError("expected a JSON object (Alertmanager webhook payload, version 4)")
    if data.get("version") != "4":
        raise PayloadError(f'expected Alertmanager\'s webhook payload version "4", got {data.get("version")!r}')
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PayloadError(f"{where}: {first['msg']}") from None
