"""What a client gets while a service the request needs is unreachable: 503 with Retry-After, JSON under
/api/ and a short page elsewhere, rather than a bare 500 (tests/faults).

- PostgreSQL (a restart, a failover): any request. A 503 raised before COMMIT saved nothing; one lost
  during COMMIT may have saved, which is why a retried submission can meet "already answered" (409),
  and the officer's answers are then in the pool.
- Redis: only what needs the cache, that is sign-in, sign-up, password reset and invitation codes, whose
  rate limits and lockout live there (they are refused rather than let through unlimited). Submissions
  and the pages officers answer on do not use Redis.

Django calls handler500 inside the `except` block of the failed request, so the exception is at hand in
sys.exc_info(). Nothing here touches the database or the cache, and the page renders without request
context processors (they would query the database).
"""

import sys

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)


def server_error_or_unavailable(request: HttpRequest) -> HttpResponse:
    if not isinstance(sys.exc_info()[1], UNAVAILABLE):
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
