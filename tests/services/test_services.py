"""Service functions on SQLite and PostgreSQL: keys, consent, policy in the request path,
idempotency, quota, partner scoping, and the log entries they write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from store_world import CONSENT_FORM, FACE, make_world

from candor import services
from candor.errors import (
    Conflict,
    ConsentExpired,
    ConsentRevoked,
    Forbidden,
    InvalidAudio,
    InvalidImage,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PolicyDenied,
    QuotaExceeded,
    Unauthorized,
)
from candor.policy.rules import RULES
from candor.store.models import ApiKey, Generation, IdempotencyRecord, LogEntryRow, QuotaUsage, utcnow


def events(factory) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return list(session.scalars(select(LogEntryRow.event_type).order_by(LogEntryRow.log_index)))


def test_world_setup_is_logged(factory, world) -> None:  # type: ignore[no-untyped-def]
    assert events(factory) == [
        "partner.created",
        "partner.state_changed",
        "key.issued",
        "consent.created",
        "portrait.enrolled",
    ]
    assert world.partner.id.startswith("ptn_") and world.audio.duration_s > 1.0


# --- API keys ---------------------------------------------------------------------------------


def test_key_authentication(factory, log, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        key = services.authenticate_api_key(session=session, token=world.token, scope="generate")
        assert key.partner.id == world.partner.id and key.last_used_at is not None
        stored = session.scalar(select(ApiKey.secret_sha256).where(ApiKey.id == key.id))
        assert world.token.split("_", 2)[2] not in (stored or "")  # only the hash is kept
        with pytest.raises(Forbidden, match="lacks the 'detect' scope"):
            services.authenticate_api_key(session=session, token=world.token, scope="detect")
        wrong = world.token[:-4] + ("AAAA" if not world.token.endswith("AAAA") else "BBBB")
        for bad in ("", "Bearer x", "cnd_zz_" + "a" * 43, wrong, world.token.replace("cnd_", "cnd_0")):
            with pytest.raises(Unauthorized):
                services.authenticate_api_key(session=session, token=bad)
    with factory() as session:
        services.set_partner_state(session=session, log=log, partner_id=world.partner.id, state="suspended")
    with factory() as session, pytest.raises(Forbidden, match="suspended"):
        services.authenticate_api_key(session=session, token=world.token)
    with factory() as session:
        services.set_partner_state(session=session, log=log, partner_id=world.partner.id, state="approved")
        services.revoke_api_key(session=session, log=log, key_id=world.token[:16])  # by visible prefix
    with factory() as session, pytest.raises(Unauthorized, match="revoked"):
        services.authenticate_api_key(session=session, token=world.token)
    assert events(factory)[-3:] == ["partner.state_changed", "partner.state_changed", "key.revoked"]


def test_partner_and_key_validation(factory, log) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        partner = services.create_partner(session=session, log=log, name="Clinic", use_case="healthcare")
        assert partner.state == "pending"
        with pytest.raises(InvalidInput):
            services.issue_api_key(session=session, log=log, partner_id=partner.id, scopes="generate,root")
        with pytest.raises(InvalidInput):
            services.set_partner_state(session=session, log=log, partner_id=partner.id, state="vip")
        with pytest.raises(NotFound):
            services.issue_api_key(session=session, log=log, partner_id="ptn_nobody", scopes="generate")
        issued = services.issue_api_key(session=session, log=log, partner_id="Clinic", scopes=["detect"])
    with factory() as session, pytest.raises(Conflict):
        services.create_partner(session=session, log=log, name="Clinic", use_case="healthcare")
    with factory() as session, pytest.raises(Forbidden, match="pending"):
        services.authenticate_api_key(session=session, token=issued.token, scope="detect")


# --- consent and portraits --------------------------------------------------------------------


def test_consent_validation(factory, log, files, world, speech_wav) -> None:  # type: ignore[no-untyped-def]
    base = dict(
        session=None, log=log, files=files, partner=world.partner, subject_name="Bo", allowed_uses=["education"]
    )
    with factory() as session:
        base["session"] = session
        with pytest.raises(InvalidInput, match="evidence"):
            services.create_consent(**base, subject_is_adult=True)
        with pytest.raises(InvalidInput, match="guardian"):
            services.create_consent(**base, subject_is_adult=False, evidence_document=CONSENT_FORM)
        with pytest.raises(InvalidInput, match="unknown use"):
            services.create_consent(
                **{**base, "allowed_uses": ["advertising"]}, subject_is_adult=True, evidence_document=CONSENT_FORM
            )
        with pytest.raises(InvalidInput, match="at most"):
            services.create_consent(
                **base,
                subject_is_adult=True,
                evidence_document=CONSENT_FORM,
                expires_at=utcnow() + timedelta(days=5000),
            )
        minor = services.create_consent(
            **base,
            subject_is_adult=False,
            guardian_consent=True,
            guardian_name="Pat Example",
            evidence_recording=speech_wav,
        )
        assert minor.has_evidence and minor.evidence_recording_sha256
        assert minor.evidence_recording_type == "audio/wav"  # sniffed: the caller declared nothing
        assert files.read_bytes(minor.evidence_recording_sha256) == speech_wav


def test_portrait_checks(factory, log, files, world, portrait_png) -> None:  # type: ignore[no-untyped-def]
    args = dict(log=log, files=files, partner=world.partner, consent_id=world.consent.id, media_type="image/png")
    with factory() as session:
        with pytest.raises(InvalidImage, match="decode"):
            services.enroll_portrait(
                session=session, **args, image=portrait_png[: len(portrait_png) // 2], face_summary=FACE
            )
        with pytest.raises(InvalidImage, match="exactly one face"):
            services.enroll_portrait(session=session, **args, image=portrait_png, face_summary={"face_count": 2})
        with pytest.raises(InvalidAudio):
            services.create_audio_asset(session=session, files=files, partner=world.partner, data=portrait_png)
        with pytest.raises(PayloadTooLarge):
            services.create_audio_asset(
                session=session, files=files, partner=world.partner, data=b"\0" * 4096, max_bytes=1024
            )
    assert list(files.tmp_dir.iterdir()) == []  # refused uploads leave nothing behind


# --- generations: policy, revocation, expiry, scoping -----------------------------------------


def test_generation_is_queued_with_every_check_recorded(factory, log, policy, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        outcome = services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(), policy=policy
        )
    g = outcome.generation
    assert not outcome.replayed and g.status == "queued" and g.attempts == 0
    assert g.controls["emotion"] == "happy" and g.duration_s == pytest.approx(world.audio.duration_s)
    assert all(c["passed"] for c in g.policy_checks) and len(g.policy_checks) == len(RULES) == 16
    assert events(factory)[-1] == "generation.requested"
    with factory() as session:
        assert services.get_generation(session=session, partner=world.partner, generation_id=g.id).id == g.id


def test_consent_revocation_blocks_at_once(factory, log, policy, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        queued = services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(), policy=policy
        ).generation
    with factory() as session:
        services.revoke_consent(
            session=session, log=log, partner=world.partner, consent_id=world.consent.id, reason="subject withdrew"
        )
    with factory() as session:
        with pytest.raises(ConsentRevoked) as info:
            services.create_generation(
                session=session, log=log, partner=world.partner, request=world.request(seed=8), policy=policy
            )
        assert info.value.rule_id == "consent.not_revoked" and info.value.status == 403
        # the queued job under the revoked consent was cancelled and its seconds given back
        assert session.get(Generation, queued.id).status == "failed"
        assert session.scalar(select(QuotaUsage.seconds)) == pytest.approx(0.0)
    # the denial was committed to the log even though the request failed
    assert events(factory)[-2:] == ["consent.revoked", "generation.denied"]


def test_expired_consent_blocks(factory, log, policy, world) -> None:  # type: ignore[no-untyped-def]
    later = world.consent.expires_at + timedelta(seconds=1)
    with factory() as session, pytest.raises(ConsentExpired) as info:
        services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(), policy=policy, now=later
        )
    assert info.value.rule_id == "consent.not_expired"


@pytest.mark.parametrize(
    ("changes", "rule_id"),
    [
        ({"fps": 90}, "request.fps_range"),
        ({"width": 4096}, "request.resolution_max"),
        ({"use": "healthcare"}, "consent.use_in_scope"),
        ({"watermark": False}, "release.watermark_required"),
        ({"credentials": False}, "release.credentials_required"),
    ],
)
def test_request_rules_deny_by_id(factory, log, policy, world, changes, rule_id) -> None:  # type: ignore[no-untyped-def]
    with factory() as session, pytest.raises(PolicyDenied) as info:
        services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(**changes), policy=policy
        )
    assert info.value.rule_id == rule_id
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Generation)) == 0


def test_a_portrait_never_matched_to_a_reference_is_not_animated(factory, log, policy, world) -> None:  # type: ignore[no-untyped-def]
    """A portrait enrolled before consents held references (identity_distance null) is refused by
    policy until it is re-enrolled under a consent with the subject's reference."""
    from candor.store.models import Portrait

    with factory() as session:
        assert session.get(Portrait, world.portrait.id).identity_distance is not None  # enrolment matched it
        session.get(Portrait, world.portrait.id).identity_distance = None  # as a pre-reference enrolment left it
        session.commit()
    with factory() as session, pytest.raises(PolicyDenied) as info:
        services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(), policy=policy
        )
    assert info.value.rule_id == "portrait.identity_checked" and info.value.status == 403
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Generation)) == 0
    assert events(factory)[-1] == "generation.denied"


def test_long_audio_denied_by_duration_rule(factory, log, files, world) -> None:  # type: ignore[no-untyped-def]
    from candor.policy import Policy

    strict = Policy(max_duration_s=1.0)
    with factory() as session, pytest.raises(PolicyDenied) as info:
        services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(), policy=strict
        )
    assert info.value.rule_id == "request.duration_max"


def test_portrait_must_be_enrolled_under_the_named_consent(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        other = services.create_consent(
            session=session,
            log=log,
            files=files,
            partner=world.partner,
            subject_name="Someone Else",
            subject_is_adult=True,
            allowed_uses=["education"],
            evidence_document=CONSENT_FORM,
        )
    with factory() as session, pytest.raises(PolicyDenied) as info:
        services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(consent_id=other.id), policy=policy
        )
    assert info.value.rule_id == "portrait.enrolled"


def test_partners_see_only_their_own(factory, log, files, policy, world, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    rival = make_world(factory, log, files, portrait_png, speech_wav, name="Rival Inc")
    with factory() as session:
        mine = services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(), policy=policy
        ).generation
    with factory() as session:
        with pytest.raises(NotFound):
            services.get_generation(session=session, partner=rival.partner, generation_id=mine.id)
        with pytest.raises(NotFound):
            services.get_consent(session=session, partner=rival.partner, consent_id=world.consent.id)
        with pytest.raises(NotFound):  # naming someone else's consent is "not found", not "denied"
            services.create_generation(
                session=session,
                log=log,
                partner=rival.partner,
                request=rival.request(consent_id=world.consent.id),
                policy=policy,
            )
        with pytest.raises(NotFound):
            services.record_download(
                session=session, log=log, files=files, partner=rival.partner, generation_id=mine.id
            )
        assert [g.id for g in services.list_generations(session=session, partner=rival.partner)] == []
        with pytest.raises(Conflict, match="queued"):
            services.record_download(
                session=session, log=log, files=files, partner=world.partner, generation_id=mine.id
            )


# --- idempotency and quota --------------------------------------------------------------------


def test_idempotency(factory, log, policy, world) -> None:  # type: ignore[no-untyped-def]
    request = world.request(idempotency_key="order-42")
    with factory() as session:
        first = services.create_generation(
            session=session, log=log, partner=world.partner, request=request, policy=policy
        )
    with factory() as session:
        again = services.create_generation(
            session=session, log=log, partner=world.partner, request=request, policy=policy
        )
    assert again.replayed and again.generation.id == first.generation.id
    with factory() as session, pytest.raises(Conflict):
        services.create_generation(
            session=session,
            log=log,
            partner=world.partner,
            request=world.request(idempotency_key="order-42", seed=99),
            policy=policy,
        )
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Generation)) == 1
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
        # quota was charged once
        assert session.scalar(select(QuotaUsage.seconds)) == pytest.approx(world.audio.duration_s)
    assert events(factory).count("generation.requested") == 1


def test_idempotent_retry_that_reuploads_the_same_audio(factory, log, files, policy, world, speech_wav) -> None:  # type: ignore[no-untyped-def]
    """A client retrying a request with inline audio uploads it again (a new asset id): the audio
    counts by content, so the retry replays instead of conflicting."""
    with factory() as session:
        first = services.create_generation(
            session=session,
            log=log,
            partner=world.partner,
            request=world.request(idempotency_key="inline"),
            policy=policy,
        )
    with factory() as session:
        again_asset = services.create_audio_asset(session=session, files=files, partner=world.partner, data=speech_wav)
        assert again_asset.id != world.audio.id and again_asset.sha256 == world.audio.sha256
        again = services.create_generation(
            session=session,
            log=log,
            partner=world.partner,
            policy=policy,
            request=world.request(idempotency_key="inline", audio_asset_id=again_asset.id),
        )
    assert again.replayed and again.generation.id == first.generation.id


def test_quota(factory, log, files, policy, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    # room for exactly two clips this month
    probe = make_world(factory, log, files, portrait_png, speech_wav, name="Quota Probe")
    w = make_world(
        factory, log, files, portrait_png, speech_wav, name="Small Plan", quota_s=2 * probe.audio.duration_s + 0.01
    )
    for seed in (1, 2):
        with factory() as session:
            services.create_generation(
                session=session, log=log, partner=w.partner, request=w.request(seed=seed), policy=policy
            )
    with factory() as session, pytest.raises(QuotaExceeded) as info:
        services.create_generation(
            session=session, log=log, partner=w.partner, request=w.request(seed=3), policy=policy
        )
    assert info.value.rule_id == "quota.remaining"
    with factory() as session:
        used = services.quota_used(session=session, partner_id=w.partner.id, month=services.month_of(utcnow()))
        assert used == pytest.approx(2 * w.audio.duration_s)
    # next month starts from zero
    with factory() as session:
        next_month = utcnow() + timedelta(days=32)
        later = w.consent.expires_at if w.consent.expires_at < next_month else next_month
        outcome = services.create_generation(
            session=session,
            log=log,
            partner=w.partner,
            request=w.request(seed=4),
            policy=policy,
            now=later - timedelta(seconds=1),
        )
        assert outcome.generation.status == "queued"


def test_bad_request_values(factory, log, policy, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        for changes in (
            {"controls": {"emotion": "smug"}},
            {"controls": {"volume": 3}},
            {"seed": -1},
            {"webhook_url": "ftp://x"},
            {"controls": {"distance": 9.0}},
        ):
            with pytest.raises(InvalidInput):
                services.create_generation(
                    session=session, log=log, partner=world.partner, request=world.request(**changes), policy=policy
                )


def test_listing_pages_newest_first(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        for i in range(3):
            services.create_consent(
                session=session,
                log=log,
                files=files,
                partner=world.partner,
                subject_name=f"Person {i}",
                subject_is_adult=True,
                allowed_uses=["education"],
                evidence_document=CONSENT_FORM,
            )
        for seed in range(3):
            services.create_generation(
                session=session, log=log, partner=world.partner, request=world.request(seed=seed), policy=policy
            )
    with factory() as session:
        first = services.list_consents(session=session, partner=world.partner, limit=2)
        rest = services.list_consents(session=session, partner=world.partner, limit=10, before=first[-1].created_at)
        names = [c.subject_name for c in first + rest]
        assert names == ["Person 2", "Person 1", "Person 0", "Ada Example"]
        gens = services.list_generations(session=session, partner=world.partner, limit=2)
        older = services.list_generations(session=session, partner=world.partner, before=gens[-1].created_at)
        assert [g.seed for g in gens + older] == [2, 1, 0]


def test_garbage_collection_keeps_every_referenced_file(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    orphan = files.put_bytes(b"an upload whose request rolled back")
    with factory() as session:
        assert services.collect_garbage(session=session, files=files) == 0  # too young to judge
        assert services.collect_garbage(session=session, files=files, older_than_s=0) == 1
    assert not files.exists(orphan.sha256)
    for sha in (world.portrait.image_sha256, world.audio.sha256, world.consent.evidence_document_sha256):
        assert files.exists(sha)
