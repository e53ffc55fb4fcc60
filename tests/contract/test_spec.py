"""mobile_api_spec/openapi.json is what the app serves, byte for byte, whatever the hash seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fieldsvc.app import create_app
from fieldsvc.config import Settings
from fieldsvc.spec import SPEC_PATH, render_openapi

RENDER = "from fieldsvc.app import create_app; from fieldsvc.spec import render_openapi; import sys; sys.stdout.write(render_openapi(create_app()))"


def test_committed_spec_matches_the_app():
    rendered = render_openapi(create_app(Settings()))
    assert SPEC_PATH.read_text() == rendered, "the API changed: run `fieldsvc spec` and commit mobile_api_spec/"


def test_committed_spec_equals_litestars_own_schema():
    assert json.loads(SPEC_PATH.read_text()) == create_app(Settings()).openapi_schema.to_schema()


def test_spec_rendering_does_not_depend_on_the_hash_seed():
    outputs = {
        subprocess.run(
            [sys.executable, "-c", RENDER], capture_output=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_every_error_response_documents_the_error_body():
    spec = json.loads(SPEC_PATH.read_text())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/health/ready":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_every_operation_lists_the_codes_any_request_can_get():
    spec = json.loads(SPEC_PATH.read_text())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path.startswith(("/schema", "/health")):  # the probes answer in their own shape
                continue
            codes = {
                example["value"]["code"]
                for response in operation["responses"].values()
                for example in response.get("content", {}).get("application/json", {}).get("examples", {}).values()
            }
            assert {"request.malformed", "request.too_large", "service.unavailable", "internal"} <= codes, (method, path)


def test_spec_names_no_environment_dependent_server():
    assert json.loads(SPEC_PATH.read_text())["servers"] == [{"url": "/"}]


def test_a_sync_items_shape_and_kinds_are_in_the_spec():
    """Read as anything, so that a malformed item gets its own receipt, the items rendered as `{}` (a probe)."""
    item = json.loads(SPEC_PATH.read_text())["components"]["schemas"]["SyncBatch"]["properties"]["facts"]["items"]
    assert item["required"] == ["type", "visitId", "body"]
    assert {"on_my_way", "test_result", "completion"} <= set(item["properties"]["type"]["enum"])


def test_the_spec_says_every_phone_request_needs_its_clock():
    spec = json.loads(SPEC_PATH.read_text())
    clock_headers = [
        parameter
        for operations in spec["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "X-Device-Clock"
    ]
    assert clock_headers and all(parameter["required"] for parameter in clock_headers)


def test_every_operation_with_an_id_in_its_path_lists_the_answer_to_an_id_that_is_no_uuid():
    """Such a path matches no route: 404 `not_found`, which the operations listed only as their own code (a gap)."""
    spec = json.loads(SPEC_PATH.read_text())
    with_ids = [
        (method, path, operation) for path, operations in spec["paths"].items() if "{" in path
        for method, operation in operations.items()
    ]
    assert with_ids
    for method, path, operation in with_ids:
        examples = operation["responses"]["404"]["content"]["application/json"]["examples"].values()
        assert "not_found" in {example["value"]["code"] for example in examples}, (method, path)
