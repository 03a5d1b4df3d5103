"""Validators built from Twilio's official OpenAPI files (tests/data/twilio-oai, MIT).

OpenAPI 3.0 `nullable` becomes a JSON Schema type union. Every property of a resource schema is required and
no other property is allowed, so a missing field, an extra field or a wrong JSON type all fail.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

_DATA = Path(__file__).parent / "data" / "twilio-oai"
# Fields whose pattern Twilio's own answers do not keep: an IncomingPhoneNumber without an Application has
# `"sms_application_sid": ""` in Twilio's documented responses (and in what clients have seen), not null.
_EMPTY_AS_TWILIO_SENDS = frozenset({"sms_application_sid", "voice_application_sid"})


@cache
def _spec(name: str) -> dict[str, Any]:
    return json.loads((_DATA / name).read_text())


def _convert(node: Any, components: dict[str, Any], strict: bool) -> Any:
    if isinstance(node, list):
        return [_convert(n, components, strict) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = node["$ref"].split("/")[-1]
        return _convert(copy.deepcopy(components[target]), components, strict)
    out = {k: _convert(v, components, strict) for k, v in node.items() if not k.startswith("x-")}
    out.pop("description", None)
    out.pop("example", None)
    out.pop("format", None)
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    for name in _EMPTY_AS_TWILIO_SENDS & set(out.get("properties", {})):
        out["properties"][name] = {"anyOf": [out["properties"][name], {"const": ""}]}
    if out.get("type") in ("object", ["object", "null"]) and "properties" in out and strict:
        out["required"] = sorted(out["properties"])
        out["additionalProperties"] = False
    return out


def resource_validator(schema_name: str, spec: str = "twilio_api_v2010.json") -> Draft202012Validator:
    components = _spec(spec)["components"]["schemas"]
    return Draft202012Validator(_convert(copy.deepcopy(components[schema_name]), components, strict=True))


def list_validator(path: str, spec: str = "twilio_api_v2010.json") -> Draft202012Validator:
    """The 200 response of GET `path`, e.g. /2010-04-01/Accounts/{AccountSid}/Messages.json."""
    document = _spec(spec)
    components = document["components"]["schemas"]
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    converted = _convert(copy.deepcopy(schema), components, strict=True)
    return Draft202012Validator(converted)


def assert_valid(validator: Draft202012Validator, body: Any) -> None:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def operation(path: str, method: str, spec: str = "twilio_api_v2010.json") -> dict[str, Any]:
    """The spec's operation object, e.g. operation("/2010-04-01/Accounts.json", "post")."""
    return dict(_spec(spec)["paths"][path][method])


def response_validator(
    path: str, method: str, status: str, spec: str = "twilio_api_v2010.json"
) -> Draft202012Validator | None:
    """The `status` response of `method path` as a strict validator; None when the response has no body."""
    document = _spec(spec)
    content = document["paths"][path][method]["responses"][status].get("content")
    if not content:
        return None
    schema = content["application/json"]["schema"]
    return Draft202012Validator(
        _convert(copy.deepcopy(schema), document["components"]["schemas"], strict=True)
    )


def request_schemas(
    path: str, method: str, spec: str = "twilio_api_v2010.json"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query parameters, form body) of an operation as two JSON Schemas of objects, none of their properties
    required, `format`s dropped: the shapes a generator fills with values of the right JSON types."""
    document = _spec(spec)
    components = document["components"]["schemas"]
    op = document["paths"][path][method]
    query = {
        p["name"]: _convert(copy.deepcopy(p.get("schema", {})), components, strict=False)
        for p in op.get("parameters", [])
        if p.get("in") == "query"
    }
    form = {}
    body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded")
    if body:
        form = _convert(copy.deepcopy(body["schema"]), components, strict=False).get("properties", {})
    return (
        {"type": "object", "properties": query, "additionalProperties": False},
        {"type": "object", "properties": form, "additionalProperties": False},
    )
