"""API token authentication: knox's, without its per-request sweep of the user's other tokens."""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox deletes a user's expired tokens on every authenticated request, one extra query each time;
    the daily job accounts.api_tokens_purge_expired does that instead. The presented token itself is
    still refused (and deleted) once expired."""

    def _cleanup_token(self, auth_token) -> bool:  # type: ignore[no-untyped-def]
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of the class above (drf-spectacular knows only knox's own)."""

    target_class = "api.authentication.TokenAuthentication"
