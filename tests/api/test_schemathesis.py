"""The OpenAPI schema, fuzzed: no 5xx, and every answer matches the schema it documents.

Bounded: a few examples per operation, path parameters drawn half the time
from things that exist, so both the 404 paths and the real ones are tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case

from sendpool.config import Settings
from sendpool.http.app import create_app
from sendpool.runtime import Runtime
from tests.support.world_template import Template

MAX_EXAMPLES = 15
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]

# Which of the world's things a path parameter may name, by the segment before it.
REAL = {
    "sending-servers": ["server_smtp", "server_ses", "server_idle", "server_postmark"],
    "plans": ["plan", "plan_spare"],
    "customers": ["customer_empty", "customer_b"],
    "lists": ["list_a"],
    "campaigns": ["campaign_a", "draft_a"],
    "messages": ["message_a"],
}


@pytest.fixture
def api_schema(world_template: Template, world_settings: Settings) -> Iterator[Any]:
    rt = Runtime.open(world_settings)
    app = create_app(rt)
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    ids = world_template.ids

    @schema.hook
    def flatmap_path_parameters(ctx: Any, params: dict[str, Any]) -> Any:
        if not params:
            return st.just(params)
        segments = ctx.operation.path.strip("/").split("/")
        choices = dict(params)
        for i, segment in enumerate(segments):
            name = segment.strip("{}")
            if segment.startswith("{") and name in params and i > 0:
                real = [ids[k] for k in REAL.get(segments[i - 1], [])]
                if segments[i - 1] == "region-rules":
                    real = ["eu"]
                if real:
                    # Real ones first: hypothesis leans towards the first choice.
                    choices[name] = st.sampled_from([*real, params[name]])
        return st.fixed_dictionaries(
            {k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in choices.items()}
        )

    try:
        yield schema
    finally:
        rt.close()


def test_api_conforms_to_its_schema(api_schema: Any, world_template: Template) -> None:
    def headers_for(path: str) -> dict[str, str]:
        who = "admin" if "/admin/" in path else "a"
        return {"Authorization": f"Bearer {world_template.tokens[who]}"}

    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Tenants' routes first, then the admin's, deletions last: A must outlive its own tests.
    operations.sort(key=lambda op: ("/admin/" in op.path, op.method.upper() == "DELETE"))
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Case) -> None:
            case.call_and_validate(headers=headers_for(case.path), checks=CHECKS)

        try:
            check()
        # Collect them all, so one run shows every broken operation. Schemathesis reports
        # its findings as a BaseExceptionGroup, which `except Exception` would miss.
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
    assert failures == [], "\n\n".join(failures)
