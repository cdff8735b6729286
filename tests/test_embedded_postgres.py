"""The embedded PostgreSQL restarts on data kept from an earlier start even when a parent folder was closed
to other users meanwhile: pytest resets /tmp/pytest-of-<user> to 0700 whenever any session starts, so a
`make run` test's second start failed with "could not access directory ...: Permission denied" while
another suite was starting beside it."""

from __future__ import annotations

import os
import subprocess

import pytest

from store.embedded import EmbeddedPostgres, free_port


@pytest.mark.skipif(os.geteuid() != 0, reason="as root the server runs as another user; otherwise as us")
def test_second_start_after_a_parent_folder_became_private(tmp_path):
    root = tmp_path / "kept"
    root.mkdir(mode=0o755)
    pg = EmbeddedPostgres(root / "data" / "pgdata", free_port())
    try:
        pg.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pg.wait_ready()
        pg.stop()
        root.chmod(0o700)  # what pytest does to its own base folder at every session start
        pg.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pg.wait_ready()
    finally:
        pg.stop()
