"""Every views route: the tenant matrix (401 / 403 / 404) and schemathesis fuzzing against its OpenAPI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from alerting.rulebook import RuleBook
from tenancy.kafka_log import DirectoryWriter, KeyedLogWriter, ensure_keyed_log
from tests.conftest import free_port
from tests.live import serve, start_ingest_topics
from tests.viewsdata import DB, NOW, Views, views
from views_api.main import create_app

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = 25


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def v(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> AsyncIterator[Views]:
    _, _, topic = await start_ingest_topics(kafka_bootstrap, f"views-{uuid.uuid4().hex[:8]}")
    async with views(tmp_path_factory.mktemp("views"), DirectoryWriter(kafka_bootstrap, topic)) as loaded:
        loaded.app.state.test_directory = (kafka_bootstrap, topic)
        yield loaded


PATH_VALUES = {
    "{session_id}": "s1",
    "{rule_id}": "default-daily-cost",
    "{funnel_id}": "ecommerce",
    "{end_user_id}": "u1",
}


def tenant_routes(v: Views) -> list[tuple[str, str]]:
    """(method, path?query) of every tenant route: path parameters other than the tenant filled in, and
    required query parameters given their first allowed value."""
    out = []
    for path, operations in v.app.openapi()["paths"].items():
        if not path.startswith("/api/dashboard/{tenant_id}"):
            continue
        for method, operation in sorted(operations.items()):
            url = path
            for name, value in PATH_VALUES.items():
                url = url.replace(name, value)
            query = ["ticks=1"] if path.endswith("/live") else []
            for p in operation.get("parameters", []):
                if p["in"] == "query" and p.get("required"):
                    query.append(f"{p['name']}={p['schema'].get('enum', ['1'])[0]}")
            out.append((method.upper(), url + ("?" + "&".join(query) if query else "")))
    return out


async def test_every_tenant_route_refuses_other_tenants_and_unknown_ones(v: Views) -> None:
    routes = tenant_routes(v)
    assert len(routes) >= 14, routes
    for method, path in routes:
        url = path.replace("{tenant_id}", "acme")
        body = {"json": {}} if method in ("PUT", "POST") else {}
        foreign = await v.client.request(method, url, headers=v.auth("globex"), **body)
        assert foreign.status_code == 403, (method, path, foreign.text)
        assert foreign.json() == {"error": "this key cannot access tenant 'acme'"}
        anonymous = await v.client.request(method, url, **body)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer", (method, path)
        ingest = await v.client.request(method, url, headers=v.auth("acme-ingest"), **body)
        assert ingest.status_code == 403, (method, path)
        unknown = path.replace("{tenant_id}", "nobody")
        missing = await v.client.request(method, unknown, headers=v.auth("operator"), **body)
        assert missing.status_code == 404 and missing.json() == {"error": "unknown tenant 'nobody'"}, (method, path)
        if method == "GET":
            own = await v.client.request(method, url, headers=v.auth("acme"))
            assert own.status_code == 200, (method, path, own.text)
        else:  # a read key may not change anything
            read = await v.client.request(method, url, headers=v.auth("acme"), **body)
            assert read.status_code in (403, 422), (method, path, read.text)


async def test_settings_are_saved_to_the_directory_and_read_back(v: Views) -> None:
    settings = {
        "description": "Hydraulics since 1952",
        "brand_voice": "Plain and precise",
        "store_url": "https://acme.test",
        "logo_url": "https://acme.test/logo.png",
        "ai": {"temperature": 0.3, "max_products_shown": 8},
    }
    put = await v.client.put("/api/dashboard/acme/settings", json=settings, headers=v.auth("acme-admin"))
    assert put.status_code == 200, put.text
    info = (await v.client.get("/api/dashboard/acme/info", headers=v.auth("acme"))).json()
    assert info["settings"] == settings and info["name"] == "Acme"
    assert v.directory.tenant("acme").store.ai.max_products_shown == 8  # type: ignore[union-attr]


async def test_admin_views_need_an_operator_key(v: Views) -> None:
    for path in ("/api/admin/tenants", "/api/admin/domains"):
        assert (await v.client.get(path, headers=v.auth("acme-admin"))).status_code == 403
        assert (await v.client.get(path, headers=v.auth("acme"))).status_code == 403
        assert (await v.client.get(path)).status_code == 401
    ranking = (await v.client.get("/api/admin/tenants?sort=requests", headers=v.auth("operator"))).json()
    assert [t["tenant_id"] for t in ranking["tenants"]] == ["acme", "globex"]
    globex = ranking["tenants"][1]
    assert (globex["requests"], globex["tokens"], globex["sessions"], globex["name"]) == (2, 10200, 2, "Globex")
    by_cost = (await v.client.get("/api/admin/tenants?sort=cost&period=24h", headers=v.auth("operator"))).json()
    assert by_cost["tenants"][0]["tenant_id"] == "globex"  # 2 x gpt-4o with 5,000 input tokens beat acme's day
    domains = (await v.client.get("/api/admin/domains", headers=v.auth("operator"))).json()["domains"]
    assert {d["domain"] for d in domains} == {"shop.acme.test", "help.acme.test", "globex.test"}


def _fuzz_operation(operation: schemathesis.APIOperation, key: str, statuses: dict[str, int]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        if "tenant_id" in (case.path_parameters or {}):
            case.path_parameters["tenant_id"] = "acme"  # generated ids would only meet the 403 matrix above
        if case.path.endswith("/live"):
            case.query = {**(case.query or {}), "ticks": 1, "interval": 0.2}
        response = case.call(headers={"authorization": f"Bearer {key}"}, timeout=60)
        label = f"{case.method} {case.path} {response.status_code}"
        statuses[label] = statuses.get(label, 0) + 1
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    check()


def _fuzz(v: Views, url: str) -> dict[str, int]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    statuses: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operator = operation.path.startswith("/api/admin") or operation.method.upper() == "PUT"
        _fuzz_operation(operation, v.keys["operator" if operator else "acme"], statuses)
    return statuses


async def test_generated_requests_get_no_5xx_and_answers_match_the_schema(v: Views) -> None:
    # a second app on the same store, its directory writer started by its own server's lifespan
    bootstrap, topic = v.app.state.test_directory
    rules_topic = f"{topic}.alert-rules"
    await ensure_keyed_log(bootstrap, rules_topic, {"cleanup.policy": "compact"})
    app = create_app(
        v.warehouse,
        DB,
        v.directory,
        clock=lambda: NOW,
        writer=DirectoryWriter(bootstrap, topic),
        rules=RuleBook(),
        rules_writer=KeyedLogWriter(bootstrap, rules_topic),
    )
    with serve(app, free_port()) as url:
        statuses = await asyncio.to_thread(_fuzz, v, url)
    ok = {k for k in statuses if k.endswith(" 200")}
    assert len(ok) >= 14, statuses  # the routes really answered, not only refused
