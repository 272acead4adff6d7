"""The spec's ``status_page`` section: resolved components, and problems named by file:line:column."""

from __future__ import annotations

import pytest

from jobpulse.spec.errors import SpecError
from tests.status.helpers import SPEC, spec


def test_components_are_resolved_with_their_alerts_and_slo_alerts() -> None:
    page = spec().status_page
    assert page is not None
    api, workers = page.components
    assert (api.name, api.title, api.position, api.checks) == ("api", "API", 1, ("postgres",))
    assert api.alerts == ("ApiDown", "ApiSlow", "ApiAvailabilityErrorBudgetBurn")
    assert (workers.title, workers.min_workers) == ("Workers", 2)
    assert page.webhook_url == "http://127.0.0.1:8080/status/webhook/alertmanager"
    assert page.severity_status["critical"] == "major_outage"
    assert page.title == "Shop status"
    assert [c.name for c in page.affected("X", {"slo": "api-availability"})] == ["api"]
    assert page.affected("InternalOnly", {}) == []


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        (
            "alerts: [ApiDown, ApiSlow]",
            "alerts: [ApiDown, ApiSlw]",
            "shop.yaml:50:25",
            "unknown alert 'ApiSlw'; did you mean 'ApiSlow'?",
        ),
        ("slos: [api-availability]", "slos: [api-avail]", "shop.yaml:49:14", "unknown SLO 'api-avail'"),
        ("    - name: workers", "    - name: api", "shop.yaml:51:13", "component 'api' is defined twice"),
        (
            "  title: Shop status",
            "  title: Shop status\n  path: status",
            "shop.yaml:43:9",
            "String should match pattern",
        ),
        (
            "  url: https://status.example.com",
            "  url: status.example.com",
            "shop.yaml:43:8",
            "expected an http:// or https:// URL",
        ),
        (
            "heartbeats: {min_workers: 2}",
            "heartbeats: {min_workers: 0}",
            "shop.yaml:53:33",
            "greater than or equal to 1",
        ),
        ("      title: API\n", "      title: API\n      colour: red\n", "shop.yaml:47:7", "unknown key 'colour'"),
    ],
    ids=["alert", "slo", "duplicate", "path", "url", "min-workers", "unknown-key"],
)
def test_problems_name_file_line_and_column(old: str, new: str, where: str, message: str) -> None:
    assert old in SPEC
    with pytest.raises(SpecError) as exc:
        spec(SPEC.replace(old, new, 1))
    text = str(exc.value)
    assert where in text and message in text, text


def test_severities_without_a_mapping_degrade_performance() -> None:
    text = SPEC.replace("severity: warning\n    summary: Jobs failing", "severity: sev3\n    summary: Jobs failing")
    page = spec(text).status_page
    assert page is not None and page.severity_status["sev3"] == "degraded_performance"
    mapped = spec(
        text.replace(
            "  url: https://status.example.com",
            "  url: https://status.example.com\n  severity_status: {sev3: major_outage}",
        )
    )
    assert mapped.status_page is not None and mapped.status_page.severity_status["sev3"] == "major_outage"


def test_an_alert_may_set_the_status_it_gives() -> None:
    page = spec(
        SPEC.replace("alerts: [ApiDown, ApiSlow]", "alerts: [ApiDown, {name: ApiSlow, status: partial_outage}]")
    ).status_page
    assert page is not None
    api = page.components[0]
    assert api.alerts[:2] == ("ApiDown", "ApiSlow")
    assert api.status_for("ApiSlow", "warning", page.severity_status) == "partial_outage"
    assert api.status_for("ApiDown", "critical", page.severity_status) == "major_outage"
    with pytest.raises(SpecError) as exc:
        spec(SPEC.replace("alerts: [ApiDown, ApiSlow]", "alerts: [ApiDown, {name: ApiSlw, status: partial_outage}]"))
    assert "shop.yaml:50:32: error: status_page.components[0].alerts[1].name: unknown alert 'ApiSlw'" in str(exc.value)
    with pytest.raises(SpecError) as exc:
        spec(SPEC.replace("alerts: [ApiDown, ApiSlow]", "alerts: [ApiDown, {name: ApiSlow, status: down}]"))
    assert "shop.yaml:50:" in str(exc.value) and "status" in str(exc.value)
    with pytest.raises(SpecError, match="alert 'ApiDown' is listed twice"):
        spec(SPEC.replace("alerts: [ApiDown, ApiSlow]", "alerts: [ApiDown, ApiDown]"))
