"""Pages of the identity side. Each view: access check, form, one service call, redirect or render.

Staff pages (accounts/urls.py, under /staff/people/) go through role_required, which also enforces
MFA; the officer's own pages (accounts/officer_urls.py) need a login only.
"""

from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.access import role_required
from accounts.codes import PENDING_INVITATION_SESSION_KEY, code_normalise
from accounts.domains import DomainInvalid
from accounts.forms import (
    AgencyDomainForm,
    AuditFilterForm,
    DeleteAccountForm,
    InvitationForm,
    ProfileForm,
    RedeemForm,
    RejectForm,
    RoleForm,
    SsoProviderForm,
)
from accounts.models import (
    AgencyDomain,
    AgencyProvider,
    Invitation,
    OfficerProfile,
    Role,
    SsoVettingRule,
    User,
    VettingStatus,
)

admin_required = role_required(Role.ADMINISTRATOR)
staff_required = role_required(Role.ADMINISTRATOR, Role.ANALYST)

AUDIT_PAGE_SIZE = 50


# --- Staff: overview -------------------------------------------------------------------------------


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/index.html", {"counts": selectors.vetting_counts()})


# --- Staff: vetting --------------------------------------------------------------------------------


@admin_required
def vetting_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", VettingStatus.PENDING)
    if status not in VettingStatus.values:
        status = VettingStatus.PENDING
    counts = selectors.vetting_counts()
    tabs = [(value, label, counts[value]) for value, label in VettingStatus.choices]
    profiles = selectors.vetting_queue(status=status)[:500]
    return render(
        request, "accounts/vetting_queue.html", {"profiles": profiles, "status": status, "tabs": tabs}
    )


@admin_required
@require_POST
def vetting_approve(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(OfficerProfile.objects.select_related("user"), pk=profile_id)
    try:
        services.officer_vetting_approve(profile=profile, actor=request.user)  # type: ignore[arg-type]
    except services.VettingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{profile.user.email} is vetted and has been told by e-mail.")
    return redirect("accounts:vetting_queue")


@admin_required
def vetting_reject(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(OfficerProfile.objects.select_related("user"), pk=profile_id)
    form = RejectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.officer_vetting_reject(
                profile=profile,
                actor=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
            )
        except services.VettingError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{profile.user.email} is rejected and has been told by e-mail.")
        return redirect("accounts:vetting_queue")
    return render(request, "accounts/vetting_reject.html", {"profile": profile, "form": form})


# --- Staff: agency domains -------------------------------------------------------------------------


@admin_required
def domain_list(request: HttpRequest) -> HttpResponse:
    form = AgencyDomainForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            domain = services.agency_domain_add(
                pattern=form.cleaned_data["pattern"],
                agency=form.cleaned_data["agency"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except (ValueError, DomainInvalid) as exc:
            form.add_error("pattern", str(exc))
        else:
            messages.success(request, f"Verified addresses at {domain.pattern} now vet officers.")
            return redirect("accounts:domain_list")
    return render(
        request, "accounts/domain_list.html", {"domains": selectors.agency_domains_list(), "form": form}
    )


@admin_required
@require_POST
def domain_remove(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_object_or_404(AgencyDomain, pk=domain_id)
    services.agency_domain_remove(domain=domain, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"{domain.pattern} was removed; officers it vetted stay vetted.")
    return redirect("accounts:domain_list")


# --- Staff: invitations ---------------------------------------------------------------------------


@admin_required
@never_cache
def invitation_list(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = services.invitations_issue(
                agency=data["agency"],
                count=data["count"],
                max_uses=data["max_uses"],
                expires_at=form.expires_at,
                email=data["email"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            # The codes exist only in this response: they are stored as digests.
            rows = [(inv, code, services.invitation_link(code)) for inv, code in issued]
            return render(request, "accounts/invitations_issued.html", {"rows": rows, "first": issued[0][0]})
    page = Paginator(selectors.invitations_list(), 100).get_page(request.GET.get("page"))
    return render(request, "accounts/invitation_list.html", {"form": form, "page": page})


@admin_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    if request.POST.get("scope") == "batch":
        targets = list(Invitation.objects.filter(batch=invitation.batch))
    else:
        targets = [invitation]
    count = services.invitations_revoke(invitations=targets, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"Revoked {count} code{'s' if count != 1 else ''}.")
    return redirect("accounts:invitation_list")


# --- Staff: single sign-on providers ----------------------------------------------------------------


@admin_required
def sso_provider_list(request: HttpRequest) -> HttpResponse:
    form = SsoProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            provider = services.sso_provider_create(
                slug=data["slug"],
                name=data["name"],
                server_url=data["server_url"],
                client_id=data["client_id"],
                secret=data["secret"],
                agency=data["agency"],
                country=data["country"],
                vetting_rule=SsoVettingRule(data["vetting_rule"]),
                actor=request.user,  # type: ignore[arg-type]
            )
        except services.ProviderInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{provider.app.name} is on the login page now.")
            return redirect("accounts:sso_provider_list")
    return render(
        request,
        "accounts/sso_provider_list.html",
        {
            "form": form,
            "providers": selectors.sso_providers_list(),
            "callback_base": request.build_absolute_uri("/accounts/oidc/"),
        },
    )


@admin_required
@require_POST
def sso_provider_delete(request: HttpRequest, provider_id: int) -> HttpResponse:
    provider = get_object_or_404(AgencyProvider.objects.select_related("app"), pk=provider_id)
    services.sso_provider_delete(provider=provider, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"Sign-in through {provider.app.name} is off.")
    return redirect("accounts:sso_provider_list")


# --- Staff: API tokens -----------------------------------------------------------------------------


@staff_required
@never_cache
def token_list(request: HttpRequest) -> HttpResponse:
    """Create and revoke API tokens. role_required has checked that this session passed MFA."""
    new_key = None
    if request.method == "POST":
        new_key = services.api_token_create(user=request.user, actor=request.user)  # type: ignore[arg-type]
    tokens = selectors.api_tokens_visible_to(request.user)  # type: ignore[arg-type]
    return render(request, "accounts/token_list.html", {"tokens": tokens, "new_key": new_key})


@staff_required
@require_POST
def token_revoke(request: HttpRequest, digest: str) -> HttpResponse:
    token = get_object_or_404(selectors.api_tokens_visible_to(request.user), digest=digest)  # type: ignore[arg-type]
    services.api_token_revoke(token=token, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"Token {token.token_key}… revoked.")
    return redirect("accounts:token_list")


# --- Staff: roles ----------------------------------------------------------------------------------


@admin_required
def roles(request: HttpRequest) -> HttpResponse:
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = User.objects.filter(email__iexact=data["email"]).first()
        if user is None:
            form.add_error("email", "No account has this address.")
        else:
            try:
                services.user_role_set(
                    user=user,
                    role=Role(data["role"]),
                    granted=data["grant"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except services.RoleChangeRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Roles of {user.email} updated.")
                return redirect("accounts:roles")
    return render(request, "accounts/roles.html", {"people": selectors.people_with_roles(), "form": form})


@admin_required
@require_POST
def mfa_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(selectors.people_with_roles(), pk=user_id)
    try:
        services.user_mfa_reset(user=person, actor=request.user)  # type: ignore[arg-type]
    except services.MfaResetRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Two-factor authentication of {person.email} removed.")
    return redirect("accounts:roles")


# --- Staff: audit log ------------------------------------------------------------------------------


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_events(**{k: v for k, v in filters.items() if v})
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/audit_log.html",
        {"form": form, "page": page, "actions": selectors.audit_actions(), "query": query.urlencode()},
    )


# --- The officer's own pages -----------------------------------------------------------------------


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    officer = selectors.officer_profile_of(request.user)  # type: ignore[arg-type]
    form = None
    if officer is not None:
        initial = {"agency": officer.agency, "country": officer.country, "job_title": officer.job_title}
        form = ProfileForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            services.officer_profile_update(user=request.user, **form.cleaned_data)  # type: ignore[arg-type]
            messages.success(request, "Your details were saved.")
            return redirect("me:profile")
    return render(request, "accounts/profile.html", {"officer": officer, "form": form})


@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = request.user
        try:
            services.user_delete(user=user, actor=user)  # type: ignore[arg-type]
        except services.RoleChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            logout(request)
            messages.success(request, "Your account was deleted.")
            return redirect("home")
    return render(request, "accounts/account_delete.html", {"form": form})


# --- Invitations, officer side ---------------------------------------------------------------------


@never_cache
def invitation_landing(request: HttpRequest, code: str) -> HttpResponse:
    """Where an invitation link leads. Before signing in, the code is remembered and redeemed at
    the next login (accounts/receivers.py); a signed-in officer confirms here."""
    invitation = selectors.invitation_for_code(code)
    if invitation is None:
        raise Http404("This invitation code is not valid.")
    if not request.user.is_authenticated:
        request.session[PENDING_INVITATION_SESSION_KEY] = code_normalise(code)
    form = RedeemForm(initial={"code": code})
    return render(
        request,
        "accounts/invitation_landing.html",
        {"invitation": invitation, "state": invitation.state(), "form": form},
    )


@login_required
@never_cache
def invitation_redeem(request: HttpRequest) -> HttpResponse:
    form = RedeemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not ratelimit.consume(request, action="redeem_invitation", user=request.user):
            return ratelimit.respond_429(request)
        try:
            services.invitation_redeem(code=form.cleaned_data["code"], user=request.user)  # type: ignore[arg-type]
        except services.InvitationInvalid as exc:
            form.add_error("code", str(exc))
        else:
            messages.success(
                request, "Thank you: your account is vetted and you can answer open questionnaires."
            )
            return redirect("home")
    return render(request, "accounts/invitation_redeem.html", {"form": form})
