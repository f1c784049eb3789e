from django.http import HttpRequest


def roles(request: HttpRequest) -> dict[str, object]:
    user = request.user
    if not user.is_authenticated:
        return {"user_roles": set()}
    return {"user_roles": user.role_names if user.is_active else frozenset()}  # type: ignore[union-attr]
