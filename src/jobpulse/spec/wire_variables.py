"""Wire model of a Grafana dashboard template variable (``dashboards[].variables``)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*)?(?P<label>[a-zA-Z_]\w*)\s*\)\s*$"
)


class VariableSpec(BaseModel):
    """A query variable: ``$env`` lists the values of a label (``label_values(metric, label)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    query: str = Field(description="label_values(metric, label) or label_values(label)")
    label: str = Field(default="", description="shown next to the drop-down (default: the name)")
    multi: bool = False
    include_all: bool = False

    @field_validator("query")
    @classmethod
    def _label_values(cls, value: str) -> str:
        if not LABEL_VALUES.match(value):
            raise ValueError(f"expected label_values(metric, label) or label_values(label), got {value!r}")
        return value.strip()

    @property
    def metric(self) -> str | None:
        match = LABEL_VALUES.match(self.query)
        assert match is not None
        return match.group("metric")

    @property
    def label_name(self) -> str:
        match = LABEL_VALUES.match(self.query)
        assert match is not None
        return match.group("label")
