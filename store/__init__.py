"""The platform's PostgreSQL: connection pool, migrations and the embedded server for development.

Everything that speaks SQL lives here (asyncpg). It may import `settings` and `rules` (pure decisions),
never Temporal, workflows or the QBO client. Migrations are ordered SQL files in `store/migrations/`.
"""
