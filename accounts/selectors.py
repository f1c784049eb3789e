"""Reads on the identity side."""

from datetime import date, datetime, time, timedelta

from allauth.mfa.models import Authenticator
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken

from accounts.codes import code_digest
from accounts.domains import candidate_patterns, email_domain
from accounts.models import (
    AgencyDomain,
    AgencyProvider,
    AuditEvent,
    Invitation,
    OfficerProfile,
    Role,
    User,
    VettingStatus,
)
from config.precompiled import PrecompiledQuery
from surveys.models import Edition


def _vetted_officer(user_id: int | OuterRef) -> Q:
    """The rule: the user's profile is vetted and the user is in the officer group (is_active is checked
    apart). Two lookups by user id, each on its own index, also when `user_id` is an outer reference."""
    vetted = OfficerProfile.objects.filter(user_id=user_id, vetting_status=VettingStatus.VETTED)
    in_group = User.groups.through.objects.filter(user_id=user_id, group__name=Role.OFFICER.value)
    return Q(Exists(vetted), Exists(in_group))


# Where user_is_vetted_officer keeps its answer on a user object (that object lives for one request).
_VETTED_ATTR = "_is_vetted_officer"


def user_is_vetted_officer(user: User) -> bool:
    """An active account in the officer group whose profile is vetted (at most one query per request;
    none when the user came from api_tokens_for_key, which reads it with the token)."""
    if not user.is_authenticated or not user.is_active:
        return False
    cached = getattr(user, _VETTED_ATTR, None)
    if cached is None:
        cached = User.objects.filter(_vetted_officer(user.pk), pk=user.pk).exists()
        setattr(user, _VETTED_ATTR, cached)
    return cached


# The API token lookup, compiled once per process (config/precompiled.py): every API request runs it,
# and compiling it cost more CPU than the rest of a submission's queries together (docs/performance.md).
_TOKEN_FIELDS = tuple(field.attname for field in AuthToken._meta.concrete_fields)
_TOKEN_USER_FIELDS = tuple(field.attname for field in User._meta.concrete_fields)
_TOKENS_FOR_KEY = PrecompiledQuery(
    lambda token_key: (
        AuthToken.objects.filter(token_key=token_key)
        .annotate(user_vetted=ExpressionWrapper(_vetted_officer(OuterRef("user_id")), BooleanField()))
        .values_list(*_TOKEN_FIELDS, *(f"user__{name}" for name in _TOKEN_USER_FIELDS), "user_vetted")
    ),
    token_key="<token_key>",  # noqa: S106 - a marker for the parameter, not a secret
)


def api_tokens_for_key(token_key: str) -> list[AuthToken]:
    """The API tokens whose key (first characters) is `token_key`, with their user, and with whether that
    user is a vetted officer read in the same query and kept on the user (user_is_vetted_officer reads
    it): the submission path asks that next, and one round trip fewer per submission counts
    (docs/performance.md). Vetting is read afresh on every call."""
    tokens = []
    user_field = AuthToken._meta.get_field("user")
    split = len(_TOKEN_FIELDS)
    for row in _TOKENS_FOR_KEY.rows(token_key=token_key):
        token = AuthToken.from_db("default", _TOKEN_FIELDS, row[:split])
        user = User.from_db("default", _TOKEN_USER_FIELDS, row[split:-1])
        setattr(user, _VETTED_ATTR, bool(row[-1]))
        user_field.set_cached_value(token, user)
        tokens.append(token)
    return tokens


def officer_profile_of(user: User) -> OfficerProfile | None:
    if not user.is_authenticated:
        return None
    return OfficerProfile.objects.filter(user=user).first()


def agency_domain_for_email(email: str) -> AgencyDomain | None:
    """The allowlist entry that vouches for this address, most specific first (see accounts/domains.py)."""
    domain = email_domain(email)
    if domain is None:
        return None
    candidates = candidate_patterns(domain)
    found = {d.pattern: d for d in AgencyDomain.objects.filter(pattern__in=candidates)}
    return next((found[p] for p in candidates if p in found), None)


def agency_domains_list() -> QuerySet[AgencyDomain]:
    return AgencyDomain.objects.select_related("created_by").order_by("pattern")


def vetting_queue(*, status: str = VettingStatus.PENDING) -> QuerySet[OfficerProfile]:
    return (
        OfficerProfile.objects.filter(vetting_status=status)
        .select_related("user")
        .order_by("user__date_joined", "pk")
    )


def vetting_counts() -> dict[str, int]:
    rows = OfficerProfile.objects.values("vetting_status").annotate(n=Count("pk")).order_by()
    counts = dict.fromkeys(VettingStatus.values, 0)
    counts.update({row["vetting_status"]: row["n"] for row in rows})
    return counts


def people_with_roles() -> QuerySet[User]:
    """Everyone who holds a staff role, for the roles page (officers are managed in the vetting queue)."""
    return (
        User.objects.filter(groups__name__in=[Role.ADMINISTRATOR.value, Role.ANALYST.value])
        .distinct()
        .annotate(has_mfa=Exists(Authenticator.objects.filter(user=OuterRef("pk"))))
        .prefetch_related("groups")
        .order_by("email")
    )


def audit_events(
    *,
    action: str = "",
    actor: str = "",
    target: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """Filtered audit trail, newest first. `action` matches a prefix ("login." finds every login event)."""
    qs = AuditEvent.objects.all()
    if action:
        qs = qs.filter(action__startswith=action.strip())
    if actor:
        qs = qs.filter(actor_email__icontains=actor.strip())
    if target:
        qs = qs.filter(target__icontains=target.strip())
    if since:
        qs = qs.filter(at__gte=_start_of(since))
    if until:
        qs = qs.filter(at__lt=_start_of(until + timedelta(days=1)))
    return qs.order_by("-at", "-id")


def audit_actions() -> list[str]:
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def invitation_for_code(code: str) -> Invitation | None:
    return Invitation.objects.filter(code_digest=code_digest(code)).first()


def invitations_list() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("created_by").order_by("-created_at", "-id")


def sso_providers_list() -> QuerySet[AgencyProvider]:
    return AgencyProvider.objects.select_related("app").order_by("agency")


def api_tokens_visible_to(user: User) -> QuerySet[AuthToken]:
    """A staff member's own tokens; administrators see (and may revoke) everyone's."""
    qs = AuthToken.objects.select_related("user").order_by("-created")
    return qs if user.has_role(Role.ADMINISTRATOR) else qs.filter(user=user)


def vetted_officers_not_invited(edition: Edition) -> QuerySet[User]:
    """Active vetted officers without a Participation row for `edition`, in a stable order."""
    return (
        User.objects.filter(
            is_active=True,
            groups__name=Role.OFFICER.value,
            officer_profile__vetting_status=VettingStatus.VETTED,
        )
        .exclude(participations__edition=edition)
        .only("pk", "email")
        .order_by("pk")
    )
