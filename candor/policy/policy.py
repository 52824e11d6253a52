"""The declarative policy document: limits and allowed values the rules check against.

Loaded from TOML or YAML; the default ships in the package (``policy.toml``). Watermark and
content credentials are mandatory: a policy file cannot switch them off, and neither can a request.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from candor.errors import InvalidInput

DEFAULT_POLICY_NAME = "policy.toml"


@dataclass(frozen=True)
class Policy:
    """Limits for generation requests. Durations in seconds, sizes in pixels, rates in frames/s.

    ``min_fps``/``max_fps`` narrow what a deployment's partners may ask for; ``None`` adds no limit
    of its own. The product's own range (``candor.generator.controls.FPS``) is not the policy's to
    state: the request schema and the generator enforce it, and policy imports no other library.
    """

    version: int = 1
    allowed_use_cases: tuple[str, ...] = ("education", "healthcare", "communication")
    consent_max_validity_days: int = 730
    require_evidence: bool = True
    max_duration_s: float = 60.0
    min_fps: int | None = None
    max_fps: int | None = None
    max_width: int = 1024
    max_height: int = 1024
    default_monthly_seconds: float = 3600.0
    source: str = "<defaults>"

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str = "<dict>") -> Policy:
        """Build from the parsed document (sections partner/consent/request/quota/release)."""
        if not isinstance(doc, dict):
            raise InvalidInput(f"policy {source}: expected a table/mapping at the top level")
        known = {"version", "partner", "consent", "request", "quota", "release"}
        unknown = set(doc) - known
        if unknown:
            raise InvalidInput(f"policy {source}: unknown section(s) {sorted(unknown)}")
        partner = _section(doc, "partner", source)
        consent = _section(doc, "consent", source)
        request = _section(doc, "request", source)
        quota = _section(doc, "quota", source)
        release = _section(doc, "release", source)
        for flag in ("watermark", "credentials"):
            # Mandatory by design: a policy that tries to turn them off is a mistake, not a choice.
            if release.get(flag, True) is not True:
                raise InvalidInput(f"policy {source}: release.{flag} is mandatory and cannot be disabled")
        defaults = cls()
        try:
            policy = cls(
                version=int(doc.get("version", 1)),
                allowed_use_cases=tuple(
                    str(u).strip().lower() for u in partner.get("allowed_use_cases", defaults.allowed_use_cases)
                ),
                consent_max_validity_days=int(consent.get("max_validity_days", defaults.consent_max_validity_days)),
                require_evidence=bool(consent.get("require_evidence", defaults.require_evidence)),
                max_duration_s=float(request.get("max_duration_s", defaults.max_duration_s)),
                min_fps=_optional_int(request.get("min_fps", defaults.min_fps)),
                max_fps=_optional_int(request.get("max_fps", defaults.max_fps)),
                max_width=int(request.get("max_width", defaults.max_width)),
                max_height=int(request.get("max_height", defaults.max_height)),
                default_monthly_seconds=float(quota.get("default_monthly_seconds", defaults.default_monthly_seconds)),
                source=source,
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"policy {source}: {exc}") from None
        fps_limits = [x for x in (policy.min_fps, policy.max_fps) if x is not None]
        if policy.max_duration_s <= 0 or any(x <= 0 for x in fps_limits) or fps_limits != sorted(fps_limits):
            raise InvalidInput(f"policy {source}: durations and fps limits must be positive and ordered")
        if policy.max_width <= 0 or policy.max_height <= 0 or policy.default_monthly_seconds < 0:
            raise InvalidInput(f"policy {source}: sizes must be positive and quota non-negative")
        if not policy.allowed_use_cases:
            raise InvalidInput(f"policy {source}: partner.allowed_use_cases must not be empty")
        return policy


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _section(doc: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise InvalidInput(f"policy {source}: [{name}] must be a table/mapping")
    return value


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file (``.toml``, ``.yaml``/``.yml``); ``None`` reads the packaged default."""
    if path is None:
        text = resources.files("candor.policy").joinpath(DEFAULT_POLICY_NAME).read_text("utf-8")
        return Policy.from_dict(tomllib.loads(text), source=f"candor/policy/{DEFAULT_POLICY_NAME}")
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read policy file {path}: {exc.strerror}") from None
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml

        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"policy {path}: invalid YAML: {exc}") from None
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"policy {path}: invalid TOML: {exc}") from None
    return Policy.from_dict(doc, source=str(path))
