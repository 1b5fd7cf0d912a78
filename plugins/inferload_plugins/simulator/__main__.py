"""``python -m inferload_plugins.simulator``: the process body of the embedded simulator.

Not a user interface (that is ``inferload simulate``): it takes an already validated config as JSON and
an inherited listening socket from :func:`.embedded.start_embedded`.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inferload_plugins.simulator")
    parser.add_argument("--config-json", required=True, help="SimulatorConfig as JSON")
    parser.add_argument("--listen-fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--watch-stdin", action="store_true", help="stop at EOF on stdin (parent gone)")
    args = parser.parse_args(argv)

    from .config import SimulatorConfig
    from .server import run_server

    config = SimulatorConfig.model_validate_json(args.config_json)
    sock = socket.socket(fileno=args.listen_fd)
    sock.setblocking(False)
    return run_server(config, sock=sock, watch_fd=sys.stdin.fileno() if args.watch_stdin else None)


if __name__ == "__main__":
    sys.exit(main())
