"""The `assistant` command: ingest, remove, list, ask, serve, eval, info. A thin layer over the
Python API: it parses, calls and prints (terminal.py); nothing is decided here."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from . import settings
from .errors import AssistantError
from .schema import MODES
from .schema import dumps as to_json
from .settings import index_dir_or_default
from .terminal import ProgressDisplay, note, render_text, report_summary, safe, say
from .validation import SURROGATES

DEBUG_HINT = "run again with ASSISTANT_DEBUG=1 to see the traceback"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here rather than at exit
        return status
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as tools killed by SIGPIPE do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
    except AssistantError as exc:
        return _error(str(exc))
    except Exception as exc:
        if settings.debug():  # for developers: the traceback
            raise
        if isinstance(exc, OSError):
            return _error(_os_error(exc))
        first = (str(exc).strip().splitlines() or [""])[0]
        return _error(
            f"unexpected {type(exc).__name__}: {first or 'no details'}. This is a bug or an "
            f"unusual setup: {DEBUG_HINT}, and please report it."
        )


def _error(message: str) -> int:
    with contextlib.suppress(OSError):  # stderr may be gone too
        print(f"error: {safe(message)}", file=sys.stderr)
    return 1


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return f"{reason}. Check the disk and the paths given ({DEBUG_HINT})."
    return (
        f"cannot read/write {' and '.join(paths)}: {reason}. Check that the path exists and "
        "that you may write there, or choose another index folder with --index."
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Ask questions of your documents; every answer is a cited passage.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    index_help = "index folder (default: index/default, or $ASSISTANT_INDEX)"

    ingest = sub.add_parser(
        "ingest",
        help="add or update .txt/.md/.html/.pdf/.docx/.jsonl files and folders in the index",
        description="Adds new files, re-reads changed ones (by content hash) and removes "
        "indexed files under PATH that no longer exist; other indexed files stay.",
    )
    ingest.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders (default: the bundled article)"
    )
    ingest.add_argument("--index", type=Path, help=index_help)
    ingest.add_argument(
        "--rebuild", action="store_true", help="build from scratch from exactly PATH..."
    )
    ingest.add_argument(
        "--strict", action="store_true", help="write nothing if any file fails (default: skip it)"
    )
    ingest.add_argument(
        "--if-stale",
        action="store_true",
        help="only rebuild the default index when missing or stale",
    )
    ingest.add_argument(
        "--ray",
        action="store_true",
        help="embed on a Ray cluster ($RAY_ADDRESS or --ray-address; else a local instance); "
        "needs pip install '.[distributed]'",
    )
    ingest.add_argument(
        "--ray-address", metavar="ADDRESS", help="Ray cluster to join, e.g. ray://head:10001"
    )
    ingest.set_defaults(run=_ingest)

    ask = sub.add_parser(
        "ask", help="answer a question ('-' reads one question per line from stdin)"
    )
    ask.add_argument("question", help="the question, or - to read questions from standard input")
    ask.add_argument("-k", type=int, default=3, help="number of passages (default 3)")
    ask.add_argument(
        "--json", action="store_true", help="print the JSON answer (one object per line)"
    )
    ask.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="EARLIER",
        help="an earlier question of the conversation (repeatable, oldest first); "
        "a follow-up such as 'When was that?' is searched together with it",
    )
    ask.add_argument(
        "--retriever", choices=MODES, help="ranking to use (default: the index's, hybrid)"
    )
    ask.add_argument("--index", type=Path, help=index_help)
    ask.set_defaults(run=_ask)

    serve = sub.add_parser("serve", help="start the web chat")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--index", type=Path, help=index_help)
    serve.add_argument(
        "--auth", metavar="USER:PASSWORD", help="require this login (default: $ASSISTANT_AUTH)"
    )
    serve.add_argument(
        "--allow-public-without-auth",
        action="store_true",
        help="serve on a non-loopback address without a login (trusted networks only)",
    )
    serve.add_argument(
        "--concurrency", type=int, default=4, help="chat questions answered at once (default 4)"
    )
    serve.add_argument(
        "--mcp",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the MCP server for AI agents at /mcp (default: on)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="N > 1: serve /api and /mcp, without the chat, from N processes on the port "
        "(default 1: one process with the chat; docs/serving.md)",
    )
    serve.add_argument(
        "--ray",
        action="store_true",
        help="serve the JSON API as Ray Serve replicas (no chat); needs '.[distributed]'",
    )
    serve.add_argument(
        "--replicas", type=int, default=2, help="with --ray: how many replicas (default 2)"
    )
    serve.add_argument(
        "--ray-address", metavar="ADDRESS", help="with --ray: the Ray cluster to join"
    )
    serve.set_defaults(run=_serve)

    evaluate = sub.add_parser(
        "eval", help="measure retrieval quality on a BEIR-format dataset folder"
    )
    evaluate.add_argument(
        "dataset",
        type=Path,
        nargs="?",
        metavar="DATASET_DIR",
        help="corpus.jsonl, queries.jsonl, qrels/ (or --feedback)",
    )
    evaluate.add_argument(
        "--feedback",
        action="store_true",
        help="evaluate on the chat's thumbs-up votes for --index (see assistant/feedback.py)",
    )
    evaluate.add_argument(
        "--write", type=Path, metavar="DIR", help="with --feedback: also save the set as BEIR"
    )
    evaluate.add_argument("--split", default="test", help="qrels/<split>.tsv (default test)")
    evaluate.add_argument(
        "--retriever",
        choices=(*MODES, "all"),
        default="hybrid",
        help="ranking to measure (default hybrid; all: each in turn)",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--index", type=Path, help="index folder to build or reuse (default index/eval/NAME-HASH)"
    )
    evaluate.set_defaults(run=_eval)

    remove = sub.add_parser("remove", help="remove files (or folders of them) from the index")
    remove.add_argument(
        "paths", nargs="+", metavar="PATH", help="indexed file or folder, or a document id"
    )
    remove.add_argument("--index", type=Path, help=index_help)
    remove.set_defaults(run=_remove)

    listing = sub.add_parser("list", help="show the indexed files: title, path, chunks, when")
    listing.add_argument("--index", type=Path, help=index_help)
    listing.add_argument("--json", action="store_true", help="one JSON object per file")
    listing.set_defaults(run=_list)

    info = sub.add_parser("info", help="show what an index holds and how it was built")
    info.add_argument("--index", type=Path, help=index_help)
    info.add_argument(
        "--verify",
        action="store_true",
        help="also check every file against its recorded sha256 (loading checks sizes only)",
    )
    info.set_defaults(run=_info)
    return parser


def _ingest(args) -> int:
    from .default_index import DEFAULT_CORPUS, ensure_default_index
    from .indexing.sync import ingest

    if args.if_stale:
        if args.paths:
            raise AssistantError("--if-stale only applies to the bundled article; leave out PATH.")
        built = ensure_default_index(args.index)
        if not built:
            note(f"Index is up to date: {index_dir_or_default(args.index)}")
        return 0
    report = ingest(
        args.paths or [DEFAULT_CORPUS],
        args.index,
        rebuild=args.rebuild,
        skip_bad=not args.strict,
        ray=args.ray,
        ray_address=args.ray_address,
        on_step=ProgressDisplay(),
    )
    return report_summary(report, strict=args.strict)


def _remove(args) -> int:
    from .indexing.sync import remove

    return report_summary(remove(args.paths, args.index, on_step=ProgressDisplay()))


def _list(args) -> int:
    from .indexing.sync import list_documents

    documents = list_documents(index_dir_or_default(args.index))
    if args.json:
        for doc in documents:
            print(to_json(doc.to_dict()))
        return 0
    for doc in documents:
        when = doc.indexed_at.replace("T", " ")[:16]
        extra = f"  (same as {doc.same_as}: indexed once)" if doc.same_as else ""
        title, path = safe(doc.title, one_line=True), safe(doc.path, one_line=True)
        print(f"{title}\n    {path}  {doc.chunks} chunks  {when}{safe(extra, one_line=True)}")
    print(f"{len(documents)} file(s), {sum(d.chunks for d in documents)} chunks")
    return 0


def _open(index: Path | None):
    from .answer.assistant import Assistant
    from .default_index import ensure_default_index

    if index is None:
        ensure_default_index()
    return Assistant.open(index)


def _ask(args) -> int:
    from .validation import validate_context, validate_k, validate_question

    validate_k(args.k)  # fail fast, before the model loads
    if any(SURROGATES.search(text) for text in (args.question, *args.context)):
        # undecodable bytes in the arguments (Python keeps them as lone surrogates)
        raise AssistantError(
            "The question is not UTF-8 text; type it again, or set the terminal to UTF-8."
        )
    context = validate_context(args.context)
    if args.question != "-":
        validate_question(args.question, args.k)
    assistant = _open(args.index)

    def answer(question: str) -> None:
        result = assistant.ask(question, k=args.k, retriever=args.retriever, context=context)
        print(to_json(result.to_dict()) if args.json else render_text(result, sys.stdout.isatty()))

    if args.question != "-":
        answer(args.question)
        return 0
    failed = 0
    for number, line in enumerate(sys.stdin.buffer, 1):  # bytes: one bad line fails alone
        try:
            question = line.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            failed += _line_error(number, None, "not UTF-8 text; skipped", args.json)
            continue
        if not question:
            continue
        try:
            answer(question)
        except AssistantError as exc:
            failed += _line_error(number, question, str(exc), args.json)
            continue
        sys.stdout.flush()
    return 1 if failed else 0


def _line_error(number: int, question: str | None, message: str, as_json: bool) -> int:
    """Reports a failed line of `ask -` on stderr (and in the JSON output, to keep it aligned
    with the input); 1, to count it."""
    note(f"error: line {number}: {message}")
    if as_json:
        question_field = {} if question is None else {"question": question}
        print(to_json({"line": number, **question_field, "error": message}))
    return 1


def _serve(args) -> int:
    from .web.security import auth_from, check_exposure, check_port

    auth = auth_from(args.auth)
    check_exposure(args.host, auth, args.allow_public_without_auth)  # before loading anything
    check_port(args.host, args.port)
    if args.ray:
        from .web.replicas import serve_replicas

        index = index_dir_or_default(args.index)
        _open(args.index)  # the same checks and messages before Ray starts
        serve_replicas(index, args.host, args.port, auth, args.replicas, args.ray_address)
        return 0
    from .web.app import serve

    serve(
        _open(args.index),
        host=args.host,
        port=args.port,
        auth=auth,
        allow_public=args.allow_public_without_auth,
        concurrency=args.concurrency,
        mcp=args.mcp,
        workers=args.workers,
    )
    return 0


def _eval(args) -> int:
    from .eval import evaluate, format_table

    modes = MODES if args.retriever == "all" else (args.retriever,)
    if args.feedback or args.dataset is None:
        results = _eval_feedback(args, modes)
    else:
        results = evaluate(
            args.dataset,
            args.split,
            modes,
            index_dir=args.index,
            log=note,
            bar=sys.stderr.isatty(),
        )
    if not args.json:
        say(format_table(results))
    elif len(results) == 1:
        print(to_json(results[0].to_dict()))
    else:
        print(to_json({"results": [r.to_dict() for r in results]}))
    return 0


def _eval_feedback(args, modes):
    from . import feedback

    if not args.feedback:
        raise AssistantError("Give a DATASET_DIR, or --feedback to use the chat's votes.")
    if args.dataset is not None:
        raise AssistantError("--feedback uses the votes on --index; leave out DATASET_DIR.")
    assistant = _open(args.index)
    results = feedback.evaluate_feedback(assistant, modes)  # refuses when nobody voted
    if args.write:
        data = feedback.feedback_set(feedback.read_votes(assistant.index.path))
        feedback.write_beir(args.write, assistant.index, data)
        note(f"Wrote {len(data.queries)} voted questions to {args.write}")
    return results


def _info(args) -> int:
    from .store import folder as store

    index_dir = index_dir_or_default(args.index)
    manifest = store.read_manifest(index_dir)
    print(to_json({k: v for k, v in manifest.items() if k != "files"}, indent=2))
    if args.verify:
        from .embedding import embedder_for_index
        from .store.folder import load_index

        load_index(index_dir, embedder_for_index(index_dir), verify=True)
        note(f"verified: all {len(manifest['files'])} files match their sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main())
