"""The route table: path patterns, the methods each serves, and what authentication each needs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mycpaas.api.http import ApiRequest, JsonResponse
from mycpaas.services.auth import Principal, Scope
from mycpaas.services.platform import Platform

Handler = Callable[[Platform, ApiRequest, Principal], Awaitable[JsonResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    scope: Scope = Scope.RESOURCES
    path: str = ""  # the template, without the optional `.json`: the route's label in the metrics


def route(
    template: str, methods: dict[str, Handler], scope: Scope = Scope.RESOURCES, **segments: str
) -> Route:
    """`template` names path segments as {name}, matching any one segment unless `segments` gives a regex for
    that name; a trailing `.json` is optional, as on SignalWire."""
    regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>{segments.get(m[1], '[^/]+?')})", template)
    return Route(re.compile(f"{regex}(?:\\.json)?/?"), methods, scope, template)


def match(routes: list[Route], path: str) -> tuple[Route, dict[str, str]] | None:
    for candidate in routes:
        found = candidate.pattern.fullmatch(path)
        if found:
            return candidate, found.groupdict()
    return None
