"""Agency e-mail domains: normalisation and matching for the vetting allowlist.

An allowlist entry is an exact domain (``police.uk`` matches only ``police.uk``) or an explicit
subdomain wildcard (``*.police.uk`` matches ``met.police.uk`` and ``a.met.police.uk``, never
``police.uk`` itself). Matching compares whole labels, so ``evilpolice.uk`` and ``police.uk.evil.com``
never match ``police.uk``. Everything is compared lower-case in IDNA (punycode) form, so a look-alike
Unicode domain (a Cyrillic "o" in "police.uk") is a different domain, not a match.
"""

import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class DomainInvalid(ValueError):
    """Not a domain (or pattern) we can match safely."""


def normalise_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if not value:
        raise DomainInvalid("The domain is empty.")
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise DomainInvalid(f"{domain!r} is not a valid domain name.") from None
    labels = value.split(".")
    if len(value) > 253 or not all(_LABEL.match(label) for label in labels):
        raise DomainInvalid(f"{domain!r} is not a valid domain name.")
    return value


def normalise_pattern(pattern: str) -> str:
    """An allowlist entry in stored form; refuses anything whose meaning could be misread."""
    value = pattern.strip().lower()
    if "@" in value:
        raise DomainInvalid("Enter a domain (police.uk), not an e-mail address.")
    if value.startswith("."):
        raise DomainInvalid(f"Write {'*' + value!r} to allow every subdomain, or drop the leading dot.")
    wildcard = value.startswith("*.")
    rest = value[2:] if wildcard else value
    if "*" in rest:
        raise DomainInvalid("A wildcard is only allowed as the whole first label: *.police.uk.")
    domain = normalise_domain(rest)
    if wildcard and domain.count(".") < 1:
        # *.uk or *.com would admit every address under a top-level domain.
        raise DomainInvalid("A wildcard needs at least two labels after it (*.police.uk, not *.uk).")
    return f"*.{domain}" if wildcard else domain


def email_domain(email: str) -> str | None:
    """The normalised domain of an address, or None when there is none we can trust."""
    _local, at, domain = email.rpartition("@")
    if not at:
        return None
    try:
        return normalise_domain(domain)
    except DomainInvalid:
        return None


def candidate_patterns(domain: str) -> list[str]:
    """Every allowlist entry that would match `domain`, most specific first.

    ``met.police.uk`` → ``met.police.uk``, ``*.police.uk``, ``*.uk``: a lookup with ``pattern__in``
    then finds the matching entry without scanning the allowlist."""
    labels = domain.split(".")
    return [domain] + ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]


def pattern_matches(pattern: str, domain: str) -> bool:
    if pattern.startswith("*."):
        suffix = pattern[1:]  # ".police.uk"
        return domain.endswith(suffix) and len(domain) > len(suffix)
    return domain == pattern
