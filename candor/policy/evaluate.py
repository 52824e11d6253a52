"""Run every rule over the facts and record each check; the first failure names the denial."""

from __future__ import annotations

from dataclasses import dataclass

from candor.errors import ConsentExpired, ConsentRevoked, PolicyDenied, QuotaExceeded
from candor.policy.facts import GenerationFacts
from candor.policy.policy import Policy
from candor.policy.rules import RULES, Check

_ERRORS: dict[str, type[PolicyDenied]] = {
    "consent.not_revoked": ConsentRevoked,
    "consent.not_expired": ConsentExpired,
    "quota.remaining": QuotaExceeded,
}


@dataclass(frozen=True)
class Decision:
    """allowed: every check passed; rule_id/reason: the first failed check ('' when allowed)."""

    allowed: bool
    rule_id: str
    reason: str
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "rule_id": self.rule_id,
            "reason": self.reason,
            "checks": [c.as_dict() for c in self.checks],
        }

    def raise_if_denied(self) -> None:
        """Raise the domain error for the first failed rule (PolicyDenied or a subclass)."""
        if self.allowed:
            return
        error = _ERRORS.get(self.rule_id)
        detail = f"denied by policy rule {self.rule_id}: {self.reason}"
        if error is None:
            raise PolicyDenied(self.rule_id, detail)
        raise error(detail, rule_id=self.rule_id)  # type: ignore[call-arg]


def evaluate(facts: GenerationFacts, policy: Policy) -> Decision:
    """Check every rule (none short-circuits, so the record is complete)."""
    checks = tuple(rule(facts, policy) for rule in RULES)
    failed = next((c for c in checks if not c.passed), None)
    if failed is None:
        return Decision(True, "", "all checks passed", checks)
    return Decision(False, failed.rule_id, failed.reason, checks)
