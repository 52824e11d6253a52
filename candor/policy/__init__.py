"""Generation policy: a declarative document and pure rules over plain facts."""

from candor.policy.evaluate import Decision, evaluate
from candor.policy.facts import (
    ConsentFacts,
    GenerationFacts,
    PartnerFacts,
    PortraitFacts,
    QuotaFacts,
    RequestFacts,
)
from candor.policy.policy import Policy, load_policy
from candor.policy.rules import RULES, Check

__all__ = [
    "RULES",
    "Check",
    "ConsentFacts",
    "Decision",
    "GenerationFacts",
    "PartnerFacts",
    "Policy",
    "PortraitFacts",
    "QuotaFacts",
    "RequestFacts",
    "evaluate",
    "load_policy",
]
