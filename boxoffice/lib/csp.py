"""django-csp's middleware with one addition: the back office gets its own, looser policy
(settings.BACKOFFICE_CONTENT_SECURITY_POLICY, and why, next to it); every other page the strict
CONTENT_SECURITY_POLICY."""

from __future__ import annotations

from csp.middleware import CSPMiddleware as _CSPMiddleware
from csp.middleware import PolicyParts
from csp.utils import default_config
from django.conf import settings


class CSPMiddleware(_CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if (
            not report_only
            and parts.config is None  # a view's own @csp decorator wins
            and request.path_info.startswith(tuple(settings.BACKOFFICE_URL_PREFIXES))
        ):
            parts.config = default_config(settings.BACKOFFICE_CONTENT_SECURITY_POLICY["DIRECTIVES"])
        return parts
