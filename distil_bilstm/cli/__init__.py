"""Command line: ``distil-bilstm <command>``. The only place that configures logging.

Each command group lives in its own module, its arguments beside its command (``register``):
adding a command touches one file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from .. import __version__
from ..rundir import RunFailedError
from . import baseline, data, quickstart, runs, serving, tagging, teacher

logger = logging.getLogger("distil_bilstm")

# in the order ``--help`` lists them: the pipeline's
COMMAND_GROUPS = (quickstart, data, teacher, baseline, runs, tagging, serving)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distil-bilstm",
        description="Distill a fine-tuned transformer classifier into small, fast BiLSTM students.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v: debug logs of this package; -vv: of every library"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _configure_logging(verbose: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logger.setLevel(logging.DEBUG if verbose >= 1 else logging.INFO)
    if verbose < 2:
        for noisy in ("transformers", "urllib3", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for position, arg in enumerate(argv, start=1):
        try:  # Python keeps bytes that are not UTF-8 as lone surrogates, which no tokenizer or file can take
            arg.encode("utf-8")
        except UnicodeEncodeError:
            parser.error(f"argument {position} is not valid UTF-8 text: {arg!r}")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (
        ValueError,
        OSError,
        ImportError,
        RunFailedError,
    ) as err:  # OSError: files, and transformers' "not on the hub / offline"
        logger.error("%s", err)
        logger.debug("where it was raised", exc_info=True)  # -v shows the traceback
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
