"""`python -m local_mode` (what `make local` runs): the whole loop on this machine.

Exit codes: 0 done; 1 a problem the message names, with what to do; 130 Ctrl-C; 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from local_mode.errors import LocalModeError
from local_mode.paths import DEFAULT_OUTPUT
from local_mode.processes import Interrupted, interrupts_as_exceptions
from local_mode.settings import LocalSettings


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_mode", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, help="your images, one folder per class (default: sample digits)")
    parser.add_argument(
        "--audio",
        type=Path,
        help="your audio: FSDD-named WAVs, class folders or .npz (default: synthesized spoken digits)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port of the local server (default 8080)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where everything goes (default local/)")
    parser.add_argument("--smoke", action="store_true", help="the smallest data and recipes (what the tests run)")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> LocalSettings:
    if not 0 < args.port < 65536:
        raise LocalModeError(f"port {args.port} is out of range", "give a port between 1024 and 65535")
    settings = LocalSettings(output=args.output.resolve(), port=args.port, images=args.images, audio=args.audio)
    return settings.smoke() if args.smoke else settings


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from local_mode.pipeline import run

    try:
        with interrupts_as_exceptions():
            run(settings_from(args), smoke=args.smoke)
    except LocalModeError as error:
        print(f"error: {error.cause}\n  what to do: {error.remedy}", file=sys.stderr, flush=True)
        return error.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted: every process local mode started is stopped", file=sys.stderr, flush=True)
        return 130
    except Interrupted as interrupted:
        print(f"stopped by {interrupted}: every process local mode started is stopped", file=sys.stderr, flush=True)
        return 128 + interrupted.signum
    return 0
