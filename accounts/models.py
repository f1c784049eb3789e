"""The identity side: who people are, what they may do, and what they did (audit).

Nothing here may reference the anonymous side (responses, answers, staging pool): see
docs/anonymity.md, invariant 1.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property


class Role(models.TextChoices):
    OFFICER = "officer", "Officer"
    ANALYST = "analyst", "Analyst"
    ADMINISTRATOR = "administrator", "Administrator"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person who logs in. E-mail is the login; there is no username."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()  # type: ignore[misc]

    def __str__(self) -> str:
        return self.email

    @cached_property
    def role_names(self) -> frozenset[str]:
        # Group names are the role values; read once per user object (i.e. per request).
        return frozenset(self.groups.values_list("name", flat=True))

    def has_role(self, role: Role) -> bool:
        return self.is_active and role.value in self.role_names


class VettingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VETTED = "vetted", "Vetted"
    REJECTED = "rejected", "Rejected"


class VettedVia(models.TextChoices):
    """How an officer came to be vetted (or rejected): the answer to "why may this person answer?"."""

    EMAIL_DOMAIN = "email_domain", "Agency e-mail domain"
    INVITATION = "invitation", "Invitation"
    REVIEW = "review", "Manual review"
    SINGLE_SIGN_ON = "single_sign_on", "Agency single sign-on"
    COMMAND = "command", "Created by an operator"


class OfficerProfile(models.Model):
    """Facts given for vetting. They stay on the identity side and are never copied into answers."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="officer_profile")
    vetting_status = models.CharField(
        max_length=16, choices=VettingStatus.choices, default=VettingStatus.PENDING
    )
    vetted_via = models.CharField(max_length=16, choices=VettedVia.choices, blank=True)
    rejection_reason = models.TextField(blank=True)
    agency = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    job_title = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.user.email} ({self.vetting_status})"


class AuditEvent(models.Model):
    """Append-only record of security-relevant actions. Never holds answers or anything from the
    anonymous side; `target` names an object on the identity or administrative side."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_email or '-'} {self.action} {self.target}"


class ParticipationStatus(models.TextChoices):
    INVITED = "invited", "Invited"
    BALLOT_ISSUED = "ballot_issued", "Ballot issued"
    SUBMITTED = "submitted", "Submitted"


class Participation(models.Model):
    """Whether an officer has answered an edition: a status, never a time (anonymity invariant 2).

    It is the identity side's only knowledge of answering; nothing on the anonymous side points here."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="participations")
    edition = models.ForeignKey("surveys.Edition", on_delete=models.CASCADE, related_name="participations")
    status = models.CharField(
        max_length=16, choices=ParticipationStatus.choices, default=ParticipationStatus.INVITED
    )
    reminded = models.BooleanField(default=False)
    # SHA-256 of the blinded message a ballot was signed for (level 2), so that a lost response can be
    # fetched again; blinding makes it independent of the ballot's token (docs/anonymity.md).
    ballot_request_digest = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "edition"], name="participation_once_per_edition"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.edition_id}: {self.status}"


class DeletedOfficer(models.Model):
    """What outlives a deleted officer account, so that signing up again with the same address cannot
    overturn a rejection or answer an edition a second time: a keyed digest of the address (never the
    address), whether an administrator rejected it, and its Participation status per edition. No time."""

    email_digest = models.CharField(max_length=64, unique=True)
    rejected = models.BooleanField(default=False)
    # edition id (as text) → "ballot_issued" or "submitted"
    participations = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"deleted officer {self.email_digest[:12]}"


class AgencyDomain(models.Model):
    """An allowlisted agency e-mail domain: a verified address there vets an officer on its own.

    `pattern` is either an exact domain (``police.uk`` matches only ``police.uk``) or an explicit
    subdomain wildcard (``*.police.uk`` matches ``met.police.uk`` and deeper, not ``police.uk`` itself).
    Stored lower-case in IDNA (punycode) form; matching lives in accounts/domains.py."""

    pattern = models.CharField(max_length=253, unique=True)
    agency = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["pattern"]

    def __str__(self) -> str:
        return self.pattern


class Invitation(models.Model):
    """A code an administrator issues; a signed-in pending officer who redeems it is vetted.

    Only a digest of the code is stored (like API tokens): the code itself is shown once, or
    e-mailed once, when it is issued. Codes issued together share a `batch` (e.g. 200 for one agency)."""

    code_digest = models.CharField(max_length=64, unique=True)
    code_hint = models.CharField(max_length=4, help_text="first characters, to tell codes apart")
    batch = models.CharField(max_length=16, db_index=True)
    agency = models.CharField(max_length=200)
    email = models.EmailField(blank=True, help_text="when set, only an account with this address may redeem")
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(uses__lte=models.F("max_uses")), name="invitation_uses_within_limit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code_hint}… ({self.agency})"

    def state(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.uses >= self.max_uses:
            return "used up"
        if self.expires_at <= now:
            return "expired"
        return "valid"


class SsoVettingRule(models.TextChoices):
    TRUSTED = "trusted", "Everyone who signs in through it is vetted (the agency vouches)"
    DOMAINS = "domains", "Vetted when the verified e-mail is on the agency domain allowlist"
    REVIEW = "review", "Pending until an administrator reviews"


class AgencyProvider(models.Model):
    """An agency's OpenID Connect identity provider: allauth's SocialApp plus the agency's vetting rule.

    The SocialApp row (provider "openid_connect", provider_id = our slug) is what allauth signs in
    with; this row says whose provider it is and how people arriving through it are vetted."""

    app = models.OneToOneField(
        "socialaccount.SocialApp", on_delete=models.CASCADE, related_name="agency_provider"
    )
    agency = models.CharField(max_length=200)
    country = models.CharField(max_length=2, blank=True)
    vetting_rule = models.CharField(
        max_length=16, choices=SsoVettingRule.choices, default=SsoVettingRule.REVIEW
    )

    def __str__(self) -> str:
        return f"{self.agency} ({self.app.provider_id})"
