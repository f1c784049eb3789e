"""What a client gets while the database is unreachable (a restart, a failover): 503 with Retry-After,
JSON under /api/ and a short page elsewhere, rather than a bare 500 (tests/faults/test_postgres_restart.py).

Django calls handler500 inside the `except` block of the failed request, so the exception is at hand in
sys.exc_info(). Nothing here touches the database, and the page renders without request context
processors (they would query it). Whether a failed request's transaction committed is never in doubt
for a 503 raised before COMMIT; one lost during COMMIT may have, which is why a retried submission can
meet "already answered" (409) and the officer's answers are then in the pool.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error

RETRY_AFTER_SECONDS = 5


def server_error_or_unavailable(request: HttpRequest) -> HttpResponse:
    if not isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return server_error(request)
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"detail": "The service is briefly unavailable. Please try again in a few seconds."}, status=503
        )
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
