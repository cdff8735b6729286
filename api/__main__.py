"""`python -m api [--host H]`: serve the HTTP API with uvicorn on API_PORT."""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from settings import Settings, configure_logging, get_settings

KEEP_ALIVE_SECONDS = 75


def uvicorn_config(app: FastAPI, settings: Settings, host: str) -> uvicorn.Config:
    """The server as production runs it (uvicorn's own log config, access log on); tests serve the same
    config so they see the same access-log lines. Idle keep-alive connections outlive the clients' own
    (httpx drops them after 5 s; a load balancer in front should use a shorter idle timeout than this):
    with equal timeouts a client can send on a connection being closed and get a ReadError."""
    return uvicorn.Config(app, host=host, port=settings.api_port, log_level=settings.log_level.lower(),
                          timeout_keep_alive=KEEP_ALIVE_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.Server(uvicorn_config(create_app(settings), settings, args.host)).run()


if __name__ == "__main__":
    main()
