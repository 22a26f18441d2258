"""The OpenAPI document, and a schemathesis run against it.

Schemathesis generates requests from the document (valid and invalid ones) for every
operation; the server must never answer 5xx, and every answer must match the document
(status code, content type, body schema, headers).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_document_lists_every_api_route(app, client, api_org):
    paths = client.get("/openapi.json").get_json()["paths"]
    documented = {
        (path, method.upper()) for path, operations in paths.items() for method in operations
    }
    routes = {
        (rule.rule.replace("<", "{").replace(">", "}"), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == documented


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_document(app, api, seed_schema, mode):
    """Generated requests for every operation: no 5xx, and answers the document allows."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 15
    statuses = set()

    for operation in operations:
        path_parameters = {"org_id": api.org_id} if "{org_id}" in operation.path else None

        @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call_and_validate(headers=api.headers(), checks=CHECKS)
            statuses.add(response.status_code)

        check()
    # The run exercised both accepted and refused requests, not only one kind.
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses), statuses
