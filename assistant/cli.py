"""`assistant` command: ingest, ask, serve, info. A thin layer over the Python API."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from .citations import format_citation
from .errors import AssistantError
from .schema import MODES, Answer

BOLD_YELLOW, RESET = "\033[1;33m", "\033[0m"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Ask questions of your documents; every answer is a cited passage.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    index_help = "index folder (default: index/default, or $ASSISTANT_INDEX)"

    ingest = sub.add_parser("ingest", help="index .txt/.md files and folders")
    ingest.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders (default: the bundled article)"
    )
    ingest.add_argument("--index", type=Path, help=index_help)
    ingest.add_argument(
        "--skip-bad", action="store_true", help="index the readable files even if some fail"
    )
    ingest.add_argument(
        "--if-stale",
        action="store_true",
        help="only rebuild the default index when missing or stale",
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
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--index", type=Path, help=index_help)
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

    info = sub.add_parser("info", help="show what an index holds and how it was built")
    info.add_argument("--index", type=Path, help=index_help)
    info.set_defaults(run=_info)
    return parser


def _ingest(args) -> int:
    from .api import DEFAULT_CORPUS, ensure_default_index, ingest

    if args.if_stale:
        if args.paths:
            raise AssistantError("--if-stale only applies to the bundled article; leave out PATH.")
        built = ensure_default_index(args.index)
        if not built:
            print(f"Index is up to date: {args.index or 'index/default'}", file=sys.stderr)
        return 0
    report = ingest(args.paths or [DEFAULT_CORPUS], args.index, skip_bad=args.skip_bad)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for failure in report.failures:
        print(f"error: {failure}", file=sys.stderr)
    if report.failures and not args.skip_bad:
        print(
            f"Nothing was written: {len(report.failures)} file(s) could not be read; the existing "
            "index is unchanged. Fix or remove them, or pass --skip-bad to index the rest.",
            file=sys.stderr,
        )
        return 1
    print(
        f"Indexed {report.documents} document(s) as {report.chunks} chunks "
        f"({report.tokens:,} tokens) into {report.index_dir}"
    )
    return 1 if report.failures else 0


def _open(index: Path | None):
    from .api import Assistant, ensure_default_index

    if index is None:
        ensure_default_index()
    return Assistant.open(index)


def _ask(args) -> int:
    from .api import validate_k, validate_question

    validate_k(args.k)  # fail fast, before the model loads
    if args.question != "-":
        validate_question(args.question, args.k)
    assistant = _open(args.index)
    if args.question != "-":
        answer = assistant.ask(
            args.question, k=args.k, retriever=args.retriever, context=args.context
        )
        print(answer.to_json() if args.json else render_text(answer, color=sys.stdout.isatty()))
        return 0
    failed = 0
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        try:
            answer = assistant.ask(
                question, k=args.k, retriever=args.retriever, context=args.context
            )
        except AssistantError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"question": question, "error": str(exc)}, ensure_ascii=False))
            continue
        print(answer.to_json() if args.json else render_text(answer, color=sys.stdout.isatty()))
        sys.stdout.flush()
    return 1 if failed else 0


def _serve(args) -> int:
    from .app import serve

    serve(_open(args.index), host=args.host, port=args.port)
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
            log=lambda message: print(message, file=sys.stderr),
            bar=sys.stderr.isatty(),
        )
    if not args.json:
        print(format_table(results))
    elif len(results) == 1:
        print(json.dumps(results[0].to_dict()))
    else:
        print(json.dumps({"results": [r.to_dict() for r in results]}))
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
        print(f"Wrote {len(data.queries)} voted questions to {args.write}", file=sys.stderr)
    return results


def _info(args) -> int:
    from . import store
    from .api import default_index_dir

    index_dir = args.index or default_index_dir()
    manifest = store.read_manifest(index_dir)
    print(
        json.dumps(
            {k: v for k, v in manifest.items() if k != "files"}, indent=2, ensure_ascii=False
        )
    )
    return 0


def render_text(answer: Answer, color: bool = False) -> str:
    lines = [f"Q: {answer.question}", ""]
    if not answer.answerable:
        lines.append(
            "Nothing in the indexed documents answers this question. "
            "Try other words, or ingest documents that cover it."
        )
        return "\n".join(lines) + "\n"
    for p in answer.passages:
        h = p.highlight
        on, off = (BOLD_YELLOW, RESET) if color else ("**", "**")
        marked = f"{p.text[: h.start]}{on}{p.text[h.start : h.end]}{off}{p.text[h.end :]}"
        lines.append(f"[{p.rank}] {format_citation(p.source)}  (score {p.score:.2f})")
        lines.append(f"    {p.source.path}")
        for paragraph in marked.split("\n"):
            lines.extend(
                textwrap.wrap(paragraph, 100, initial_indent="    ", subsequent_indent="    ")
                or [""]
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
