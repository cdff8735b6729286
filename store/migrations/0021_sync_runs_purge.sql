-- sync_runs is purged by the worker's housekeeping (store/housekeeping.py): ~2.9 M rows a day at 2,000
-- partners on a 60 s interval. Its only index was (partner_id, started_at), which cannot serve "every
-- partner's runs older than N days": without these the purge would scan the whole table each hour.
CREATE INDEX sync_runs_started ON sync_runs (started_at);
-- The idle runs (nothing staged, nothing else done: what store/cycle_repo.record_fetch writes) go sooner;
-- their own index lets that pass skip the runs that did something, kept longer.
CREATE INDEX sync_runs_idle_started ON sync_runs (started_at)
    WHERE status = 'succeeded' AND counts = '{"staged": 0}'::jsonb;
-- A run that sync_log names is kept with its log rows (the reason of a conflict names its run); the purge
-- asks per old run, and finish_run counts a run's conflicts by it (it scanned sync_log before).
CREATE INDEX sync_log_run ON sync_log (sync_run_id) WHERE sync_run_id IS NOT NULL;
