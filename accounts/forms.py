"""Forms of the identity side. Validation only; the rules live in accounts/services.py."""

from datetime import timedelta

import pycountry
from allauth.account.forms import SignupForm
from django import forms
from django.utils import timezone

from accounts.domains import DomainInvalid, normalise_pattern
from accounts.models import Role, SsoVettingRule

COUNTRY_CHOICES = [
    ("", "—"),
    *sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda pair: pair[1]),
]


class VettingFactsMixin(forms.Form):
    agency = forms.CharField(
        max_length=200, help_text="The police force or agency you work for, e.g. Metropolitan Police."
    )
    country = forms.ChoiceField(choices=COUNTRY_CHOICES)
    job_title = forms.CharField(max_length=200, required=False, label="Role or job title")


class OfficerSignupForm(VettingFactsMixin, SignupForm):
    """allauth's sign-up form plus the facts an administrator needs to vet the account.

    The facts stay on the identity side (OfficerProfile) and are never copied into answers."""

    field_order = ["email", "password1", "password2", "agency", "country", "job_title"]


class ProfileForm(VettingFactsMixin):
    pass


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Sent to the officer by e-mail.",
    )


class AgencyDomainForm(forms.Form):
    pattern = forms.CharField(
        max_length=255,
        label="Domain",
        help_text="police.uk allows exactly that domain; *.police.uk allows its subdomains (not police.uk).",
    )
    agency = forms.CharField(max_length=200, required=False)

    def clean_pattern(self) -> str:
        try:
            return normalise_pattern(self.cleaned_data["pattern"])
        except DomainInvalid as exc:
            raise forms.ValidationError(str(exc)) from None


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(
        label="Type DELETE to confirm",
        help_text="Your account, profile and participation records are removed. Answers you gave are "
        "anonymous and stay in the results: nobody can find them to delete them, including us.",
    )

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"].strip() != "DELETE":
            raise forms.ValidationError("Type DELETE in capitals to confirm.")
        return "DELETE"


class InvitationForm(forms.Form):
    agency = forms.CharField(max_length=200, help_text="Shown to the officer and copied to their profile.")
    count = forms.IntegerField(
        min_value=1,
        max_value=1000,
        initial=1,
        label="Number of codes",
        help_text="One code each for this many officers (e.g. 200 for one agency).",
    )
    max_uses = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        initial=1,
        label="Uses per code",
        help_text="1 for a personal code; more for one link shared with a group.",
    )
    valid_days = forms.IntegerField(min_value=1, max_value=365, initial=30, label="Valid for (days)")
    email = forms.EmailField(
        required=False,
        help_text="Optional, single code only: e-mail the link to this address and accept it only "
        "from an account with that address.",
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("email") and data.get("count", 1) != 1:
            raise forms.ValidationError("An invitation sent to one address must be a single code.")
        return data

    @property
    def expires_at(self):  # type: ignore[no-untyped-def]
        return timezone.now() + timedelta(days=self.cleaned_data["valid_days"])


class RedeemForm(forms.Form):
    code = forms.CharField(max_length=64, label="Invitation code", strip=True)


class RoleForm(forms.Form):
    email = forms.EmailField(label="E-mail of an existing account")
    role = forms.ChoiceField(choices=Role.choices)
    grant = forms.TypedChoiceField(
        choices=[("1", "Grant"), ("0", "Revoke")], coerce=lambda v: v == "1", label="Action"
    )


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        required=False,
        help_text="A prefix: login. finds every login event.",
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    actor = forms.CharField(required=False, label="Actor e-mail contains")
    target = forms.CharField(required=False, label="Target contains")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class SsoProviderForm(forms.Form):
    name = forms.CharField(max_length=40, help_text='Shown on the login page: "Sign in with …".')
    slug = forms.SlugField(
        max_length=64,
        label="Identifier",
        help_text="Lower-case, e.g. met-police; part of the redirect URI you give the agency.",
    )
    server_url = forms.URLField(
        assume_scheme="https",
        label="Issuer URL",
        help_text="The provider's issuer; /.well-known/openid-configuration is read from it.",
    )
    client_id = forms.CharField(max_length=191)
    secret = forms.CharField(max_length=191, label="Client secret", widget=forms.PasswordInput)
    agency = forms.CharField(max_length=200)
    country = forms.ChoiceField(choices=COUNTRY_CHOICES, required=False)
    vetting_rule = forms.ChoiceField(choices=SsoVettingRule.choices, initial=SsoVettingRule.REVIEW)
