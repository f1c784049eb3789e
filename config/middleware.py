"""Response headers set by path, so that no view can forget them (settings: Security)."""

from collections.abc import Callable
from dataclasses import replace

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """`Cache-Control: no-store` (and `Pragma: no-cache` for HTTP/1.0 proxies) on every response under
    NO_STORE_PATH_PREFIXES: survey pages, receipts, staff pages with answers, exports and the API.

    A shared computer's browser cache or a proxy must never keep a copy of an officer's answers, a
    receipt, an export or a list of answers; redirects and error pages under those paths included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.prefixes = tuple(settings.NO_STORE_PATH_PREFIXES)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.path_info.startswith(self.prefixes):
            if "no-store" not in response.get("Cache-Control", ""):  # a view's own no-store stays as it is
                add_never_cache_headers(response)
            response["Pragma"] = "no-cache"
        return response


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, plus CONTENT_SECURITY_POLICY_PATH_UPDATES for views of libraries that
    our code cannot decorate with `csp_update` (a view's own decorator still wins)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only or parts.update is not None:
            return parts
        for prefix, update in settings.CONTENT_SECURITY_POLICY_PATH_UPDATES.items():
            if request.path_info.startswith(prefix):
                return replace(parts, update=update)
        return parts
