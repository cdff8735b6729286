"""Search attributes ops filter on in the Temporal UI (PRODUCT.md §5)."""

from temporalio.common import SearchAttributeKey

PARTNER_ID = SearchAttributeKey.for_keyword("PartnerId")
REALM_ID = SearchAttributeKey.for_keyword("RealmId")
INTEGRATION_STATE = SearchAttributeKey.for_keyword("IntegrationState")
LAST_SYNC_AT = SearchAttributeKey.for_datetime("LastSyncAt")

ALL = [PARTNER_ID, REALM_ID, INTEGRATION_STATE, LAST_SYNC_AT]
