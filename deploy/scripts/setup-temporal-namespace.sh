#!/bin/sh
# Register the namespace and the search attributes ops filter on (PRODUCT.md §5); safe to run again.
set -eu
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do sleep 2; done
temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS"
temporal operator search-attribute create -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" \
  --name PartnerId --type Keyword --name RealmId --type Keyword \
  --name IntegrationState --type Keyword --name LastSyncAt --type Datetime || true
