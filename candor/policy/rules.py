"""Policy rules: pure functions of (facts, policy) -> Check. No FastAPI, no DB, no I/O.

The order of ``RULES`` is the order checks are reported in; the first failing rule names a denial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from candor.policy.facts import GenerationFacts
from candor.policy.policy import Policy


@dataclass(frozen=True)
class Check:
    rule_id: str
    passed: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"rule_id": self.rule_id, "passed": self.passed, "reason": self.reason}


Rule = Callable[[GenerationFacts, Policy], Check]


def partner_approved(f: GenerationFacts, p: Policy) -> Check:
    ok = f.partner.state == "approved"
    return Check("partner.approved", ok, f"partner is {f.partner.state}" + ("" if ok else ", not approved"))


def partner_use_case_allowed(f: GenerationFacts, p: Policy) -> Check:
    ok = f.partner.use_case in p.allowed_use_cases and f.request.use in p.allowed_use_cases
    return Check(
        "partner.use_case_allowed",
        ok,
        f"partner use case {f.partner.use_case!r}, requested use {f.request.use!r}"
        + ("" if ok else f"; policy allows {', '.join(p.allowed_use_cases)}"),
    )


def consent_owned(f: GenerationFacts, p: Policy) -> Check:
    ok = f.consent.partner_id == f.partner.id
    return Check("consent.owned", ok, "consent record belongs to the partner" if ok else "consent not owned")


def consent_not_revoked(f: GenerationFacts, p: Policy) -> Check:
    revoked = f.consent.revoked_at
    ok = revoked is None or revoked > f.now
    return Check("consent.not_revoked", ok, "consent is active" if ok else f"consent revoked at {revoked}")


def consent_not_expired(f: GenerationFacts, p: Policy) -> Check:
    ok = f.now < f.consent.expires_at
    return Check(
        "consent.not_expired",
        ok,
        f"consent valid until {f.consent.expires_at}" if ok else f"consent expired at {f.consent.expires_at}",
    )


def consent_adult_or_guardian(f: GenerationFacts, p: Policy) -> Check:
    c = f.consent
    ok = c.subject_is_adult or (c.guardian_consent and bool((c.guardian_name or "").strip()))
    reason = (
        "subject attested adult"
        if c.subject_is_adult
        else ("guardian consent recorded" if ok else "subject is not attested adult and no guardian consent")
    )
    return Check("consent.adult_or_guardian", ok, reason)


def consent_evidence_present(f: GenerationFacts, p: Policy) -> Check:
    ok = f.consent.has_evidence or not p.require_evidence
    return Check(
        "consent.evidence_present",
        ok,
        "consent evidence on file" if f.consent.has_evidence else "no consent document or recording on file",
    )


def consent_use_in_scope(f: GenerationFacts, p: Policy) -> Check:
    ok = f.request.use in f.consent.allowed_uses
    return Check(
        "consent.use_in_scope",
        ok,
        f"use {f.request.use!r} " + ("is" if ok else "is not") + f" among {list(f.consent.allowed_uses)}",
    )


def portrait_enrolled(f: GenerationFacts, p: Policy) -> Check:
    ok = f.portrait.consent_id == f.consent.id and f.portrait.partner_id == f.partner.id
    return Check(
        "portrait.enrolled",
        ok,
        "portrait enrolled under this consent" if ok else "portrait not enrolled under this consent",
    )


def portrait_identity_checked(f: GenerationFacts, p: Policy) -> Check:
    ok = f.portrait.identity_distance is not None
    return Check(
        "portrait.identity_checked",
        ok,
        f"portrait matched the consent's reference face (distance {f.portrait.identity_distance:.3f})"
        if ok
        else "portrait was never matched against the consent's reference face: re-enrol it under a consent "
        "that holds the subject's reference",
    )


def request_duration_max(f: GenerationFacts, p: Policy) -> Check:
    d = f.request.duration_s
    ok = 0 < d <= p.max_duration_s
    return Check("request.duration_max", ok, f"duration {d:.2f} s, limit {p.max_duration_s:.0f} s")


def request_fps_range(f: GenerationFacts, p: Policy) -> Check:
    fps = f.request.fps
    ok = (p.min_fps is None or p.min_fps <= fps) and (p.max_fps is None or fps <= p.max_fps)
    allowed = f"{'any' if p.min_fps is None else p.min_fps}-{'any' if p.max_fps is None else p.max_fps}"
    return Check("request.fps_range", ok, f"fps {fps}, allowed {allowed}")


def request_resolution_max(f: GenerationFacts, p: Policy) -> Check:
    r = f.request
    ok = 0 < r.width <= p.max_width and 0 < r.height <= p.max_height
    return Check("request.resolution_max", ok, f"{r.width}x{r.height} px, limit {p.max_width}x{p.max_height} px")


def quota_remaining(f: GenerationFacts, p: Policy) -> Check:
    q = f.quota
    ok = q.used_s + f.request.duration_s <= q.limit_s + 1e-9
    return Check(
        "quota.remaining",
        ok,
        f"{q.used_s:.1f} s used + {f.request.duration_s:.1f} s requested of {q.limit_s:.0f} s this month",
    )


def release_watermark_required(f: GenerationFacts, p: Policy) -> Check:
    ok = f.request.watermark
    return Check("release.watermark_required", ok, "watermark embedded" if ok else "the watermark cannot be turned off")


def release_credentials_required(f: GenerationFacts, p: Policy) -> Check:
    ok = f.request.credentials
    return Check(
        "release.credentials_required",
        ok,
        "C2PA credentials attached" if ok else "content credentials cannot be turned off",
    )


RULES: tuple[Rule, ...] = (
    partner_approved,
    partner_use_case_allowed,
    consent_owned,
    consent_not_revoked,
    consent_not_expired,
    consent_adult_or_guardian,
    consent_evidence_present,
    consent_use_in_scope,
    portrait_enrolled,
    portrait_identity_checked,
    request_duration_max,
    request_fps_range,
    request_resolution_max,
    quota_remaining,
    release_watermark_required,
    release_credentials_required,
)
