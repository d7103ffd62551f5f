"""The CLI through its real entry point: the `assistant` console script installed in .venv."""

import json
import shutil

import pytest

from .conftest import ARTICLE, run_cli

pytestmark = pytest.mark.slow

QUESTIONS = [
    "How many deaths is the PKK responsible for?",
    "How do I bake sourdough bread?",
    "Who is the Turkish foreign minister?",
]


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    docs = folder / "docs"
    docs.mkdir()
    shutil.copy(ARTICLE, docs / ARTICLE.name)
    (docs / "notes.md").write_text("# Notes\n\nThe <b>meeting</b> was held in Washington.\n")
    (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    index = folder / "index"
    result = run_cli("ingest", str(docs), "--index", str(index))
    assert result.returncode == 0, result.stderr
    assert "Indexed 2 document(s)" in result.stdout
    assert "skipped" in result.stderr and "photo.jpg" in result.stderr
    return index


def test_ask_json_and_stdin_batch_agree_with_the_python_api(cli_index, embedder):
    from assistant import Assistant

    single = run_cli("ask", QUESTIONS[0], "--json", "--index", str(cli_index))
    assert single.returncode == 0, single.stderr
    batch = run_cli(
        "ask",
        "-",
        "--json",
        "-k",
        "3",
        "--index",
        str(cli_index),
        stdin="\n".join(QUESTIONS) + "\n\n",
    )
    assert batch.returncode == 0, batch.stderr
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["question"] for line in lines] == QUESTIONS
    assert [line["answerable"] for line in lines] == [True, False, True]
    assert json.loads(single.stdout) == lines[0]
    api = Assistant.open(cli_index, embedder=embedder)
    assert [api.ask(q, k=3).to_dict() for q in QUESTIONS] == lines
    assert "40,000" in lines[0]["passages"][0]["highlight"]["text"]


def test_ask_prints_a_readable_cited_answer(cli_index):
    result = run_cli(
        "ask", "Who is the Turkish foreign minister?", "-k", "2", "--index", str(cli_index)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Q: Who is the Turkish foreign minister?")
    assert "[1] Türkiye, US relaunch counterterrorism consultations, ¶13, chars" in result.stdout
    assert "**" in result.stdout and "[3]" not in result.stdout
    off_topic = run_cli("ask", "How do I bake sourdough bread?", "--index", str(cli_index))
    assert "Not in the documents. Nothing in the documents is close" in off_topic.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "The question is empty"),
        (["ask", "Who?", "-k", "0"], "k must be"),
        (["ask", "Who?", "--index", "/nonexistent/index"], "No index found"),
        (["ingest", "/nonexistent/file.txt", "--index", "/tmp/unused-index"], "no such file"),
    ],
)
def test_bad_input_gives_a_clear_error_and_nonzero_exit(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_batch_reports_bad_lines_and_keeps_going(cli_index):
    stdin = QUESTIONS[0] + "\n" + "why " * 6000 + "\n" + QUESTIONS[2] + "\n"
    result = run_cli("ask", "-", "--json", "--index", str(cli_index), stdin=stdin)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and "error" in lines[1] and lines[2]["answerable"]
    assert "limit" in result.stderr


def test_strict_ingest_with_a_bad_file_leaves_the_index_untouched(cli_index, tmp_path):
    before = {p.name: p.read_bytes() for p in cli_index.iterdir() if p.is_file()}
    (tmp_path / "good.txt").write_text("A good document about nothing much.")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "empty.md").write_text("")
    result = run_cli("ingest", str(tmp_path), "--strict", "--index", str(cli_index))
    assert result.returncode == 1
    assert "binary.txt: this looks like a binary file" in result.stderr
    assert "empty.md: the file is empty" in result.stderr
    assert "existing index is unchanged" in result.stderr
    assert {p.name: p.read_bytes() for p in cli_index.iterdir() if p.is_file()} == before
