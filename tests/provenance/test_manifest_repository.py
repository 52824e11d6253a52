import datetime as dt

import pytest
from sqlalchemy import inspect

from candor.provenance.manifest import GenerationClaim, SignedManifest, SoftBinding, read_manifest_store
from candor.services.manifests import ManifestRepository, supported_algorithms
from candor.store.database import Base, make_engine, make_session_factory
from candor.store.migrations import upgrade_database


@pytest.fixture
def engine(prov_settings):
    eng = make_engine(prov_settings.resolved_database_url)
    upgrade_database(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def repository(engine):
    return ManifestRepository(make_session_factory(engine))


def _signed(manifest_id: str, value: str, serial: int | None, store: bytes = b"\x00jumbf") -> SignedManifest:
    return SignedManifest(
        manifest_id=manifest_id,
        manifest_store=store,
        claim=GenerationClaim(generation_id=f"gen_{manifest_id[-4:]}", partner_pseudonym="pp", consent_id=None),
        binding=SoftBinding(alg="com.candor.watermark.ss1", value=value, serial=serial),
        signer_fingerprint="ab" * 32,
        signer_subject="CN=Candor",
        signed_at=dt.datetime.now(dt.UTC),
        added_bytes=4000,
    )


def test_tables_live_on_the_shared_base_and_are_migrated_by_alembic(engine, prov_settings):
    assert engine.url.drivername == "sqlite"
    assert str(prov_settings.data_dir) in str(engine.url)
    assert {"provenance_manifests", "provenance_watermark_serials"} <= set(Base.metadata.tables)
    tables = set(inspect(engine).get_table_names())
    assert {"provenance_manifests", "provenance_watermark_serials", "alembic_version"} <= tables  # via Alembic


def test_serials_are_unique_increasing_and_never_reused(repository, engine, prov_settings):
    serials = [repository.allocate_serial(generation_id=f"g{i}") for i in range(5)]
    assert serials == sorted(serials) and len(set(serials)) == 5 and serials[0] >= 1
    engine.dispose()
    fresh = make_engine(prov_settings.resolved_database_url)  # a fresh process sees the same counter
    try:
        assert ManifestRepository(make_session_factory(fresh)).allocate_serial() == serials[-1] + 1
    finally:
        fresh.dispose()


def test_matches_by_binding_and_manifest_by_id(repository):
    repository.store(_signed("urn:c2pa:aaaa-0001", "00000001", 1, b"store-one"))
    repository.store(_signed("urn:c2pa:aaaa-0002", "00000002", 2, b"store-two"))

    found = repository.matches_by_binding(alg="com.candor.watermark.ss1", value="00000002")
    assert found == {"matches": [{"manifestId": "urn:c2pa:aaaa-0002", "similarityScore": 100}]}
    assert repository.matches_by_binding(alg="com.candor.watermark.ss1", value="ffffffff") == {"matches": []}
    assert repository.matches_by_binding(alg="another.alg", value="00000002") == {"matches": []}

    stored = repository.manifest_by_id("urn:c2pa:aaaa-0001")
    assert stored["manifestStore"] == b"store-one"
    assert stored["contentType"] == "application/c2pa"
    assert stored["binding"] == {"alg": "com.candor.watermark.ss1", "value": "00000001", "serial": 1}
    assert stored["generationId"] == "gen_0001"
    assert dt.datetime.fromisoformat(stored["signedAt"]).utcoffset() == dt.timedelta(0)
    assert repository.manifest_by_id("urn:c2pa:missing") is None


def test_a_real_signed_manifest_round_trips(signed_video, repository, anchors):
    signed, _ = signed_video
    repository.store(signed)
    match = repository.matches_by_binding(alg=signed.binding.alg, value=signed.binding.value)["matches"][0]
    stored = repository.manifest_by_id(match["manifestId"])
    report = read_manifest_store(stored["manifestStore"], anchors)
    assert report["active_manifest"] == signed.manifest_id
    codes = {s["code"] for s in report["validation_results"]["activeManifest"]["success"]}
    assert {"claimSignature.validated", "signingCredential.trusted"} <= codes


def test_supported_algorithms_names_the_watermark():
    assert supported_algorithms() == {"watermarks": [{"alg": "com.candor.watermark.ss1"}], "fingerprints": []}


def test_module_functions_write_inside_the_callers_transaction(repository):
    from candor.services.manifests import manifest_by_id, store_manifest

    with repository.sessions() as session:
        store_manifest(session=session, signed=_signed("urn:c2pa:bbbb-0001", "00000009", 9))
        assert manifest_by_id(session=session, manifest_id="urn:c2pa:bbbb-0001") is not None
        session.rollback()  # the caller's unit of work failed: nothing is kept
    assert repository.manifest_by_id("urn:c2pa:bbbb-0001") is None
