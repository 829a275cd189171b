"""Schemathesis fuzzes the collector from its own OpenAPI document, over real HTTP, with
bodies that follow the schema and bodies that break it: never a 5xx, a bad body gets a
4xx with a reason, and an acknowledged body has all its messages on disk."""

from __future__ import annotations

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cdp_pipelines_tests.events.conftest import WEB_KEY

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WEB_KEY}:".encode()).decode()}
# Schema-valid bodies may still break rules a schema cannot state (a timestamp whose skew
# correction leaves the calendar), so schema-valid is not checked to mean accepted.
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_collector_survives_fuzzing_and_loses_nothing(collector, mode):
    # Loaded here, not by schemathesis' pytest plugin: the collector starts per test.
    api = schemathesis.openapi.from_url(f"{collector.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    endpoints = [op.as_strategy(generation_mode=mode) for op in operations
                 if op.path.startswith("/v1/")]
    assert len(endpoints) == 7

    @given(case=st.one_of(endpoints))
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def fuzz(case) -> None:
        before = len(collector.records())
        response = case.call_and_validate(headers=AUTH, checks=CHECKS)
        assert response.status_code < 500, response.text
        landed = len(collector.records()) - before
        if response.status_code == 200:
            body = case.body
            assert landed == (len(body["batch"]) if "batch" in body else 1)
        else:
            assert landed == 0
            error = response.json()
            assert error["success"] is False and error["code"] and error["message"]

    fuzz()
