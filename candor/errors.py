"""Candor's domain errors: one hierarchy, mapped to CLI messages and RFC 9457 problems at the edges."""

from __future__ import annotations


class CandorError(Exception):
    """Base of every error Candor reports to a user. ``status`` is the HTTP status it maps to."""

    status: int = 400
    type_slug: str = "candor-error"
    title: str = "Request could not be processed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(CandorError):
    status = 422
    type_slug = "invalid-input"
    title = "Invalid input"


class InvalidImage(InvalidInput):
    type_slug = "invalid-image"
    title = "Invalid image"


class ImageTooLarge(InvalidImage):
    status = 413
    type_slug = "image-too-large"
    title = "Image too large"


class NoFaceFound(InvalidImage):
    type_slug = "no-face"
    title = "No face found"


class MultipleFaces(InvalidImage):
    """Enrolment needs exactly one face, so the consent record names one person unambiguously."""

    type_slug = "multiple-faces"
    title = "More than one face"


class InvalidAudio(InvalidInput):
    type_slug = "invalid-audio"
    title = "Invalid audio"


class AudioTooLong(InvalidAudio):
    # 422, not 413: the bytes were acceptable, their duration is not (issue 5: size 413, duration 422).
    status = 422
    type_slug = "audio-too-long"
    title = "Audio too long"


class InvalidVideo(InvalidInput):
    type_slug = "invalid-video"
    title = "Invalid video"


class InvalidMotion(InvalidInput):
    type_slug = "invalid-motion"
    title = "Invalid motion sequence"


# --- service: authentication, authorization, consent policy, storage ---------------------------


class PayloadTooLarge(InvalidInput):
    status = 413
    type_slug = "payload-too-large"
    title = "Payload too large"


class Unauthorized(CandorError):
    status = 401
    type_slug = "unauthorized"
    title = "Missing or invalid API key"


class Forbidden(CandorError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotFound(CandorError):
    """Also raised for another partner's resource, so its existence is not revealed."""

    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(CandorError):
    """E.g. an Idempotency-Key reused with a different request body."""

    status = 409
    type_slug = "conflict"
    title = "Conflict"


class Gone(CandorError):
    """It existed and was removed on purpose: an output past its retention period, a manifest whose
    subject's consent was erased."""

    status = 410
    type_slug = "gone"
    title = "Gone"


class InvalidEvidence(InvalidInput):
    """Consent evidence that is empty, unreadable, or not what its declared type says (422)."""

    type_slug = "invalid-evidence"
    title = "Invalid consent evidence"


class EvidenceTypeMismatch(InvalidEvidence):
    """The evidence's content is a different format from its declared media type (415)."""

    status = 415
    type_slug = "evidence-type-mismatch"
    title = "Evidence content does not match its declared type"


class ConsentReferenceRequired(Conflict):
    """The consent holds no reference of its subject yet, so no portrait can be matched to it."""

    type_slug = "consent-reference-required"
    title = "Consent has no reference of its subject"


class PortraitIdentityMismatch(Forbidden):
    """The portrait's face is not the consenting subject's (its identity distance to the consent's
    reference is at or above the threshold); ``distance`` is the measured value."""

    type_slug = "portrait-identity-mismatch"
    title = "Portrait does not match the consenting subject"

    def __init__(self, detail: str, distance: float | None = None) -> None:
        super().__init__(detail)
        self.distance = distance


class PolicyDenied(Forbidden):
    """A policy rule refused the request; ``rule_id`` names it (e.g. ``consent.not_revoked``)."""

    type_slug = "policy-denied"
    title = "Denied by policy"

    def __init__(self, rule_id: str, detail: str) -> None:
        super().__init__(detail)
        self.rule_id = rule_id


class ConsentRevoked(PolicyDenied):
    type_slug = "consent-revoked"
    title = "Consent revoked"

    def __init__(self, detail: str, rule_id: str = "consent.not_revoked") -> None:
        super().__init__(rule_id, detail)


class ConsentExpired(PolicyDenied):
    type_slug = "consent-expired"
    title = "Consent expired"

    def __init__(self, detail: str, rule_id: str = "consent.not_expired") -> None:
        super().__init__(rule_id, detail)


class QuotaExceeded(PolicyDenied):
    """The partner's monthly seconds of generated video are used up (403: retrying will not help
    before the month rolls over, unlike a 429 rate limit)."""

    type_slug = "quota-exceeded"
    title = "Monthly quota exceeded"

    def __init__(self, detail: str, rule_id: str = "quota.remaining") -> None:
        super().__init__(rule_id, detail)


class ProvenanceError(CandorError):
    """Signing, keys or credential checks failed on the service side."""

    status = 500
    type_slug = "provenance-error"
    title = "Provenance error"


class KeyStoreError(ProvenanceError):
    type_slug = "key-store"
    title = "Signing keys unavailable"


class SigningCertificateRejected(ProvenanceError):
    type_slug = "signing-certificate-rejected"
    title = "Signing certificate rejected"


class TimestampAuthorityUnavailable(ProvenanceError):
    status = 503
    type_slug = "tsa-unavailable"
    title = "Timestamp authority unavailable"


class SigningFailed(ProvenanceError):
    type_slug = "signing-failed"
    title = "Signing failed"


# --- tamper-evident generation log ---------------------------------------------------------------


class InvalidProof(CandorError):
    """A Merkle inclusion/consistency proof or a signed log checkpoint did not verify."""

    status = 422
    type_slug = "invalid-proof"
    title = "Proof did not verify"


# --- storage ---------------------------------------------------------------------------------------


class StorageUnavailable(CandorError):
    """The file store (an object store bucket, a shared directory) did not answer or refused access."""

    status = 503
    type_slug = "storage-unavailable"
    title = "File storage unavailable"
