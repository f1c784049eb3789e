"""E-mails the identity side sends itself (allauth sends its own: verification, password reset).

Templates live in templates/accounts/email/<name>_subject.txt and <name>_message.txt. E-mails carry
no answers and no participation times; links point at SITE_URL.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string


def render_email(name: str, *, to: str, context: Mapping[str, Any]) -> EmailMessage:
    ctx = {"site_url": settings.SITE_URL.rstrip("/"), **context}
    subject = " ".join(render_to_string(f"accounts/email/{name}_subject.txt", ctx).split())
    body = render_to_string(f"accounts/email/{name}_message.txt", ctx).strip() + "\n"
    prefix = getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", "") or ""
    return EmailMessage(prefix + subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def send_emails(messages: Iterable[EmailMessage]) -> int:
    """Send over one connection (one SMTP session for a whole batch)."""
    batch = list(messages)
    if not batch:
        return 0
    with get_connection() as connection:
        return connection.send_messages(batch) or 0
