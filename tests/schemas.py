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
