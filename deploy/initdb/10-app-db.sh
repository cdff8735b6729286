#!/bin/sh
# The app's own database and role on the same PostgreSQL as Temporal (its password from the environment).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE qbo LOGIN PASSWORD '${APP_DB_PASSWORD}';
CREATE DATABASE qbo OWNER qbo;
SQL
