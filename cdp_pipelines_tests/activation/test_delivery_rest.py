"""deliver() to a real local HTTP API that can be scripted to rate-limit, fail and refuse."""

from __future__ import annotations

from datetime import date

import pytest

from cdp_pipelines.activation.destinations import DeliveryError, deliver
from cdp_pipelines.tenant.delivery import DestinationSpec
from cdp_pipelines_tests.activation.conftest import REST_TOKEN
from cdp_pipelines_tests.servers import ScriptedResponse

DAY = date(2026, 11, 23)


def api(rest, **options) -> DestinationSpec:
    return DestinationSpec(
        name="ads_api", type="rest", path="/members", batch_size=2,
        options={"base_url": rest.base_url, "token_env": "DELIVERY_REST_TOKEN",
                 "backoff_seconds": 0.01, "max_backoff_seconds": 0.05, **options},
    )


def run(frame, destination, template, deployment, log):
    return deliver(
        frame, destination, template, orchestration="daily", treatment="a", campaign="spring",
        delivery_date=DAY, deployment=deployment, log=log,
    )


def ids(payloads) -> list[list[str]]:
    return [[record["customer_id"] for record in batch] for batch in payloads]


def test_rate_limited_batches_wait_and_all_arrive_once(rest, audience, template, deployment,
                                                      log):
    rest.script("POST", "/members", [ScriptedResponse(429, {"Retry-After": "0"}, {"slow": 1})])
    destination = api(rest).model_copy(update={"wrap_field": "members"})

    result = run(audience, destination, template, deployment, log)

    assert (result.status, result.rows, result.rejected, result.parts_sent) == ("sent", 5, 1, 3)
    batches = [payload["members"] for payload in rest.received["/members"]]
    assert ids(batches) == [["a1", "a2"], ["a4", "a5"], ["a6"]]
    assert batches[1][0] == {"customer_id": "a4", "Email": "dee@example.com",
                             "First Name": "Dée", "ltv": 0.0, "list": "spring"}
    assert len(rest.requests_to("/members")) == 4  # the 429, then three batches
    # Each batch carries its own idempotency key, the same again on its retry.
    keys = [k for path, k in rest.idempotency_keys if path == "/members"]
    assert keys[0] == keys[1] == f"{result.batch_key}-0"
    assert keys[2:] == [f"{result.batch_key}-1", f"{result.batch_key}-2"]
    entries = log.entries()
    assert [(e.status, e.part, e.rows) for e in entries] == [
        ("acknowledged", 0, 2), ("acknowledged", 1, 2), ("acknowledged", 2, 1),
        ("complete", None, 5),
    ]
    assert result.target == f"{rest.base_url}/members"


def test_a_failure_mid_way_resumes_after_the_acknowledged_batches(rest, audience, template,
                                                                  deployment, log):
    # Batch 1 is accepted, batch 2 fails for good (no client retries configured).
    rest.script("POST", "/members", [ScriptedResponse(200, body={"accepted": True}),
                                     ScriptedResponse(500, body="database is down")])
    destination = api(rest, max_retries=0)

    with pytest.raises(DeliveryError) as error:
        run(audience, destination, template, deployment, log)
    message = str(error.value)
    assert "batch 2 of 3" in message and "HTTP 500" in message and "database is down" in message
    assert "1 acknowledged batches are logged" in message
    assert [(e.status, e.part) for e in log.entries()] == [("acknowledged", 0)]

    # Other batch boundaries would re-post acknowledged rows: refused before sending.
    resized = destination.model_copy(update={"batch_size": 3})
    with pytest.raises(DeliveryError, match="batch 1 was acknowledged with other content"):
        run(audience, resized, template, deployment, log)
    assert len(rest.requests_to("/members")) == 2

    result = run(audience, destination, template, deployment, log)

    assert (result.status, result.parts_sent) == ("sent", 2)
    assert "resumed: 1 batches were already acknowledged" in result.message
    # Only the batches not yet acknowledged were posted again: a1/a2 never twice.
    assert ids(rest.received["/members"]) == [["a4", "a5"], ["a6"]]
    assert len(rest.requests_to("/members")) == 4
    assert [e.status for e in log.entries()][-1] == "complete"
    assert run(audience, destination, template, deployment, log).status == "skipped"
    assert len(rest.requests_to("/members")) == 4


def test_a_refused_batch_stops_with_a_clear_error_and_no_secret(rest, audience, template,
                                                                deployment, log):
    rest.script("POST", "/members",
                [ScriptedResponse(400, body={"error": "field 'Email' is not allowed"})])

    with pytest.raises(DeliveryError) as error:
        run(audience, api(rest), template, deployment, log)

    message = str(error.value)
    assert "destination 'ads_api' (rest)" in message and "campaign 'spring'" in message
    assert "HTTP 400" in message and "was refused" in message and "not allowed" in message
    assert REST_TOKEN not in message
    assert len(rest.requests_to("/members")) == 1  # a 4xx is not retried
    assert log.entries() == []
