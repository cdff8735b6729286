"""Plain HTML forms in, field-by-field errors out.

Forms are parsed here (url-encoded; python-multipart is not a dependency). The service's refusals are
sentences that start with the field they concern ("deposit_account_id: account 'X' is inactive…",
"deposit_account_id is required when create_deposits is on…", `rules.preferences`, `rules.dates`), joined
with "; " by the workflow's validator. The page shows each one next to its control, so the partner sees
which dropdown to change; a sentence naming no field is shown at the top of the form.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from fastapi import Request

PREFERENCE_FIELDS = ("payment_account_id", "create_deposits", "deposit_account_id", "fee_account_id",
                     "other_income_account_id", "time_zone")
GENERAL = "_form"
# Split only where the next sentence names a field: a sentence may itself contain "; ".
_NEXT_FIELD = re.compile(r"; (?=(?:" + "|".join(PREFERENCE_FIELDS) + r")[: ])")


async def read_form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def field_errors(message: str) -> dict[str, list[str]]:
    """`"a: x; b is required…; other"` → `{"a": ["a: x"], "b": ["b is required…"], "_form": ["other"]}`."""
    out: dict[str, list[str]] = {}
    for part in (p.strip() for p in _NEXT_FIELD.split(message)):
        if not part:
            continue
        field = next((f for f in PREFERENCE_FIELDS if part.startswith((f + ":", f + " "))), GENERAL)
        out.setdefault(field, []).append(part)
    return out
