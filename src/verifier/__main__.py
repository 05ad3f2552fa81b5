"""`python -m src.verifier BUNDLE --key KEY [--since FILE] [--jobs N]`: check a bundle offline.

Needs Python 3.11+ and `cryptography` only. Exit 0 with a one-line summary when everything
holds; exit 1 naming the first failing event (or the header) and why; exit 2 for bad usage.
"""

import argparse
import base64
import os
import sys
from collections.abc import Sequence

from src.verifier import note
from src.verifier.bundle import BundleError, verify_bundle


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m src.verifier",
        description="Verify a Trailmark proof bundle against a pinned verifier key.",
    )
    parser.add_argument("bundle", help="The bundle file (NDJSON), or - for standard input.")
    parser.add_argument(
        "--key", required=True, help="The log's verifier key (<origin>+<key id>+<base64 key>)."
    )
    parser.add_argument(
        "--since",
        metavar="FILE",
        help="A checkpoint saved earlier: also prove the log only grew since then.",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="Processes checking events (default: one per CPU; 1 checks in this process).",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs: at least 1")
    try:
        key = note.parse_verifier_key(args.key)
    except ValueError as error:
        parser.error(f"--key: {error}")
    since = None
    if args.since is not None:
        try:
            with open(args.since, encoding="utf-8") as file:
                since = file.read()
        except (OSError, UnicodeDecodeError) as error:
            parser.error(f"--since: {error}")
    try:
        if args.bundle == "-":
            summary = verify_bundle(sys.stdin.buffer, key, since=since, jobs=args.jobs)
        else:
            with open(args.bundle, "rb") as lines:
                summary = verify_bundle(lines, key, since=since, jobs=args.jobs)
    except OSError as error:
        parser.error(f"{args.bundle}: {error.strerror}")
    except BundleError as error:
        print(f"FAIL {error.where}: {error.reason}")
        return 1
    grew = (
        "" if summary.since_size is None else f"; the log only grew since size {summary.since_size}"
    )
    scope = "complete" if summary.complete else "partial"
    if summary.min_index:
        scope += f", pruned below leaf {summary.min_index}"
    print(
        f"OK {summary.events} events verified ({scope} bundle) against {summary.origin} "
        f"checkpoint size {summary.size} root {base64.b64encode(summary.root_hash).decode()}{grew}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
