"""Invitation codes: random, typeable, stored only as a digest.

16 characters from Crockford's base32 alphabet (no I, L, O, U) carry 80 bits: with redemption rate
limited per user and per address, guessing one is out of reach. Input is forgiving about case,
spaces and dashes, and reads O as 0 and I/L as 1, as Crockford intends.
"""

import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16
_READS_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def code_generate() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def code_normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum()).translate(_READS_AS)


def code_digest(code: str) -> str:
    return hashlib.sha256(code_normalise(code).encode()).hexdigest()


# An invitation link opened before signing in is remembered here and redeemed at the next login.
PENDING_INVITATION_SESSION_KEY = "accounts.invitation_code"
