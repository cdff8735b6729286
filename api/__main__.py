"""`python -m api [--host H]`: serve the HTTP API with uvicorn on API_PORT."""

import argparse

import uvicorn

from api.app import create_app
from settings import configure_logging, get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=args.host, port=settings.api_port, log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
