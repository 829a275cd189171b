"""The REST client against a real local HTTP server that can be scripted to misbehave."""

from __future__ import annotations

import pytest

from cdp_pipelines.transports import MissingSecretError
from cdp_pipelines.transports.rest import HttpError, RestClient, RestOptions, redact_url
from cdp_pipelines_tests.servers import ScriptedResponse, free_port


def client_for(server, **overrides) -> RestClient:
    config = {
        "base_url": server.base_url,
        "token_env": "REST_TOKEN",
        "backoff_seconds": 0.05,
        "max_backoff_seconds": 0.2,
        **overrides,
    }
    return RestClient.from_options(RestOptions(**config))


def test_page_number_pagination_stops_on_a_short_page(rest):
    client = client_for(rest)
    records = client.get_records(
        "/items/pages",
        pagination={
            "style": "page_number",
            "records_field": "data",
            "page_size_param": "per_page",
            "page_size": 3,
        },
    )
    assert records == rest.records
    assert [entry[1] for entry in rest.requests_to("/items/pages")] == [
        "/items/pages?per_page=3&page=1",
        "/items/pages?per_page=3&page=2",
        "/items/pages?per_page=3&page=3",
    ]


def test_page_number_pagination_without_size_stops_on_an_empty_page(rest):
    client = client_for(rest)
    pages = list(
        client.iter_pages(
            "/items/pages",
            params={"per_page": 4},
            pagination={"style": "page_number", "records_field": "data"},
        )
    )
    assert [len(page) for page in pages] == [4, 3, 0]


def test_cursor_pagination(rest):
    client = client_for(rest)
    pages = list(
        client.iter_pages(
            "/items/cursor",
            params={"limit": 3},
            pagination={
                "style": "cursor",
                "records_field": "data",
                "cursor_field": "next_cursor",
                "cursor_param": "cursor",
            },
        )
    )
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [r for page in pages for r in page] == rest.records


def test_link_header_pagination(rest):
    client = client_for(rest)
    records = client.get_records(
        "/items/link", params={"limit": 2}, pagination={"style": "link_header"}
    )
    assert records == rest.records
    assert len(rest.requests_to("/items/link")) == 4


def test_429_waits_for_retry_after_then_succeeds(rest):
    rest.script("GET", "/items/pages", [ScriptedResponse(429, {"Retry-After": "1"}, "slow down")])
    client = client_for(rest)
    records = client.get_records("/items/pages", pagination={"records_field": "data"})
    assert records == rest.records
    first, second = rest.requests_to("/items/pages")
    assert second[2] - first[2] >= 1.0


def test_429_asking_for_too_long_a_wait_is_a_clear_error(rest):
    rest.script("GET", "/items/pages", [ScriptedResponse(429, {"Retry-After": "3600"}, "later")])
    client = client_for(rest, max_retry_after_seconds=60)
    with pytest.raises(HttpError, match=r"asked to wait 3600s") as caught:
        client.get_records("/items/pages", pagination={"records_field": "data"})
    assert caught.value.status == 429
    assert len(rest.requests_to("/items/pages")) == 1


def test_500_is_retried_then_succeeds(rest):
    rest.script(
        "GET",
        "/items/cursor",
        [ScriptedResponse(500, body="boom"), ScriptedResponse(502, body="bad gateway")],
    )
    client = client_for(rest)
    records = client.get_records(
        "/items/cursor",
        params={"limit": 10},
        pagination={"style": "cursor", "records_field": "data"},
    )
    assert records == rest.records
    assert len(rest.requests_to("/items/cursor")) == 3


def test_retries_are_bounded(rest):
    rest.script("GET", "/items/pages", [ScriptedResponse(503, body="down")] * 5)
    client = client_for(rest, max_retries=2)
    with pytest.raises(HttpError, match=r"failed after 3 attempts.*503") as caught:
        client.get_records("/items/pages")
    assert caught.value.status == 503
    assert len(rest.requests_to("/items/pages")) == 3


def test_400_stops_at_once_with_status_url_and_snippet_but_no_secrets(rest):
    rest.script("GET", "/items/pages", [ScriptedResponse(400, body={"error": "bad filter"})])
    client = client_for(rest)
    with pytest.raises(HttpError) as caught:
        client.get_records("/items/pages", params={"filter": "x", "api_key": "sekrit-value"})
    message = str(caught.value)
    assert caught.value.status == 400
    assert "/items/pages" in message and "filter=x" in message and "api_key=***" in message
    assert "bad filter" in message
    assert "sekrit-value" not in message and rest.token not in message
    assert len(rest.requests_to("/items/pages")) == 1


def test_wrong_token_is_refused_without_retry(rest, monkeypatch):
    monkeypatch.setenv("REST_TOKEN", "not-the-token")
    with pytest.raises(HttpError, match="401") as caught:
        client_for(rest).get_records("/items/pages")
    assert "not-the-token" not in str(caught.value)
    assert len(rest.requests_to("/items/pages")) == 1


def test_missing_token_env_names_the_variable(rest, monkeypatch):
    monkeypatch.delenv("REST_TOKEN")
    with pytest.raises(MissingSecretError, match="REST_TOKEN"):
        client_for(rest)


def test_post_batches_in_order_with_retry_on_503(rest):
    rest.script("POST", "/audiences", [ScriptedResponse(503, body="busy")])
    client = client_for(rest)
    sent = client.post_batches("/audiences", rest.records, batch_size=3, wrap_field="members")
    assert sent == 3
    assert [len(body["members"]) for body in rest.received["/audiences"]] == [3, 3, 1]
    assert [m for body in rest.received["/audiences"] for m in body["members"]] == rest.records
    assert len(rest.requests_to("/audiences")) == 4


def test_connection_refused_is_retried_then_reported():
    client = RestClient(f"http://127.0.0.1:{free_port()}", max_retries=2, backoff_seconds=0.01)
    with pytest.raises(HttpError, match="no answer after 3 attempts") as caught:
        client.get_records("/anything")
    assert caught.value.status is None


def test_redact_url_masks_user_info_and_secret_parameters():
    url = "https://user:pw@api.example.invalid/v1/x?page=2&access_token=abc&sig=def&name=ok"
    assert redact_url(url) == (
        "https://api.example.invalid/v1/x?page=2&access_token=***&sig=***&name=ok"
    )
