"""`make run`: the whole service on one machine, in the foreground (see `devstack.stack`).

Fixed ports and `.devdata/`, so a second `make run` carries on where the first stopped. Seeds the demo
partner on first start, prints the URLs, then watches: a child that dies is reported loudly and takes the
stack down with a non-zero exit. Ctrl-C or SIGTERM stops every child, newest first, and frees every port.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from urllib.parse import urlparse

from devstack.stack import ChildDied, LocalStack, StackConfig
from settings import DATA_DIR, QboEnv, get_settings

log = logging.getLogger("devstack")


def print_banner(stack: LocalStack, extra: list[str]) -> None:
    settings = get_settings()
    lines = [
        "",
        "QBO integration service is up.",
        f"  API            {stack.api_url}   (OpenAPI: {stack.api_url}/docs)",
        f"  Temporal UI    {stack.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows",
        f"  Metrics        {stack.api_url}/metrics, worker http://127.0.0.1:{settings.worker_metrics_port}/metrics"
        f" (Temporal SDK :{settings.worker_temporal_metrics_port})",
    ]
    if settings.qbo_env is QboEnv.EMULATOR:
        lines.append(f"  QBO emulator   {stack.emulator_url}")
    lines += [*extra, "Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)9s | %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    stop_requested = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_requested.set())
    config = StackConfig(
        data_dir=DATA_DIR, api_port=settings.api_port,
        emulator_port=urlparse(settings.qbo_emulator_url).port or 8010,
        postgres_port=int(os.environ.get("EMBEDDED_PG_PORT", "5544")),
        temporal_port=int(os.environ.get("TEMPORAL_DEV_PORT", "7233")),
        temporal_ui_port=int(os.environ.get("TEMPORAL_UI_PORT", "8233")),
        worker_metrics_port=settings.worker_metrics_port,
    )
    stack = LocalStack(config)
    code = 0
    try:
        stack.start()
        from devstack.demo import seed_demo

        print_banner(stack, seed_demo(stack))
        while not stop_requested.wait(0.5):
            stack.check()
    except KeyboardInterrupt:
        pass
    except ChildDied as died:
        log.error("!!! %s: stopping the whole stack so it can't run half-broken", died)
        code = 1
    except Exception as exc:  # a startup failure: report it plainly, then clean up
        log.error("!!! startup failed: %s", exc)
        code = 1
    finally:
        stack.stop()
        log.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
