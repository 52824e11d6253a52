"""Erasure of a data subject and the retention period of outputs (issue 14, finding 9), on SQLite
and PostgreSQL with real rows, real files and the real generation log: what goes, what stays (files
another record shares), the tombstone and the log's proofs, atomicity, a crash between the commit
and the file deletes, a job running while its consent is erased."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from store_jobwork import fingerprint_job
from store_world import CONSENT_FORM, FACE
from test_job_controls import _interruptible, enqueue, events, quota_used
from test_jobs import fetch, make_queue

from candor import services
from candor.errors import Gone, NotFound
from candor.services import manifests
from candor.services.erasure import ERASED_EVENT, erase_consent, expire_outputs
from candor.services.jobs import JobContext, JobOutput
from candor.store.filestore import LocalFileStore
from candor.store.models import Asset, Consent, Generation, LogEntryRow, Portrait, StoredManifest, utcnow


def _other_audio(speech_wav: bytes) -> bytes:
    """The same clip with one sample changed: it decodes the same, but is another file."""
    data = bytearray(speech_wav)
    data[-2] ^= 0x01
    return bytes(data)


def _manifest(factory, generation_id: str, serial: int) -> str:  # type: ignore[no-untyped-def]
    """A stored manifest row for a generation, as the release path leaves one (the bytes stand in
    for a C2PA store whose ingredients name the portrait and audio)."""
    manifest_id = f"urn:c2pa:test-{generation_id}"
    with factory() as session:
        session.add(
            StoredManifest(
                manifest_id=manifest_id,
                generation_id=generation_id,
                binding_alg="com.candor.watermark.v1",
                binding_value=f"serial-{serial}",
                serial=serial,
                manifest_store=b"C2PA-STORE ingredient portrait sha256 ...",
                signer_fingerprint="f" * 64,
                signer_subject="CN=test",
                signed_at=utcnow(),
            )
        )
        session.commit()
    return manifest_id


@pytest.fixture
def shared(factory, log, files, policy, world, portrait_png, speech_wav):  # type: ignore[no-untyped-def]
    """Beside the world's consent (to be erased): a second consent of the same partner that shares
    the portrait file (same bytes) and the world's audio clip, with a finished generation of its own;
    and, under the world's consent, a finished generation with an audio clip only it uses, a queued
    one, and their manifests."""
    with factory() as session:
        second = services.create_consent(
            session=session, log=log, files=files, partner=world.partner, subject_name="Ada Example",
            subject_is_adult=True, allowed_uses=["education"],
            evidence_document=CONSENT_FORM + b"% second form\n", evidence_document_type="application/pdf",
            reference=portrait_png,
        )  # fmt: skip
        portrait2 = services.enroll_portrait(
            session=session, log=log, files=files, partner=world.partner, consent_id=second.id,
            image=portrait_png, media_type="image/png", face_summary=FACE,
        )  # fmt: skip
        own_audio = services.create_audio_asset(
            session=session, files=files, partner=world.partner, data=_other_audio(speech_wav), media_type="audio/wav"
        )
    done = enqueue(factory, log, policy, world, audio_asset_id=own_audio.id, seed=1)
    kept = enqueue(factory, log, policy, world, consent_id=second.id, portrait_id=portrait2.id, seed=2)
    assert make_queue(factory, files, log=log).run_pending() == 2
    queued = enqueue(factory, log, policy, world, seed=3)
    return {
        "second": second,
        "portrait2": portrait2,
        "own_audio": own_audio,
        "done": done,
        "kept": kept,
        "queued": queued,
        "manifest": _manifest(factory, done, 101),
        "kept_manifest": _manifest(factory, kept, 102),
    }


def test_erasure_removes_the_subject_and_keeps_what_others_share(factory, log, files, world, shared) -> None:  # type: ignore[no-untyped-def]
    consent = world.consent
    done, kept = fetch(factory, shared["done"]), fetch(factory, shared["kept"])
    own_files = {
        consent.evidence_document_sha256,
        shared["own_audio"].sha256,
        done.output_sha256,
    }
    shared_files = {world.portrait.image_sha256, consent.reference_sha256, world.audio.sha256, kept.output_sha256}
    assert all(files.exists(sha) for sha in own_files | shared_files)
    assert quota_used(factory, world) > 0
    size_before = log.tree_size()

    with factory() as session:
        erasure = erase_consent(
            session=session, log=log, files=files, consent_id=consent.id, partner=world.partner, actor=world.partner.id
        )

    assert sorted(erasure.generations) == sorted([shared["done"], shared["queued"]])
    assert erasure.stopped == [shared["queued"]]
    assert (erasure.portraits, erasure.assets, erasure.manifests) == (1, 1, 1)
    with factory() as session:
        assert session.get(Consent, consent.id) is None
        assert session.scalars(select(Portrait).where(Portrait.consent_id == consent.id)).all() == []
        assert session.scalars(select(Generation).where(Generation.consent_id == consent.id)).all() == []
        assert session.get(Asset, shared["own_audio"].id) is None
        assert session.get(Asset, world.audio.id) is not None  # the second consent's job uses it
        assert session.get(Generation, shared["kept"]).status == "succeeded"
        erased = manifests.manifest_by_id(session=session, manifest_id=shared["manifest"])
        assert erased["manifestStore"] is None and erased["erasedAt"] is not None
        assert erased["generationId"] == shared["done"]  # the index stays: the watermark resolves
        assert session.get(StoredManifest, shared["manifest"]).manifest_store == b""
        other = manifests.manifest_by_id(session=session, manifest_id=shared["kept_manifest"])
        assert other["manifestStore"] and other["erasedAt"] is None
    assert not any(files.exists(sha) for sha in own_files)
    assert all(files.exists(sha) for sha in shared_files)  # content-addressed: still named elsewhere
    assert erasure.files_deleted == len(own_files)
    assert quota_used(factory, world) == pytest.approx(fetch(factory, shared["kept"]).duration_s + done.duration_s)

    # The tombstone: ids and counts, nothing of the person, no file hash.
    tombstone = log.entry(erasure.log_index)
    assert (tombstone.event_type, tombstone.subject, tombstone.actor) == (ERASED_EVENT, consent.id, world.partner.id)
    body = tombstone.body.decode()
    assert "Ada" not in body and not any(sha in body for sha in own_files | shared_files)
    assert events(factory, shared["queued"])[-1] == "generation.stopped"
    # The log still verifies: the old tree is a prefix of the new one, the tombstone is in it.
    log.consistency_proof(size_before).verify()
    proof = log.inclusion_proof(erasure.log_index)
    proof.verify()
    assert proof.root == log.tree_head().root
    # No entry, before or after, names the subject.
    with factory() as session:
        assert not [b for b in session.scalars(select(LogEntryRow.body)) if "Ada Example" in b]


def test_a_partner_erases_only_its_own_consents(factory, log, files, world, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    from store_world import make_world

    other = make_world(factory, log, files, portrait_png, speech_wav, name="Other Partner")
    with factory() as session, pytest.raises(NotFound):
        erase_consent(
            session=session, log=log, files=files, consent_id=world.consent.id, partner=other.partner, actor="x"
        )
    with factory() as session:
        assert session.get(Consent, world.consent.id) is not None
        erase_consent(session=session, log=log, files=files, consent_id=world.consent.id, actor="admin")
    with factory() as session, pytest.raises(NotFound):  # a second erasure finds nothing
        erase_consent(session=session, log=log, files=files, consent_id=world.consent.id, actor="admin")


class _FailingLog:
    """The real log, except that appending the tombstone fails (a database error at the last step)."""

    def __init__(self, log) -> None:  # type: ignore[no-untyped-def]
        self.log = log

    def append_in(self, session, event_type, **kw):  # type: ignore[no-untyped-def]
        if event_type == ERASED_EVENT:
            raise RuntimeError("the database went away")
        return self.log.append_in(session, event_type, **kw)


def test_a_failed_erasure_changes_nothing(factory, log, files, world, shared) -> None:  # type: ignore[no-untyped-def]
    before = sorted(sha for sha, _ in files.stored())
    size = log.tree_size()
    with factory() as session, pytest.raises(RuntimeError):
        erase_consent(session=session, log=_FailingLog(log), files=files, consent_id=world.consent.id, actor="admin")
    with factory() as session:
        assert session.get(Consent, world.consent.id) is not None
        assert session.get(Generation, shared["queued"]).status == "queued"  # not even stopped
        assert session.get(StoredManifest, shared["manifest"]).erased_at is None
    assert sorted(sha for sha, _ in files.stored()) == before
    assert log.tree_size() == size


class _DyingStore(LocalFileStore):
    """The process dies after the erasure committed, before it deleted any file."""

    def delete(self, sha256: str) -> bool:
        raise SystemExit("killed")


def test_files_left_by_a_crash_after_the_commit_are_swept(factory, log, files, world, shared) -> None:  # type: ignore[no-untyped-def]
    own = [
        world.consent.evidence_document_sha256,
        shared["own_audio"].sha256,
        fetch(factory, shared["done"]).output_sha256,
    ]
    with factory() as session, pytest.raises(SystemExit):
        erase_consent(
            session=session, log=log, files=_DyingStore(files.root), consent_id=world.consent.id, actor="admin"
        )
    with factory() as session:
        assert session.get(Consent, world.consent.id) is None  # the rows went together
    assert all(files.exists(sha) for sha in own)  # the files did not
    with factory() as session:
        services.collect_garbage(session=session, files=files, older_than_s=0)
    assert not any(files.exists(sha) for sha in own)
    assert files.exists(world.portrait.image_sha256)  # the second consent's portrait stays


def test_garbage_collection_keeps_consent_references(factory, log, files, world, portrait_png) -> None:  # type: ignore[no-untyped-def]
    """A reference no portrait shares (a JPEG of the subject) is a referenced file: collecting
    unreferenced files once deleted it, and then no portrait could be matched."""
    from PIL import Image

    jpeg = io.BytesIO()
    Image.open(io.BytesIO(portrait_png)).convert("RGB").save(jpeg, "JPEG", quality=90)
    with factory() as session:
        consent = services.create_consent(
            session=session, log=log, files=files, partner=world.partner, subject_name="Ada Example",
            subject_is_adult=True, allowed_uses=["education"], evidence_document=CONSENT_FORM,
            evidence_document_type="application/pdf", reference=jpeg.getvalue(), reference_type="image/jpeg",
        )  # fmt: skip
        services.collect_garbage(session=session, files=files, older_than_s=0)
    assert files.exists(consent.reference_sha256)


def test_a_job_running_when_its_consent_is_erased_publishes_nothing(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    gid = enqueue(factory, log, policy, world)

    def erase(ctx: JobContext) -> None:
        with factory() as session:
            erase_consent(session=session, log=log, files=files, consent_id=world.consent.id, actor="admin")

    handler, seen = _interruptible(erase)
    make_queue(factory, files, handler, log=log, lease_s=3.0).run_pending()
    assert seen["ran_s"] < 3.0  # stopped at a heartbeat
    assert fetch(factory, gid) is None
    assert list(files.stored()) == []  # every file was the subject's
    assert list(files.tmp_dir.iterdir()) == []


def test_an_erasure_while_publishing_leaves_no_output(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    """The consent is erased after the last progress report, as the worker publishes: the publish
    finds no job, releases nothing and removes the rendered file."""
    gid = enqueue(factory, log, policy, world)

    def erase_then_finish(ctx: JobContext) -> JobOutput:
        output = fingerprint_job(ctx)
        with factory() as session:
            erase_consent(session=session, log=log, files=files, consent_id=world.consent.id, actor="admin")
        return output

    make_queue(factory, files, erase_then_finish, log=log).run_pending()
    assert fetch(factory, gid) is None
    assert list(files.stored()) == []
    assert "generation.completed" not in events(factory, gid)


# --- retention ------------------------------------------------------------------------------------


def test_retention_removes_old_outputs_and_leaves_an_expired_record(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    old, recent = enqueue(factory, log, policy, world, seed=1), enqueue(factory, log, policy, world, seed=2)
    make_queue(factory, files, log=log).run_pending()
    old_sha, recent_sha = fetch(factory, old).output_sha256, fetch(factory, recent).output_sha256
    with factory() as session:
        session.execute(
            update(Generation).where(Generation.id == old).values(finished_at=utcnow() - timedelta(days=31))
        )
        session.commit()
    with factory() as session:
        assert expire_outputs(session=session, log=log, files=files, retention_days=30) == [old]
    expired = fetch(factory, old)
    assert (expired.status, expired.output_sha256) == ("expired", None) and expired.expired_at is not None
    assert not files.exists(old_sha) and files.exists(recent_sha)
    assert fetch(factory, recent).status == "succeeded"
    assert events(factory, old)[-1] == "generation.expired"
    with factory() as session, pytest.raises(Gone):
        services.record_download(session=session, log=log, files=files, partner=world.partner, generation_id=old)
    with factory() as session:  # a second pass finds nothing more
        assert expire_outputs(session=session, log=log, files=files, retention_days=30) == []
        report = services.maintenance.run_maintenance(session=session, log=log, files=files, retention_days=None)
    assert report.expired == [] and files.exists(recent_sha)


def test_a_watermark_of_an_erased_output_resolves_to_erased(factory, log, files, world, shared) -> None:  # type: ignore[no-untyped-def]
    """Verification through the repository: after the erasure the manifest's index answers "erased"
    and hands out no store (no personal data); the verdict says so instead of "not in this
    repository" (exit 3)."""
    from candor.provenance.verify import ManifestState, Outcome, VerificationReport, WatermarkReport, _recover

    repository = manifests.ManifestRepository(factory)
    mark = WatermarkReport(True, 101, "serial-101", "com.candor.watermark.v1", 1.0, 1.0, 50)
    with factory() as session:
        erase_consent(session=session, log=log, files=files, consent_id=world.consent.id, actor="admin")
    recovered, erased = _recover(mark, repository, ())
    assert recovered is None and erased["generation_id"] == shared["done"] and erased["erased_at"]
    report = VerificationReport("clip.webm", ManifestState.ABSENT, [], [], None, mark, None, None, erased=erased)
    assert report.outcome is Outcome.PROVEN and "erased" in report.verdict
    assert report.exit_code == 0 and report.to_dict()["erased"]["manifest_id"] == shared["manifest"]


def test_the_partner_still_reads_its_own_log_entries_about_an_erased_subject(
    factory, log, files, world, shared
) -> None:  # type: ignore[no-untyped-def]
    from candor.services.principals import partner_entries

    def visible() -> dict[int, str | None]:
        with factory() as session:
            size = log.tree_size()
            entries = partner_entries(session=session, partner_id=world.partner.id, start=0, limit=1000, below=size)
            return {e.index: e.subject for e in entries}

    before = visible()
    assert {world.consent.id, world.portrait.id, shared["done"], shared["queued"]} <= set(before.values())
    assert any(e.actor == "worker" for e in log.entries(0, 1000) if e.index in before)  # not only its own acts
    with factory() as session:
        erase_consent(session=session, log=log, files=files, consent_id=world.consent.id, actor="operator-1")
    after = visible()
    assert before.items() <= after.items()  # nothing it saw before is hidden by the erasure
    assert world.consent.id in after.values()  # the tombstone (the operator's entry) names the partner's consent
