"""RFC 9474 RSABSSA-SHA384-PSS-Randomized: the Appendix A vectors, and refusals of bad input."""

import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from responses import blindrsa

VECTOR = json.loads((Path(__file__).parent / "data" / "rfc9474_vectors.json").read_text())


def _int(name: str) -> int:
    return int(VECTOR[name], 16)


def _bytes(name: str) -> bytes:
    return bytes.fromhex(VECTOR[name])


@pytest.fixture(scope="module")
def vector_key() -> rsa.RSAPrivateKey:
    p, q, d, e, n = _int("p"), _int("q"), _int("d"), _int("e"), _int("n")
    public = rsa.RSAPublicNumbers(e, n)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=public,
    )
    return numbers.private_key()


@pytest.fixture(scope="module")
def fresh_key() -> rsa.RSAPrivateKey:
    return blindrsa.generate_private_key(2048)


def test_the_vector_is_the_randomized_pss_variant():
    assert VECTOR["name"] == blindrsa.NAME


def test_encoding_matches_the_vector(vector_key):
    prepared = _bytes("msg_prefix") + _bytes("msg")
    encoded = blindrsa._emsa_pss_encode(prepared, vector_key.key_size - 1, _bytes("salt"))
    assert encoded.hex() == VECTOR["encoded_msg"]


def test_blind_matches_the_vector(vector_key):
    n = _int("n")
    r = pow(_int("inv"), -1, n)
    prepared = _bytes("msg_prefix") + _bytes("msg")
    blinded, inv = blindrsa.blind(vector_key.public_key(), prepared, salt=_bytes("salt"), r=r)
    assert blinded.hex() == VECTOR["blinded_msg"]
    assert inv == _int("inv")


def test_blind_sign_matches_the_vector(vector_key):
    # Base blinding uses a fresh random r every time, yet RSA signing is deterministic.
    for _ in range(3):
        assert blindrsa.blind_sign(vector_key, _bytes("blinded_msg")).hex() == VECTOR["blind_sig"]


def test_finalize_and_verify_match_the_vector(vector_key):
    prepared = _bytes("msg_prefix") + _bytes("msg")
    signature = blindrsa.finalize(vector_key.public_key(), prepared, _bytes("blind_sig"), _int("inv"))
    assert signature.hex() == VECTOR["sig"]
    blindrsa.verify(vector_key.public_key(), prepared, signature)


def test_round_trip_with_a_fresh_key(fresh_key):
    prepared = blindrsa.prepare(b"ballot token")
    assert len(prepared) == 32 + len(b"ballot token")
    blinded, inv = blindrsa.blind(fresh_key.public_key(), prepared)
    signature = blindrsa.finalize(
        fresh_key.public_key(), prepared, blindrsa.blind_sign(fresh_key, blinded), inv
    )
    blindrsa.verify(fresh_key.public_key(), prepared, signature)
    with pytest.raises(InvalidSignature):
        blindrsa.verify(fresh_key.public_key(), prepared + b"x", signature)


def test_blinding_hides_the_message(fresh_key):
    """The same prepared message blinds to unrelated values: the signer learns nothing from them."""
    prepared = blindrsa.prepare(b"same")
    first, _ = blindrsa.blind(fresh_key.public_key(), prepared)
    second, _ = blindrsa.blind(fresh_key.public_key(), prepared)
    assert first != second


def test_a_signature_from_another_key_is_refused(fresh_key, vector_key):
    prepared = blindrsa.prepare(b"token")
    blinded, inv = blindrsa.blind(fresh_key.public_key(), prepared)
    signature = blindrsa.finalize(
        fresh_key.public_key(), prepared, blindrsa.blind_sign(fresh_key, blinded), inv
    )
    with pytest.raises(InvalidSignature):
        blindrsa.verify(blindrsa.generate_private_key(2048).public_key(), prepared, signature)


def test_finalize_refuses_a_wrong_blind_signature(fresh_key):
    prepared = blindrsa.prepare(b"token")
    _, inv = blindrsa.blind(fresh_key.public_key(), prepared)
    other, _ = blindrsa.blind(fresh_key.public_key(), blindrsa.prepare(b"other"))
    with pytest.raises(InvalidSignature):
        blindrsa.finalize(fresh_key.public_key(), prepared, blindrsa.blind_sign(fresh_key, other), inv)


@pytest.mark.parametrize("size_delta", [-1, 1])
def test_blind_sign_refuses_a_message_of_the_wrong_length(fresh_key, size_delta):
    with pytest.raises(blindrsa.BlindRSAError):
        blindrsa.blind_sign(fresh_key, b"\x01" * (256 + size_delta))


def test_blind_sign_refuses_a_message_out_of_range(fresh_key):
    n = fresh_key.public_key().public_numbers().n
    with pytest.raises(blindrsa.BlindRSAError):
        blindrsa.blind_sign(fresh_key, n.to_bytes(256, "big"))


def test_the_fault_check_catches_a_faulty_exponentiation(fresh_key, monkeypatch):
    blinded, _ = blindrsa.blind(fresh_key.public_key(), blindrsa.prepare(b"token"))
    monkeypatch.setattr(blindrsa, "_rsasp1", lambda numbers, m: m + 1)
    with pytest.raises(blindrsa.SigningFailure):
        blindrsa.blind_sign(fresh_key, blinded)


def test_keys_under_2048_bits_are_refused():
    with pytest.raises(blindrsa.BlindRSAError):
        blindrsa.generate_private_key(1024)
