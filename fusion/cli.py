"""Command line: `python -m fusion fuse --source S --target T --out O [options]`; `batch` (one source
into many targets, fusion.batch.cli) and `models` (fusion.models.cli).

Exit codes: 0 success, 1 internal error, 2 bad arguments or input (one line on stderr), 3 no face
found, 4 engine unavailable or refused the photos, 5 output could not be written. The fusion flags
come from fusion.options.CONTROLS, the same table the web UI's controls are bound by.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence

from fusion import encode_image, format_for_path, fuse, write_atomic
from fusion.batch.cli import add_parser as add_batch_parser
from fusion.batch.cli import run as run_batch
from fusion.errors import (
    ClusterUnavailable,
    EngineFailed,
    EngineUnavailable,
    FusionError,
    NoFaceFound,
    OutputError,
)
from fusion.models.cli import add_parser as add_models_parser
from fusion.models.cli import run as run_models
from fusion.options import CONTROLS, OUTPUT_FORMATS, FusionOptions

EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_NO_FACE, EXIT_ENGINE, EXIT_OUTPUT = 1, 2, 3, 4, 5
EXIT_CLOSED_PIPE = 141  # as a shell reports a command ended by SIGPIPE
# Most specific first: the first matching class gives the exit code.
_EXIT_CODES = (
    (NoFaceFound, EXIT_NO_FACE),
    (EngineUnavailable, EXIT_ENGINE),
    (EngineFailed, EXIT_ENGINE),
    (ClusterUnavailable, EXIT_ENGINE),
    (OutputError, EXIT_OUTPUT),
    (FusionError, EXIT_BAD_INPUT),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fusion", description="Offline face fusion.")
    commands = parser.add_subparsers(dest="command", required=True)
    fuse = commands.add_parser("fuse", help="fuse the source's face into the target photo")
    fuse.add_argument("--source", required=True, help="photo with the face to use")
    fuse.add_argument("--target", required=True, help="photo to put the face into")
    fuse.add_argument("--out", required=True, help="output file (.png, .jpg or .webp)")
    add_option_flags(fuse)
    fuse.add_argument("--format", choices=OUTPUT_FORMATS, help="output format (default: from --out)")
    fuse.add_argument("--json", action="store_true", help="print timings, warnings and face boxes as JSON")
    add_batch_parser(commands, add_option_flags)
    add_models_parser(commands)
    return parser


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per fusion option (fusion.options.CONTROLS), the library's defaults as defaults."""
    defaults = FusionOptions()
    for control in CONTROLS:
        kind = float if control.low is not None else str
        parser.add_argument(
            control.flag,
            dest=control.name,
            type=kind,
            default=getattr(defaults, control.name),
            choices=control.choices or None,
            help=control.help,
        )


def _run_fuse(args: argparse.Namespace) -> int:
    options = FusionOptions.from_values({control.name: getattr(args, control.name) for control in CONTROLS})
    result = fuse(args.source, args.target, options)
    fmt = args.format or format_for_path(args.out)
    text = {
        "Software": "face-fusion",
        "fusion-options": json.dumps(options.as_dict()),
        "fusion-engine": result.engine,
    }
    write_atomic(args.out, encode_image(result.image, fmt, text))
    report = result.report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for note in result.warnings:
            print(f"warning: {note}", file=sys.stderr)
        height, width = result.image.shape[:2]
        print(
            f"wrote {args.out} ({width}x{height}) in {result.timings['total']:.2f} s "
            f"with the {result.engine} engine"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "models":
            code = run_models(args)
        elif args.command == "batch":
            code = run_batch(args)
        else:
            code = _run_fuse(args)
        sys.stdout.flush()  # a pipe's reader that went away shows here, not after main returns
        return code
    except FusionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return next(code for kind, code in _EXIT_CODES if isinstance(exc, kind))
    except BrokenPipeError:
        # Whoever read standard output stopped (`... --json | head`): the work is done and written,
        # so end quietly; standard output goes nowhere, or Python's exit would try it again.
        with contextlib.suppress(OSError, ValueError):  # a stdout without a descriptor: nothing to do
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return EXIT_CLOSED_PIPE
    except Exception as exc:  # a bug, not bad input: one line for the user, the trace in the log
        logging.getLogger("fusion").debug("unexpected error", exc_info=True)
        print(f"error: internal error ({type(exc).__name__}: {exc}); please report it", file=sys.stderr)
        return EXIT_INTERNAL
