"""The ``wandb-cassettes`` command (also ``python -m wandb_cassettes``).

Subcommands:

* ``audit [PATH...] [--format text|json]``: leaks, secrets and unreadable
  files in cassettes (exit 0 clean, 1 leak or secret, 2 unreadable);
* ``show CASSETTE``: one line per exchange, with what it created or deleted;
* ``diff OLD NEW``: what a re-recording changed, in W&B's terms (exit 0 nothing but
  the recording line, 1 differences, 2 unreadable);
* ``sweep [--upstream URL]...``: delete what interrupted recordings left on W&B,
  and put back what they changed of others' resources, as listed by their
  journals, on the upstreams the user names only (exit 0 all done, 1 something
  stays, 2 no key, an unusable journal, or an upstream no key may go to).

Each subcommand is a ``_add_<name>(subparsers)`` function that declares its
arguments and sets ``run`` (``Namespace -> exit code``); adding one means
writing that function and listing it in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import __version__, compat
from . import cleanup as journal
from . import protocol as graphql
from .audit import audit_paths, audit_scrubber, format_table, other_sdk_cassettes
from .diff import diff
from .errors import CassetteError, ConfigurationError, JournalError
from .ownership import Ledger
from .redact import CACHE_FOLDER, CATALOGUE, CONFIDENCE, Scrubber
from .runtime import CassetteOptions, default_upstream, upstream_api_key
from .store import Body, Digest, Interaction, check_upstream, find_project, load

Subparsers = Any  # argparse's _SubParsersAction is private
Register = Callable[[Subparsers], None]


def _add_audit(sub: Subparsers) -> None:
    p = sub.add_parser(
        "audit",
        help="report leaks, unknown mutations, secrets and personal data in cassettes",
        description="Checks, per cassette: every resource its recording created was deleted "
        "(or kept on purpose); every successful mutation has a known effect; no secret "
        "and no personal data is stored. Exit 0: clean; 1: a leak, an unknown mutation, "
        "a secret or personal data; 2: an unreadable cassette or a usage error.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="cassette files or folders (searched for *.yaml); default: the project's "
        "cassette folder (ini wandb_cassette_dir under the pytest rootdir)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--harmless",
        action="append",
        default=[],
        metavar="FIELD",
        help="a mutation field of your own that changes nothing (also: ini "
        "wandb_cassette_harmless)",
    )
    p.add_argument(
        "--secret-pattern",
        action="append",
        default=[],
        metavar="REGEX",
        help="a secret of your own to look for (also: ini wandb_cassette_secret_patterns)",
    )
    p.add_argument(
        "--entropy",
        metavar="BITS",
        help="also flag strings of 20+ token characters whose Shannon entropy reaches BITS "
        "per character (4.5 flags random base64, not hex); off by default, since digests "
        "and ids are that random too (also: ini wandb_cassette_entropy)",
    )
    p.add_argument(
        "--other-sdk",
        nargs="?",
        const="",
        metavar="VERSION",
        help="instead of auditing, list the cassettes recorded under another wandb minor "
        "than VERSION (default: the installed wandb), with the version each names: those "
        "to re-record when their replay fails after an SDK upgrade. Exit 0: none; 1: some; "
        "2: an unreadable cassette, or one that names no version",
    )
    p.add_argument(
        "--list-rules",
        action="store_true",
        help="print the secret rules in force, each with where it comes from (package and "
        "version), and exit",
    )
    p.set_defaults(run=_run_audit)


def _run_audit(args: argparse.Namespace) -> int:

    project = find_project()
    if args.other_sdk is not None:
        version, paths = args.other_sdk, list(args.paths)
        if compat.release(version) is None and Path(version).exists():
            # `--other-sdk cassettes/`: argparse gave the path to the optional VERSION.
            version, paths = "", [version, *paths]
        return _list_other_sdk(paths or [project.cassette_dir], version)
    CATALOGUE.use_cache_dir(project.plugin_cache / CACHE_FOLDER)  # the plugin's folder too
    paths = args.paths or [project.cassette_dir]
    patterns = [*project.secret_patterns, *args.secret_pattern]
    entropy = args.entropy if args.entropy is not None else project.entropy
    try:
        options = CassetteOptions.from_mapping(
            {"secret_patterns": patterns, "entropy": entropy}, source="audit"
        )
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scrubber = audit_scrubber(base=options.scrubber())
    if args.list_rules:
        print(_rules_text(scrubber, options.entropy))
        return 0
    report = audit_paths(
        paths,
        scrubber,
        harmless=[*project.harmless, *args.harmless],
        progress=_progress() if args.format == "text" else None,
    )
    print(report.render_json() if args.format == "json" else report.render_text())
    return report.exit_code


def _list_other_sdk(paths: Sequence[str | Path], version: str) -> int:
    """``audit --other-sdk``: one line per cassette of another wandb minor."""
    running = version or compat.sdk_version() or ""
    if compat.release(running) is None:
        print(
            f"error: --other-sdk: no wandb version to compare with ({running!r})", file=sys.stderr
        )
        return 2
    found = other_sdk_cassettes(paths, running)
    unknown = 0
    for item in found:
        if item.error is not None:
            print(f"{item.path}: unreadable: {item.error}")
        elif item.recorded is None:
            print(f"{item.path}: names no wandb version (cannot tell)")
        else:
            print(f"{item.path}: recorded with wandb {item.recorded}")
        unknown += item.error is not None or item.recorded is None
    listed = len(found) - unknown
    print(
        f"{listed} cassette(s) recorded under another wandb minor than {running}"
        + (": re-record those whose replay fails (pytest --record-mode=rewrite)" if listed else "")
        + (f"; {unknown} that cannot tell" if unknown else "")
    )
    return 2 if unknown else 1 if listed else 0


def _rules_text(scrubber: Scrubber, entropy: float | None) -> str:
    """``audit --list-rules``: where the rules come from, then one line per rule."""

    rules = scrubber.rules_in_force()
    by_source: dict[str, int] = {}
    for rule in rules:
        by_source[rule.source] = by_source.get(rule.source, 0) + 1
    lines = ["secret rules in force:"]
    for source, count in by_source.items():
        what = ""
        if source == CATALOGUE.source:
            what = f" (Kingfisher's catalogue of credential formats, confidence {CONFIDENCE})"
        lines.append(f"  {source}{what}: {count} rule(s)")
    lines.append(
        f"  entropy check: at {entropy:g} bits per character"
        if entropy is not None
        else "  entropy check: off (--entropy BITS or ini wandb_cassette_entropy turns it on)"
    )
    lines.append("")
    rows = [("RULE", "SOURCE", "WHAT")] + [(r.name, r.source, r.about) for r in rules]
    return "\n".join(lines + format_table(rows))


def _progress() -> Callable[[int, int, Path], None] | None:
    """A progress line on stderr when it is a terminal (audits of many cassettes take time)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, path: Path) -> None:
        end = "\n" if done + 1 == total else ""
        sys.stderr.write(f"\rauditing {done + 1}/{total} {path.name[:60]:<60}{end}")
        sys.stderr.flush()

    return show


def _add_show(sub: Subparsers) -> None:
    p = sub.add_parser("show", help="print a cassette as a timeline of exchanges")
    p.add_argument("cassette", metavar="CASSETTE")
    p.set_defaults(run=_run_show)


def _run_show(args: argparse.Namespace) -> int:
    try:
        cassette = load(args.cassette)
    except CassetteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ledger = Ledger.from_cassette(cassette)
    upstream = str(cassette.metadata.get("upstream") or "")
    rows = [("#", "METHOD", "WHAT", "STATUS", "SIZE", "")]
    for index, ix in enumerate(cassette.interactions):
        marks = [
            f"{'+' if e.change == 'created' else '-'}{e.change} {e.resource.name}"
            for e in ledger.events_at(index)
        ]
        marks += [f"error: {message}" for message in _errors(ix)]
        if 300 <= ix.status < 400:
            marks.append("redirect")
        rows.append(
            (
                str(index),
                ix.method,
                _what(ix, upstream),
                str(ix.status),
                _size(ix.response_body),
                "; ".join(marks),
            )
        )
    print("\n".join(format_table(rows)))
    leaks = ledger.leaks()
    if leaks:
        print("leaked: " + ", ".join(r.name for r in leaks))
    ignored = [str(p) for p in cassette.metadata.get("ignore") or []]
    ignored += [f"preset {p}" for p in cassette.metadata.get("presets") or []]
    if ignored:
        print("replay does not compare: " + ", ".join(ignored))
    return 0


def _what(ix: Interaction, upstream: str) -> str:
    """The GraphQL operation, or the path (with the host when it is not the W&B server)."""
    request = graphql.parse_request(ix.request_text())
    if request is not None:
        return request.operation
    parts = urlsplit(ix.uri)
    if upstream and ix.uri.startswith(upstream.rstrip("/") + "/"):
        return parts.path
    return f"{parts.netloc}{parts.path}"


def _errors(ix: Interaction) -> list[str]:
    messages = graphql.response_errors(ix.response_json())
    # 3xx: a redirect W&B answers on purpose (run files, artifactsV2), no error.
    if not 200 <= ix.status < 400 and not messages:
        messages = [f"HTTP {ix.status} {ix.reason}".rstrip()]
    return messages


def _size(body: Body) -> str:
    if isinstance(body, Digest):
        n = body.size
    elif isinstance(body, str):
        n = len(body.encode("utf-8"))
    else:
        n = len(body or b"")
    if n < 1000:
        return f"{n}B"
    return f"{n / 1000:.1f}kB" if n < 1_000_000 else f"{n / 1_000_000:.1f}MB"


def _add_diff(sub: Subparsers) -> None:
    p = sub.add_parser(
        "diff",
        help="show what a re-recording changed, in W&B's terms",
        description="Pairs the interactions of two recordings of a test by what they ask "
        "(the GraphQL operation, the file_stream run, the method and URL) and lists the "
        "ones added (+), removed (-) and changed (~), with each value that changed: GraphQL "
        "variables in W&B's terms (config.lr, name...), URLs, uploads' size and sha256, "
        "status, answers. Exit 0: nothing changed but the metadata's recording line; "
        "1: differences; 2: a cassette cannot be read.",
    )
    p.add_argument("old", metavar="OLD", help="the cassette before (e.g. from git show)")
    p.add_argument("new", metavar="NEW", help="the cassette after")
    p.set_defaults(run=_run_diff)


def _run_diff(args: argparse.Namespace) -> int:
    try:
        old, new = load(args.old), load(args.new)
    except CassetteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    found = diff(old, new)
    print(found.render(args.old, args.new))
    return 0 if found.same else 1


def _add_sweep(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sweep",
        help="delete W&B resources that interrupted recordings left behind",
        description="Reads the journals of recording sessions that are no longer running "
        "and deletes what they created (by identity) and neither deleted nor kept, then "
        "puts back what they changed of resources they did not create. Only journals of "
        "an upstream you name are swept, never on an upstream a journal names alone "
        "(journals are files anyone could edit, and the sweep sends your key); an entry "
        "named by its path alone (no server id) is listed, not deleted. "
        "Needs an API key for the upstream (WANDB_API_KEY or `wandb login`). "
        "Exit 0: all gone; 1: something stays (not deleted, not named, no server id); "
        "2: no key, no upstream, an unusable journal, or an upstream no key may go to.",
    )
    p.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="URL",
        help="a W&B base URL to sweep on, given once per upstream (https, or http to this "
        "machine): only journals naming it are swept there; default: the upstream recording "
        "uses (WANDB_CASSETTES_UPSTREAM, WANDB_BASE_URL, `wandb login --host`, the SDK's)",
    )
    p.add_argument(
        "--journal-dir",
        default=None,
        help="default: .wandb_cassettes/journal under the pytest rootdir",
    )
    p.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="also sweep journals written on this host (its sessions cannot be checked from "
        "here; name it only when they are over); '*' for every host",
    )
    p.set_defaults(run=_run_sweep)


def _run_sweep(args: argparse.Namespace) -> int:

    directory = Path(args.journal_dir) if args.journal_dir else find_project().files / "journal"
    try:
        named = [check_upstream(u, source="--upstream") for u in args.upstream] or [
            check_upstream(default_upstream(), source="the upstream recording uses")
        ]
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unusable: list[JournalError] = []
    orphans = journal.orphaned(directory, dead_hosts=args.host, unusable=unusable)
    for error in unusable:
        print(f"UNUSABLE {error}")
    listed = sum(j.pending for j in orphans)
    print(f"{len(orphans)} journal(s) of finished sessions, {listed} leftover(s)")
    note = _other_hosts_note(directory, args.host)
    if note:
        print(note)
    if not listed:
        # Removes the empty journals; says what one lists that nothing undoes.
        result = journal.sweep(orphans, upstreams=named)
        _print_sweep(result)
        return 2 if unusable else (1 if result.lasting else 0)
    # The key goes only to the upstreams both the user and a journal name.
    problem = _cannot_sweep({j.upstream.rstrip("/") for j in orphans if j.pending} & set(named))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    result = journal.sweep(orphans, upstreams=named)
    _print_sweep(result)
    if unusable or result.unsafe:
        return 2
    stays = result.failed or result.skipped or result.unidentified or result.not_named
    stays = stays or result.lasting
    return 1 if stays else 0


def _cannot_sweep(upstreams: set[str]) -> str | None:
    """Why a sweep cannot start on one of ``upstreams`` (no key, unreachable, refused)."""
    for upstream in sorted(upstreams):
        key = upstream_api_key(upstream)
        if not key:
            return (
                f"no API key for {upstream}: set WANDB_API_KEY or run "
                f"`wandb login --host {upstream}`"
            )
        problem = journal.unreachable(upstream) or _refused(upstream, key)
        if problem:
            return problem
    return None


def _print_sweep(result: journal.SweepResult) -> None:
    """What a sweep did, one line per resource or journal."""
    gone = [f"{name} (already deleted)" for name in result.already_gone]
    for label, lines in (
        ("deleted", result.deleted),
        ("restored", result.restored),
        ("gone", gone),
        ("SKIPPED", result.skipped),
        ("LASTING", result.lasting),
        ("FAILED", result.failed),
        ("KEPT", result.unidentified),
        ("NOT SWEPT", result.not_named),
        ("REFUSED", result.unsafe),
    ):
        for line in lines:
            print(f"{label:<8} {line}")
    if result.kept_journals:
        print(
            "the journal(s) stay for the next sweep: "
            + ", ".join(str(p) for p in result.kept_journals)
            + " (remove one by hand once you have dealt with what it lists)"
        )


def _other_hosts_note(directory: Path, named: list[str]) -> str | None:
    """A hint when journals of other hosts were left alone (``--host`` names them)."""

    here = socket.gethostname()
    hosts = sorted(
        {j.host for j in journal.journals(directory) if j.host != here and j.host not in named}
    )
    if not hosts or "*" in named:
        return None
    return (
        f"journals of other hosts are not swept from here ({', '.join(hosts)}): "
        "add --host NAME once that host's recording sessions are over"
    )


def _refused(url: str, api_key: str | None) -> str | None:
    """Why ``url`` refuses ``api_key`` (the SDK's AuthenticationError), or None."""

    try:
        journal.api_for(url, api_key)
    except Exception as exc:
        if type(exc).__name__ == "AuthenticationError":
            return f"the API key for {url} was refused: {exc}"
        return f"cannot use {url}: {type(exc).__name__}: {exc}"
    return None


#: The subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: list[Register] = [_add_audit, _add_show, _add_diff, _add_sweep]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="wandb-cassettes", description="Record W&B traffic once, replay it offline."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    import os

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `audit --format json | head`: the reader is gone; say nothing more (Python's
        # documented recipe: point stdout at devnull so the interpreter's flush is quiet).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code
