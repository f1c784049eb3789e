"""RSA blind signatures, RFC 9474, variant RSABSSA-SHA384-PSS-Randomized: both sides of the protocol.

The browser (static/js/vendor, @cloudflare/blindrsa-ts) and the Python client (api/ballot_client.py) use
prepare / blind / finalize; the server uses blind_sign and verify. A finalized signature is an ordinary
RSASSA-PSS signature (SHA-384, MGF1-SHA-384, 48-byte salt) over the prepared message, so verify() is the
`cryptography` package's own PSS verification.

The `cryptography` package has no raw RSA operation, which blind signing needs, so RSASP1 is done here
with gmpy2's constant-time modular exponentiation (mpz_powm_sec) over the CRT halves, with base blinding
(the exponentiation never sees the caller's input) and the fault check RFC 9474 section 4.3 requires.
"""

from __future__ import annotations

import hashlib
import math
import secrets

import gmpy2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NAME = "RSABSSA-SHA384-PSS-Randomized"
HASH_LENGTH = 48  # SHA-384
SALT_LENGTH = 48
PREFIX_LENGTH = 32  # the randomized variant's message prefix
MIN_MODULUS_BITS = 2048
PUBLIC_EXPONENT = 65537


class BlindRSAError(ValueError):
    """An input the protocol refuses (wrong length, out of range); safe to report to the caller."""


class SigningFailure(RuntimeError):
    """The signature did not verify against the input: a fault during signing. Nothing was returned."""


def modulus_length(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> int:
    return (key.key_size + 7) // 8


def generate_private_key(bits: int = 3072) -> rsa.RSAPrivateKey:
    if bits < MIN_MODULUS_BITS:
        raise BlindRSAError(f"Ballot keys need at least {MIN_MODULUS_BITS} bits.")
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)


# --- client side ------------------------------------------------------------------------------------


def prepare(msg: bytes) -> bytes:
    """The randomized variant's Prepare: 32 fresh random bytes, then the message."""
    return secrets.token_bytes(PREFIX_LENGTH) + msg


def _mgf1_sha384(seed: bytes, length: int) -> bytes:
    blocks = (hashlib.sha384(seed + i.to_bytes(4, "big")).digest() for i in range(math.ceil(length / 48)))
    return b"".join(blocks)[:length]


def _emsa_pss_encode(message: bytes, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) with SHA-384 and MGF1-SHA-384."""
    em_len = math.ceil(em_bits / 8)
    if em_len < HASH_LENGTH + len(salt) + 2:
        raise BlindRSAError("The key is too small for this encoding.")
    m_hash = hashlib.sha384(message).digest()
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    db = b"\x00" * (em_len - len(salt) - HASH_LENGTH - 2) + b"\x01" + salt
    masked = bytearray(a ^ b for a, b in zip(db, _mgf1_sha384(h, len(db)), strict=True))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked) + h + b"\xbc"


def blind(
    public_key: rsa.RSAPublicKey, prepared: bytes, *, salt: bytes | None = None, r: int | None = None
) -> tuple[bytes, int]:
    """Blind a prepared message: returns (blinded_msg, inv). `salt` and `r` are for test vectors only."""
    numbers = public_key.public_numbers()
    n, e = numbers.n, numbers.e
    k = modulus_length(public_key)
    encoded = _emsa_pss_encode(prepared, public_key.key_size - 1, salt or secrets.token_bytes(SALT_LENGTH))
    m = int.from_bytes(encoded, "big")
    if math.gcd(m, n) != 1:
        raise BlindRSAError("Invalid input.")
    while r is None or math.gcd(r, n) != 1:
        r = secrets.randbelow(n - 2) + 2
    inv = pow(r, -1, n)
    blinded = m * pow(r, e, n) % n
    return blinded.to_bytes(k, "big"), inv


def finalize(public_key: rsa.RSAPublicKey, prepared: bytes, blind_sig: bytes, inv: int) -> bytes:
    """Unblind the server's signature and check it; raises InvalidSignature if the server cheated."""
    n = public_key.public_numbers().n
    k = modulus_length(public_key)
    if len(blind_sig) != k:
        raise BlindRSAError("The blind signature has the wrong length.")
    z = int.from_bytes(blind_sig, "big")
    signature = (z * inv % n).to_bytes(k, "big")
    verify(public_key, prepared, signature)
    return signature


# --- server side ------------------------------------------------------------------------------------


def _rsasp1(numbers: rsa.RSAPrivateNumbers, m: int) -> int:
    """m^d mod n by CRT, each half a constant-time exponentiation (gmpy2.powmod_sec)."""
    p, q = gmpy2.mpz(numbers.p), gmpy2.mpz(numbers.q)
    s_p = gmpy2.powmod_sec(m % p, gmpy2.mpz(numbers.dmp1), p)
    s_q = gmpy2.powmod_sec(m % q, gmpy2.mpz(numbers.dmq1), q)
    h = (s_p - s_q) * gmpy2.mpz(numbers.iqmp) % p
    return int(s_q + q * h)


def blind_sign(private_key: rsa.RSAPrivateKey, blinded_msg: bytes) -> bytes:
    """BlindSign (RFC 9474 section 4.3) with base blinding and the s^e == m fault check."""
    numbers = private_key.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    k = modulus_length(private_key)
    if len(blinded_msg) != k:
        raise BlindRSAError(f"The blinded message must be {k} bytes.")
    m = int.from_bytes(blinded_msg, "big")
    if m >= n:
        raise BlindRSAError("The blinded message is out of range.")
    # Base blinding: exponentiate m * r^e instead of m, so the operation's inputs are random.
    r = 0
    while math.gcd(r, n) != 1:
        r = secrets.randbelow(n - 2) + 2
    s = _rsasp1(numbers, m * pow(r, e, n) % n) * pow(r, -1, n) % n
    if pow(s, e, n) != m:
        raise SigningFailure("Blind signing failed its own check.")
    return s.to_bytes(k, "big")


def verify(public_key: rsa.RSAPublicKey, prepared: bytes, signature: bytes) -> None:
    """Raises cryptography.exceptions.InvalidSignature unless `signature` signs `prepared`."""
    public_key.verify(
        signature,
        prepared,
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_LENGTH),
        hashes.SHA384(),
    )
