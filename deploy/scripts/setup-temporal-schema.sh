#!/bin/sh
# Create and update Temporal's two schemas (idempotent), as temporalio/samples-server/compose does.
set -eu
for db in temporal temporal_visibility; do
  schema_dir=/etc/temporal/schema/postgresql/v12/$([ "$db" = temporal ] && echo temporal || echo visibility)/versioned
  temporal-sql-tool --db "$db" create-database || true
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema -d "$schema_dir"
done
