"""Helpers the API tests share: settings, operator actions, partner calls with real media."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from candor.config import Settings


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "environment": "development",  # the key store makes a dev passphrase in data_dir
        "rate_limit_per_s": 1000.0,
        "rate_limit_burst": 1000,
        # The authorization tests fail keys on purpose hundreds of times from one client.
        "auth_failure_rate_per_s": 1000.0,
        "auth_failure_burst": 100_000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Caller:
    """A partner (or a principal: ``partner_id`` None) and one of its keys as the tests use them."""

    partner_id: str | None
    token: str
    prefix: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Admin:
    """Operator actions done the way the CLI does them: service functions in one transaction."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.state = app.state.service

    def partner(self, name: str, *, state: str = "approved", use_case: str = "education", **kw: object) -> str:
        from candor import services

        with self.state.session_factory() as session:
            partner = services.create_partner(
                session=session, log=self.state.ledger, name=name, use_case=use_case, **kw
            )
            if state != "pending":
                services.set_partner_state(session=session, log=self.state.ledger, partner_id=partner.id, state=state)
            return partner.id

    def key(self, partner_id: str, scopes: str = "generate", **kw: object) -> Caller:
        """``kw``: ``expires_in_days``, ``now`` (issue as of then: a past ``now`` makes an expired key)."""
        from candor import services

        with self.state.session_factory() as session:
            issued = services.issue_api_key(
                session=session, log=self.state.ledger, partner_id=partner_id, scopes=scopes, **kw
            )
            return Caller(partner_id, issued.token, issued.key.prefix)

    def principal(self, name: str, role: str) -> Caller:
        """A new auditor or operator and a key for it."""
        from candor.services import principals

        with self.state.session_factory() as session:
            principal = principals.create_principal(session=session, log=self.state.ledger, name=name, role=role)
            issued = principals.issue_principal_key(session=session, log=self.state.ledger, principal_id=principal.id)
            return Caller(None, issued.token, issued.key.prefix)

    def revoke(self, caller: Caller) -> None:
        from candor import services

        with self.state.session_factory() as session:
            services.revoke_api_key(session=session, log=self.state.ledger, key_id=caller.prefix)

    def set_state(self, partner_id: str, state: str) -> None:
        from candor import services

        with self.state.session_factory() as session:
            services.set_partner_state(session=session, log=self.state.ledger, partner_id=partner_id, state=state)


def consent_form(**overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "subject_name": "Eileen Collins",
        "subject_is_adult": "true",
        "allowed_uses": "education,communication",
    }
    form.update(overrides)
    return form


@functools.cache
def astronaut_png() -> bytes:
    """The bundled astronaut photo as PNG: the subject of the helpers' consents and portraits."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    return buffer.getvalue()


def create_consent(
    client: TestClient, caller: Caller, pdf: bytes, reference: bytes | None = None, **overrides: object
) -> dict:
    """A consent with ``pdf`` as its document and ``reference`` (default: the astronaut) as its
    subject's reference photo."""
    response = client.post(
        "/v1/consents",
        headers=caller.headers,
        data=consent_form(**overrides),
        files={
            "evidence_document": ("consent.pdf", pdf, "application/pdf"),
            "reference": ("subject.png", reference or astronaut_png(), "image/png"),
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def enroll(client: TestClient, caller: Caller, consent_id: str, png: bytes) -> dict:
    response = client.post(
        f"/v1/consents/{consent_id}/portraits",
        headers=caller.headers,
        files={"image": ("astronaut.png", png, "image/png")},
    )
    assert response.status_code == 201, response.text
    return response.json()


def upload_audio(client: TestClient, caller: Caller, wav: bytes) -> dict:
    response = client.post("/v1/assets/audio", headers=caller.headers, files={"audio": ("hello.wav", wav, "audio/wav")})
    assert response.status_code == 201, response.text
    return response.json()
