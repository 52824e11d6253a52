"""The application layer: keyword-only use cases the API and CLI call, routes stay thin.

Each write is one unit of work: it takes the caller's ``session``, adds its rows and its log entry
(through ``log``) and commits them together; a failure leaves nothing behind. A policy denial
commits its log entry before raising, so a refused request is on the record too.
"""

from candor.services.cancellation import cancel_generation, stop_generations
from candor.services.common import EventLog, get_owned
from candor.services.consents import (
    analyze_portrait,
    create_audio_asset,
    create_consent,
    enroll_portrait,
    ensure_consent_active,
    get_asset,
    get_consent,
    get_portrait,
    list_consents,
    list_portraits,
    revoke_consent,
    set_consent_reference,
)
from candor.services.generations import (
    GenerationOutcome,
    GenerationRequest,
    NewAudio,
    create_generation,
    get_generation,
    list_generations,
    record_download,
)
from candor.services.maintenance import collect_garbage, referenced_files
from candor.services.partners import (
    IssuedKey,
    authenticate_api_key,
    create_partner,
    get_partner,
    issue_api_key,
    list_api_keys,
    list_partners,
    revoke_api_key,
    set_partner_state,
)
from candor.services.quota import month_of, quota_limit, quota_used, release_quota

__all__ = [
    "EventLog",
    "GenerationOutcome",
    "GenerationRequest",
    "IssuedKey",
    "NewAudio",
    "analyze_portrait",
    "authenticate_api_key",
    "cancel_generation",
    "collect_garbage",
    "create_audio_asset",
    "create_consent",
    "create_generation",
    "create_partner",
    "enroll_portrait",
    "ensure_consent_active",
    "get_asset",
    "get_consent",
    "get_generation",
    "get_owned",
    "get_partner",
    "get_portrait",
    "issue_api_key",
    "list_api_keys",
    "list_consents",
    "list_generations",
    "list_partners",
    "list_portraits",
    "month_of",
    "quota_limit",
    "quota_used",
    "record_download",
    "referenced_files",
    "release_quota",
    "revoke_api_key",
    "revoke_consent",
    "set_consent_reference",
    "set_partner_state",
    "stop_generations",
]
