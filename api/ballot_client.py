"""A Python client for answering with a blind-signed ballot (RFC 9474; docs/api.md, "Ballots").

    client = BallotClient("https://survey.example.org", api_token="...")
    ballot = client.ballot_obtain(edition_id)   # as the officer: blinded, so the server cannot see it
    ballot_json = ballot.to_json()              # keep it until you answer (it is your one ballot)
    receipt = client.answers_submit(Ballot.from_json(ballot_json), {"q1": "yes"})  # sent anonymously

`answers_submit` uses a separate HTTP connection with no token and no cookies. Obtain the ballot well
before submitting: the time between the two is what the server could try to correlate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, cast

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from responses import blindrsa

# The message inside a ballot: random, so that nothing in it can name its holder.
MESSAGE_BYTES = 32


class BallotError(Exception):
    """The server refused, or answered something a correct server would not."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Ballot:
    edition_id: int
    fingerprint: str
    token: bytes  # the prepared message
    signature: bytes

    def to_json(self) -> str:
        return json.dumps(
            {
                "edition_id": self.edition_id,
                "fingerprint": self.fingerprint,
                "token": base64.b64encode(self.token).decode(),
                "signature": base64.b64encode(self.signature).decode(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Ballot:
        data = json.loads(text)
        return cls(
            edition_id=int(data["edition_id"]),
            fingerprint=data["fingerprint"],
            token=base64.b64decode(data["token"]),
            signature=base64.b64decode(data["signature"]),
        )


class BallotClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_token = api_token
        self._transport = transport
        self._timeout = timeout

    def _client(self, *, authenticated: bool) -> httpx.Client:
        headers = {"Accept": "application/json"}
        if authenticated:
            if not self._api_token:
                raise BallotError("Obtaining a ballot needs the officer's API token.")
            headers["Authorization"] = f"Token {self._api_token}"
        # A fresh client each time: no cookie jar or connection carries over between the two steps.
        return httpx.Client(
            base_url=self._base_url, headers=headers, transport=self._transport, timeout=self._timeout
        )

    @staticmethod
    def _json(response: httpx.Response, expected: int) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code != expected:
            detail = body.get("detail") if isinstance(body, dict) else None
            raise BallotError(
                detail or f"HTTP {response.status_code}", status=response.status_code, body=body
            )
        return cast(dict[str, Any], body)

    def ballot_key(self, edition_id: int) -> tuple[rsa.RSAPublicKey, str]:
        """The edition's public key, checked against the fingerprint the server states for it."""
        with self._client(authenticated=False) as http:
            body = self._json(http.get(f"/api/v1/editions/{edition_id}/ballot-key/"), 200)
        public = serialization.load_pem_public_key(body["public_key"].encode())
        if not isinstance(public, rsa.RSAPublicKey):
            raise BallotError("The ballot key is not an RSA key.")
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if body["fingerprint"] != "sha256:" + hashlib.sha256(der).hexdigest():
            raise BallotError("The ballot key does not match its fingerprint.")
        return public, body["fingerprint"]

    def ballot_obtain(self, edition_id: int, *, expected_fingerprint: str | None = None) -> Ballot:
        """Get this officer's one ballot for the edition. Compare the fingerprint with the one in your
        invitation (pass it as expected_fingerprint) to be sure you got the same key as everyone."""
        public, fingerprint = self.ballot_key(edition_id)
        if expected_fingerprint is not None and expected_fingerprint != fingerprint:
            raise BallotError("The server's ballot key is not the one you expected.")
        prepared = blindrsa.prepare(_random_message())
        blinded, inv = blindrsa.blind(public, prepared)
        with self._client(authenticated=True) as http:
            body = self._json(
                http.post(
                    f"/api/v1/editions/{edition_id}/ballots/",
                    json={"blinded_msg": base64.b64encode(blinded).decode()},
                ),
                201,
            )
        signature = blindrsa.finalize(public, prepared, base64.b64decode(body["blind_sig"]), inv)
        return Ballot(edition_id=edition_id, fingerprint=fingerprint, token=prepared, signature=signature)

    def answers_submit(self, ballot: Ballot, answers: dict[str, Any]) -> str:
        """Send answers with the ballot, anonymously; returns the receipt code."""
        with self._client(authenticated=False) as http:
            body = self._json(
                http.post(
                    f"/api/v1/editions/{ballot.edition_id}/anonymous-responses/",
                    json={
                        "token": base64.b64encode(ballot.token).decode(),
                        "signature": base64.b64encode(ballot.signature).decode(),
                        "answers": answers,
                    },
                ),
                201,
            )
        return str(body["receipt"])


def _random_message() -> bytes:
    return secrets.token_bytes(MESSAGE_BYTES)
