"""The CLI with hostile or broken input: undecodable lines, terminal escapes in documents and
file names, closed pipes, unwritable paths, bad settings; and the shared input checks."""

import json
import os
import shutil
import subprocess

import pytest

from assistant import cli, terminal
from assistant.errors import EmptyQuestionError, InvalidArgumentError, QuestionTooLongError
from assistant.schema import Answer, Highlight, Passage, Source, dumps
from assistant.validation import (
    MAX_CONTEXT,
    MAX_QUESTION_CHARS,
    validate_context,
    validate_k,
    validate_question,
)

from .conftest import CLI, ROOT, run_cli

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J Evil \x9bCSI"
RAW = ("\x1b", "\x07", "\x9b")  # none of these may reach a terminal
QUESTION = "Who is the Turkish foreign minister?"


def no_raw_controls(text: str) -> bool:
    return not any(c in text for c in RAW)


def run_bytes(*args: str, stdin: bytes, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def run_shell(script: str) -> subprocess.CompletedProcess:
    """A pipeline under bash, pipefail off; it echoes the CLI's exit status last."""
    return subprocess.run(
        ["bash", "-c", "set +o pipefail; " + script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


# --- the shared checks (fast) ---


@pytest.mark.parametrize("k", [1, 3, 50])
def test_validate_k_accepts_whole_numbers_in_range(k):
    assert validate_k(k) == k


@pytest.mark.parametrize("k", [0, 51, -1, True, False, 2.7, 3.0, "abc", "3", None, [3]])
def test_validate_k_refuses_anything_else(k):
    with pytest.raises(InvalidArgumentError, match="k must be a whole number from 1 to 50"):
        validate_k(k)


def test_validate_question_cleans_controls_and_surrogates():
    assert validate_question("  Who?\n") == "Who?"
    assert validate_question("a\x00b\x1b[2Jc\x9bd\x7f") == "a b [2Jc d"
    assert validate_question("\ud800Who?") == "\ufffdWho?"
    assert validate_question("tab\there") == "tab here"


@pytest.mark.parametrize("question", [None, "", "   ", "\ud800", "\x1b\x07\x9b", "\ud800 \udfff"])
def test_validate_question_empty_after_cleaning(question):
    with pytest.raises(EmptyQuestionError):
        validate_question(question)


@pytest.mark.parametrize("question", [3, 2.5, ["Who?"], b"Who?", {"q": "Who?"}])
def test_validate_question_refuses_non_strings(question):
    with pytest.raises(InvalidArgumentError, match="must be text"):
        validate_question(question)


def test_validate_question_limits_length_and_k():
    with pytest.raises(QuestionTooLongError):
        validate_question("x" * (MAX_QUESTION_CHARS + 1))
    assert validate_question(" " + "x" * MAX_QUESTION_CHARS + " ") == "x" * MAX_QUESTION_CHARS
    with pytest.raises(InvalidArgumentError, match="k must be"):
        validate_question("Who?", 2.7)


def test_validate_context():
    assert validate_context(None) == () == validate_context([])
    assert validate_context(["Who?", "  ", "\x1b[2J", "a\ud800"]) == ("Who?", "[2J", "a\ufffd")
    assert validate_context(("a", "b")) == ("a", "b")
    many = [f"q{i}" for i in range(MAX_CONTEXT + 5)]
    assert validate_context(many) == tuple(many[-MAX_CONTEXT:])


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ("Who is it?", "must be a list"),
        ({"Who?"}, "must be a list"),
        (["Who?", 3], "context item 2 must be text"),
        ([None], "context item 1 must be text"),
        (["x" * (MAX_QUESTION_CHARS + 1)], "limit is"),
    ],
)
def test_validate_context_refuses(context, message):
    with pytest.raises(InvalidArgumentError, match=message):
        validate_context(context)


# --- terminal-safe output (fast) ---


def test_safe_escapes_controls_but_keeps_newlines_and_tabs():
    assert terminal.safe(HOSTILE) == "\\x1b]0;PWNED\\x07\\x1b[2J Evil \\x9bCSI"
    assert terminal.safe("a\nb\tc\rd\x7f\ud800") == "a\nb\tc\\x0dd\\x7f\\ud800"
    assert terminal.safe("a\nb", one_line=True) == "a\\x0ab"
    assert terminal.safe("Türkiye ¶13 – ok") == "Türkiye ¶13 – ok"


def test_to_json_escapes_c1_and_line_separators_and_parses_back():
    value = {"title": HOSTILE + "\u2028\u2029\x7f\ud800 Türkiye"}
    text = dumps(value)
    assert no_raw_controls(text) and not any(c in text for c in "\u2028\u2029\x7f\ud800")
    assert "Türkiye" in text and json.loads(text) == value
    assert json.loads(dumps(value, indent=2)) == value


def test_render_text_keeps_its_own_colour_only():
    text = f"Before {HOSTILE}. The answer is here. After."
    start = text.index("The answer")
    source = Source(HOSTILE, HOSTILE, "evil\x1b[2J.txt", (1,), 0, len(text))
    passage = Passage(1, 0.9, 0.9, 0.5, text, source, Highlight(start, start + 19, "x"))
    answer = Answer("Who\x9b?", True, (passage,), confidence=0.9)
    shown = terminal.render_text(answer, color=True)
    assert shown.count("\x1b") == 2  # the highlight's colour on and off
    assert f"{terminal.BOLD_YELLOW}The answer is here.{terminal.RESET}" in shown
    assert "\x07" not in shown and "\x9b" not in shown and "\\x1b]0;PWNED" in shown
    assert no_raw_controls(terminal.render_text(answer, color=False))


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("boom\nsecond line"), "error: unexpected RuntimeError: boom. "),
        (
            PermissionError(13, "Permission denied", "/x/index/\x1b[2J"),
            "error: cannot read/write /x/index/\\x1b[2J: Permission denied. ",
        ),
        (NotADirectoryError(20, "Not a directory", "/x/file"), "error: cannot read/write /x/file"),
        (OSError(28, "No space left on device"), "error: No space left on device. "),
    ],
)
def test_unexpected_errors_are_one_line_unless_debugging(
    error, message, monkeypatch, capsys, tmp_path
):
    import assistant.indexing.sync

    def fail(*args):
        raise error

    monkeypatch.setattr(assistant.indexing.sync, "list_documents", fail)
    monkeypatch.delenv("ASSISTANT_DEBUG", raising=False)
    assert cli.main(["list", "--index", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    monkeypatch.setenv("ASSISTANT_DEBUG", "1")
    with pytest.raises(type(error)):
        cli.main(["list", "--index", str(tmp_path)])


def test_skip_bad_flag_is_gone():
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["ingest", "--skip-bad"])


# --- through the real command (slow) ---


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    docs = folder / "docs"
    docs.mkdir()
    records = [
        {"_id": "1", "title": HOSTILE, "text": "Zebras cross the Mara river every July."},
        {"_id": "2", "title": "Penguins", "text": "Penguins live in Antarctica and eat fish."},
    ]
    (docs / "collection.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (docs / "evil\x1b]0;x\x07.txt").write_text("Owls hunt mice at night in the forest.\n")
    (docs / "evil\x1b[2J.jpg").write_bytes(b"\xff\xd8\xff")  # skipped: a note names it
    index = folder / "index"
    result = run_cli("ingest", str(docs), "--index", str(index))
    assert result.returncode == 0, result.stderr
    assert "evil\\x1b[2J.jpg" in result.stderr
    assert no_raw_controls(result.stdout + result.stderr)
    return index


@pytest.mark.slow
def test_list_shows_hostile_titles_and_names_escaped(hostile_index):
    text = run_cli("list", "--index", str(hostile_index))
    assert text.returncode == 0, text.stderr
    assert no_raw_controls(text.stdout) and "\\x1b]0;PWNED\\x07\\x1b[2J Evil" in text.stdout
    assert "evil\\x1b]0;x\\x07.txt" in text.stdout
    as_json = run_cli("list", "--json", "--index", str(hostile_index))
    assert no_raw_controls(as_json.stdout)
    titles = [json.loads(line)["title"] for line in as_json.stdout.splitlines()]
    assert f"{HOSTILE} (2 records)" in titles


@pytest.mark.slow
def test_ask_shows_hostile_titles_escaped(hostile_index):
    question = "When do zebras cross the river?"
    text = run_cli("ask", question, "--index", str(hostile_index))
    assert text.returncode == 0, text.stderr
    assert no_raw_controls(text.stdout) and "\\x1b]0;PWNED" in text.stdout
    as_json = run_cli("ask", question, "--json", "--index", str(hostile_index))
    assert no_raw_controls(as_json.stdout)
    answer = json.loads(as_json.stdout)
    assert answer["passages"][0]["source"]["title"] == HOSTILE


@pytest.mark.slow
def test_an_undecodable_line_fails_alone(article_index):
    stdin = f"{QUESTION}\n".encode() + b"\xff\n\nHow many deaths is the PKK responsible for?\n"
    result = run_bytes("ask", "-", "--json", "--index", str(article_index), stdin=stdin)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "error: line 2: not UTF-8 text; skipped" in stderr and "Traceback" not in stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(lines) == 3
    assert lines[0]["question"] == QUESTION and lines[0]["answerable"]
    assert lines[1] == {"line": 2, "error": "not UTF-8 text; skipped"}
    assert lines[2]["answerable"] and "40,000" in lines[2]["passages"][0]["highlight"]["text"]
    text = run_bytes("ask", "-", "--index", str(article_index), stdin=stdin)
    assert text.returncode == 1 and text.stdout.decode().count("Q: ") == 2


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(article_index):
    ask = run_shell(
        f"yes '{QUESTION}' | head -30 | '{CLI}' ask - --index '{article_index}' | head -1; "
        "echo status ${PIPESTATUS[2]}"
    )
    assert ask.stdout.startswith(f"Q: {QUESTION}\n")
    assert ask.stdout.split()[-1] in ("0", "141") and ask.stderr == ""
    for reader in ("head -c 10", "true"):
        listing = run_shell(
            f"'{CLI}' list --json --index '{article_index}' | {reader}; "
            "echo; echo status ${PIPESTATUS[0]}"
        )
        assert listing.stdout.split()[-1] in ("0", "141") and listing.stderr == ""


@pytest.mark.slow
def test_an_unwritable_index_path_is_one_line_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = run_cli("ingest", "--index", str(tmp_path / "file" / "sub" / "index"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert str(tmp_path / "file") in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_a_read_only_index_is_one_line_error(article_index, tmp_path):
    parent = tmp_path / "ro"
    shutil.copytree(article_index, parent / "index")
    for path in (parent / "index", parent):
        path.chmod(0o555)
    try:
        result = run_cli("ingest", "--rebuild", "--index", str(parent / "index"))
    finally:
        for path in (parent, parent / "index"):
            path.chmod(0o755)
    assert result.returncode == 1 and "Permission denied" in result.stderr
    assert result.stderr.startswith("error: cannot read/write ")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_unexpected_error_and_bad_setting_give_no_traceback(article_index, tmp_path):
    (tmp_path / "manifest.json").write_text('{"sources": [{}]}')
    broken = run_cli("list", "--index", str(tmp_path))  # a KeyError, unless it is handled
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert broken.stderr.startswith("error: ") and broken.stderr.count("\n") == 1
    env = {**os.environ, "ASSISTANT_EMBEDDER": "bogus"}
    bad = run_cli("ask", QUESTION, "--index", str(article_index), env=env)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "ASSISTANT_EMBEDDER must be one of" in bad.stderr and "'bogus'" in bad.stderr


@pytest.mark.slow
def test_undecodable_argument_and_if_stale_message(article_index, tmp_path):
    result = run_bytes("ask", "\udcff", "--index", str(article_index), stdin=b"")
    assert result.returncode == 1 and b"not UTF-8 text" in result.stderr
    index = tmp_path / "elsewhere"
    shutil.copytree(article_index, index)
    stale = run_cli("ingest", "--if-stale", env={**os.environ, "ASSISTANT_INDEX": str(index)})
    assert stale.returncode == 0, stale.stderr
    assert str(index) in stale.stderr and "index/default" not in stale.stderr
