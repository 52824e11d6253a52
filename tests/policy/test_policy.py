"""Policy rules over plain dicts: each rule denies with its own id; documents load and refuse bad input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from candor.errors import ConsentExpired, ConsentRevoked, InvalidInput, PolicyDenied, QuotaExceeded
from candor.policy import RULES, GenerationFacts, Policy, evaluate, load_policy

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def base_facts() -> dict:
    return {
        "partner": {"id": "ptn_a", "state": "approved", "use_case": "education"},
        "consent": {
            "id": "cns_1",
            "partner_id": "ptn_a",
            "subject_is_adult": True,
            "guardian_consent": False,
            "guardian_name": None,
            "allowed_uses": ["education"],
            "expires_at": NOW + timedelta(days=30),
            "revoked_at": None,
            "has_evidence": True,
        },
        "portrait": {"id": "prt_1", "consent_id": "cns_1", "partner_id": "ptn_a", "identity_distance": 0.21},
        "request": {"use": "education", "duration_s": 12.5, "fps": 25, "width": 512, "height": 512},
        "quota": {"used_s": 100.0, "limit_s": 3600.0},
        "now": NOW,
    }


def with_change(path: str, value: object) -> GenerationFacts:
    doc = copy.deepcopy(base_facts())
    section, key = path.split(".")
    doc[section][key] = value
    return GenerationFacts.from_dict(doc)


# One violation per rule: (rule id, fact to change, value that breaks it).
VIOLATIONS = [
    ("partner.approved", "partner.state", "suspended"),
    ("partner.approved", "partner.state", "pending"),
    ("partner.use_case_allowed", "partner.use_case", "political-ads"),
    ("consent.owned", "consent.partner_id", "ptn_other"),
    ("consent.not_revoked", "consent.revoked_at", NOW - timedelta(seconds=1)),
    ("consent.not_expired", "consent.expires_at", NOW),
    ("consent.adult_or_guardian", "consent.subject_is_adult", False),
    ("consent.evidence_present", "consent.has_evidence", False),
    ("consent.use_in_scope", "consent.allowed_uses", ["healthcare"]),
    ("portrait.enrolled", "portrait.consent_id", "cns_other"),
    ("portrait.identity_checked", "portrait.identity_distance", None),
    ("request.duration_max", "request.duration_s", 60.01),
    ("request.duration_max", "request.duration_s", 0.0),
    ("request.fps_range", "request.fps", 61),
    ("request.fps_range", "request.fps", 10),
    ("request.resolution_max", "request.width", 4096),
    ("quota.remaining", "quota.used_s", 3590.0),
    ("release.watermark_required", "request.watermark", False),
    ("release.credentials_required", "request.credentials", False),
]


def test_baseline_is_allowed_and_every_rule_is_recorded() -> None:
    decision = evaluate(GenerationFacts.from_dict(base_facts()), load_policy())
    assert decision.allowed, decision
    assert [c.rule_id for c in decision.checks] == [
        r(GenerationFacts.from_dict(base_facts()), Policy()).rule_id for r in RULES
    ]
    assert all(c.passed for c in decision.checks)
    decision.raise_if_denied()  # no error


@pytest.mark.parametrize(("rule_id", "path", "value"), VIOLATIONS)
def test_each_rule_denies_with_its_id(rule_id: str, path: str, value: object) -> None:
    decision = evaluate(with_change(path, value), load_policy())
    assert not decision.allowed
    assert decision.rule_id == rule_id
    failed = [c.rule_id for c in decision.checks if not c.passed]
    assert failed == [rule_id]  # exactly one rule broken, all others still recorded as passing
    with pytest.raises(PolicyDenied) as info:
        decision.raise_if_denied()
    assert info.value.rule_id == rule_id
    assert info.value.status == 403
    assert rule_id in info.value.detail


def test_every_rule_has_a_violation_case() -> None:
    facts = GenerationFacts.from_dict(base_facts())
    assert {r(facts, Policy()).rule_id for r in RULES} == {v[0] for v in VIOLATIONS}


def test_specific_error_classes() -> None:
    policy = load_policy()
    cases = [
        ("consent.revoked_at", NOW, ConsentRevoked),
        ("consent.expires_at", NOW - timedelta(days=1), ConsentExpired),
        ("quota.limit_s", 10.0, QuotaExceeded),
    ]
    for path, value, error in cases:
        with pytest.raises(error):
            evaluate(with_change(path, value), policy).raise_if_denied()


def test_guardian_consent_allows_a_minor_only_with_a_named_guardian() -> None:
    doc = base_facts()
    doc["consent"].update(subject_is_adult=False, guardian_consent=True, guardian_name="  ")
    assert evaluate(GenerationFacts.from_dict(doc), Policy()).rule_id == "consent.adult_or_guardian"
    doc["consent"]["guardian_name"] = "Pat Doe"
    assert evaluate(GenerationFacts.from_dict(doc), Policy()).allowed


def test_packaged_default_policy() -> None:
    policy = load_policy()
    assert policy.max_duration_s == 60.0
    assert "education" in policy.allowed_use_cases
    assert policy.source.endswith("policy.toml")


def test_fps_limits_are_optional_and_only_narrow(tmp_path: Path) -> None:
    # Without limits of its own the policy leaves the frame rate to the product's range, which
    # the request schema and the generator enforce (candor.generator.controls.FPS).
    for fps in (10, 25, 90):
        check = next(
            c for c in evaluate(with_change("request.fps", fps), Policy()).checks if c.rule_id == "request.fps_range"
        )
        assert check.passed and check.reason == f"fps {fps}, allowed any-any"
    (tmp_path / "p.toml").write_text("[request]\nmax_fps = 30\n")
    capped = load_policy(tmp_path / "p.toml")
    assert (capped.min_fps, capped.max_fps) == (None, 30)
    assert evaluate(with_change("request.fps", 10), capped).allowed
    assert evaluate(with_change("request.fps", 31), capped).rule_id == "request.fps_range"


def test_yaml_and_toml_files_load_the_same(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "request:\n  max_duration_s: 20\n  max_fps: 30\npartner:\n  allowed_use_cases: [healthcare]\n"
    )
    (tmp_path / "p.toml").write_text(
        '[request]\nmax_duration_s = 20\nmax_fps = 30\n[partner]\nallowed_use_cases = ["healthcare"]\n'
    )
    y, t = load_policy(tmp_path / "p.yaml"), load_policy(tmp_path / "p.toml")
    assert (y.max_duration_s, y.max_fps, y.allowed_use_cases) == (20.0, 30, ("healthcare",))
    assert (t.max_duration_s, t.max_fps, t.allowed_use_cases) == (20.0, 30, ("healthcare",))
    # the stricter file denies what the default allows
    assert evaluate(with_change("request.duration_s", 25.0), y).rule_id == "partner.use_case_allowed"


@pytest.mark.parametrize(
    "text",
    [
        "[release]\nwatermark = false\n",
        "[release]\ncredentials = false\n",
        "[request]\nmin_fps = 40\nmax_fps = 30\n",
        "[request]\nmin_fps = 0\n",
        "[request]\nmax_fps = -5\n",
        "[request]\nmax_duration_s = 'long'\n",
        "[nonsense]\nx = 1\n",
        "this is not toml = = =",
    ],
)
def test_bad_policy_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput):
        load_policy(path)


def test_missing_policy_file_is_a_domain_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        load_policy(tmp_path / "absent.toml")
