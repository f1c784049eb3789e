from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from accounts.models import Role
from accounts.selectors import user_is_vetted_officer
from surveys.models import EditionStatus
from surveys.selectors import editions_list


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_authenticated and (user.has_role(Role.ADMINISTRATOR) or user.has_role(Role.ANALYST)):
        return redirect("surveys:edition_list")
    context = {
        "vetted": user.is_authenticated and user_is_vetted_officer(user),  # type: ignore[arg-type]
        "open_editions": editions_list(status=EditionStatus.OPEN) if user.is_authenticated else [],
    }
    return render(request, "home.html", context)


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers and the bench's trivial-view baseline: no database, no session."""
    return JsonResponse({"ok": True})
