"""Changes to a served index from the page: uploads and removals, queued.

An upload is moved out of Gradio's upload cache at once and queued; one worker thread per
served index carries out the queue in order (waiting while another program holds the index
lock), and each page polls the status of its own requests. Everything goes through the Python
API (`ingest`, `remove`, `list_documents`); a running chat picks up each new version.
"""

import contextlib
import hashlib
import itertools
import os
import re
import shutil
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..answer.assistant import Assistant
from ..errors import AssistantError, IndexLockedError, IndexMissingError
from ..indexing.files import SUPPORTED, SUPPORTED_SUFFIXES, display_path
from ..indexing.progress import Step
from ..indexing.sync import IngestReport, ingest, list_documents, remove
from ..store import folder as store

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # per file, and per upload request (several files)
LOCK_WAIT_S = 900  # how long a queued request waits for another program's ingest


def uploads_dir_for(index_dir: Path) -> Path:
    """Where uploaded files are kept: beside the index (`index/default-uploads/`)."""
    return Path(index_dir).parent / f"{Path(index_dir).name}-uploads"


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, only ordinary characters."""
    base = os.path.basename(name.replace("\\", "/"))
    stem, suffix = os.path.splitext(base)
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-")[:100] or "document"
    return stem + suffix.lower()


def check_upload(name: str, size: int) -> str | None:
    """Why an upload is refused, or None when it is acceptable."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return f"{name}: not accepted; upload {SUPPORTED} files"
    if size > MAX_UPLOAD_BYTES:
        return (
            f"{name}: {size / 2**20:.1f} MiB is over the {MAX_UPLOAD_BYTES // 2**20} MiB upload "
            "limit; split it, or ingest it from the command line"
        )
    if size == 0:
        return f"{name}: the file is empty"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keep_upload(temp: Path, uploads: Path, name: str) -> tuple[Path, bool]:
    """Copies `temp` into `uploads` as `name`, or name-2, name-3... when a file with other
    content has that name; the same content is kept once. Returns the copy, and whether it is
    new (False: an earlier upload with the same name and content)."""
    digest = _sha256(temp)
    stem, suffix = os.path.splitext(name)
    for n in itertools.count(1):
        target = uploads / (name if n == 1 else f"{stem}-{n}{suffix}")
        try:
            with open(target, "xb") as out, open(temp, "rb") as source:  # never overwrites
                shutil.copyfileobj(source, out)
            return target, True
        except FileExistsError:
            if _sha256(target) == digest:
                return target, False
    raise AssertionError("unreachable")


@dataclass
class Job:
    """One request of a page: files to add, or a document to remove."""

    number: int
    kind: str  # "upload" or "remove"
    targets: list[Path]  # uploaded copies to ingest, or the one path to remove
    created: list[Path] = field(default_factory=list)  # the copies this upload made
    lines: list[str] = field(default_factory=list)  # what became of it, for the page
    state: str = "queued"  # queued, waiting (for the index lock), working, done
    step: Step | None = None  # how far its indexing has got, while working

    def names(self) -> str:
        return ", ".join(t.name for t in self.targets)


def _outcome(report: IngestReport, target: Path) -> list[str]:
    """The report's lines about one file."""
    names = {str(target), os.path.abspath(target), display_path(target)}
    lines = [f"✓ added {p}" for p in report.added if p in names]
    lines += [f"✓ updated {p}" for p in report.updated if p in names]
    lines += [f"= unchanged {p}" for p in report.unchanged if p in names]
    lines += [
        f"= {d}: identical, indexed once"
        for d in report.duplicates
        if d.split(" (same content as ", 1)[0] in names
    ]
    lines += [f"✗ {f.path}: {f.reason}" for f in report.failures if f.path in names]
    return lines or [f"✗ {display_path(target)}: not indexed"]


def _progress(job: Job, ahead: int) -> str:
    verb = "add" if job.kind == "upload" else "remove"
    if job.state == "queued":
        return f"… queued to {verb} {job.names()}" + (
            f" ({ahead} request(s) first)" if ahead else ""
        )
    if job.state == "waiting":
        return (
            f"… waiting to {verb} {job.names()}: another program is writing the index; "
            "this follows when it is done"
        )
    doing = f"… {'adding' if job.kind == 'upload' else 'removing'} {job.names()}"
    step = job.step
    if step is None:
        return doing
    share = step.done / step.total if step.total else 0.0
    bar = "▰" * round(10 * share) + "▱" * (10 - round(10 * share))
    return f"{doing}: {bar} {step.describe()}"


class DocumentQueue:
    """The requests to change one served index, carried out in order by one worker thread
    (started on the first request). A request waits while another program holds the index
    lock. Requests and their outcomes are kept for the pages to poll (the last 1000)."""

    def __init__(self, assistant: Assistant, uploads: Path, worker: bool = True) -> None:
        self.assistant, self.uploads, self.worker = assistant, Path(uploads), worker
        self._jobs: OrderedDict[int, Job] = OrderedDict()
        self._waiting: deque[Job] = deque()
        self._busy: list[Job] = []  # the requests being carried out
        self._wake = threading.Condition()
        self._numbers = itertools.count(1)
        self._received: OrderedDict[str, None] = OrderedDict()  # cache files already taken
        self._sessions: OrderedDict[str, list[int]] = OrderedDict()  # each page's requests
        self._worker: threading.Thread | None = None

    # --- requests, from the page's handlers ---

    def upload(self, files: list | None, session: str = "") -> Job:
        """Checks the uploaded files and moves them out of Gradio's upload cache into the
        uploads folder, then queues their ingest. Refusals are in the job's lines at once.
        Files already received are skipped (the page's file list keeps them)."""
        job = self._new("upload", [], session)
        if not files:
            job.lines.append("No file was uploaded.")
        skipped, received_all = [], True
        try:
            self.uploads.mkdir(parents=True, exist_ok=True)
            for temp in map(str, files or ()):
                name = safe_name(os.path.basename(temp))
                with self._wake:  # claimed before any I/O: a second event skips it
                    received = temp in self._received
                    if not received:
                        self._received[temp] = None
                        while len(self._received) > 1000:
                            self._received.popitem(last=False)
                if received:
                    skipped.append(name)
                    continue
                try:
                    self._receive(job, temp, name)
                except OSError as exc:
                    job.lines.append(f"✗ {name}: could not be received ({exc.strerror or exc})")
                with contextlib.suppress(OSError):
                    os.unlink(temp)  # kept or refused: Gradio's cached copy is not needed
        except Exception as exc:  # noqa: BLE001 - the request must end, with a message
            received_all = False
            if not isinstance(exc, OSError):
                traceback.print_exc()
            job.lines.append(f"✗ the upload could not be received ({exc}); upload it again")
        if skipped and not job.targets and not job.lines:  # sent at once by another page?
            job.lines.append(f"= {', '.join(skipped)}: already received")
        if job.targets and received_all:
            return self._queue(job)
        for copy in job.created:
            with contextlib.suppress(OSError):
                copy.unlink()
        return self._finish(job)

    def _receive(self, job: Job, temp: str, name: str) -> None:
        """One uploaded file: refused with a line, or copied into the uploads folder."""
        if not os.path.exists(temp):
            job.lines.append(f"✗ {name}: the upload was lost; upload it again")
            return
        refused = check_upload(name, os.path.getsize(temp))
        if refused:
            job.lines.append(f"✗ {refused}")
            return
        target, new = keep_upload(Path(temp), self.uploads, name)
        job.targets.append(target)
        job.created += [target] if new else []

    def remove(self, path: str | None, session: str = "") -> Job:
        job = self._new("remove", [Path(path)] if path else [], session)
        if not path:
            job.lines.append("Choose a document to remove.")
            return self._finish(job)
        return self._queue(job)

    def status(self, session: str = "") -> tuple[str, bool]:
        """The status text of the page's last requests, and whether all of them are done."""
        with self._wake:
            numbers = self._sessions.get(session, [])
            jobs = [self._jobs[n] for n in numbers if n in self._jobs]
            ahead = {j.number: len(self._busy) + i for i, j in enumerate(self._waiting)}
        lines, done = [], True
        for job in jobs:
            lines += job.lines
            if job.state != "done":
                done = False
                lines.append(_progress(job, ahead.get(job.number, 0)))
        return "\n".join(lines), done

    def run_pending(self) -> None:
        """Carries out the queued requests in this thread (when no worker was started)."""
        while (batch := self._next(block=False)) is not None:
            self._run(batch)

    # --- the worker ---

    def _new(self, kind: str, targets: list[Path], session: str) -> Job:
        job = Job(next(self._numbers), kind, targets)
        with self._wake:
            self._jobs[job.number] = job
            mine = self._sessions.pop(session, [])
            self._sessions[session] = [*mine, job.number][-20:]
            for kept in (self._jobs, self._sessions):
                while len(kept) > 1000:
                    kept.popitem(last=False)
        return job

    def _finish(self, job: Job) -> Job:
        job.state = "done"
        return job

    def _queue(self, job: Job) -> Job:
        with self._wake:
            self._waiting.append(job)
            self._wake.notify()
            if self.worker and self._worker is None:
                self._worker = threading.Thread(target=self._work, name="uploads", daemon=True)
                self._worker.start()
        return job

    def _next(self, block: bool = True) -> list[Job] | None:
        """The next request, with the uploads queued right after it (ingested together)."""
        with self._wake:
            while block and not self._waiting:
                self._wake.wait()
            if not self._waiting:
                return None
            batch = [self._waiting.popleft()]
            while batch[0].kind == "upload" and self._waiting and self._waiting[0].kind == "upload":
                batch.append(self._waiting.popleft())
            for job in batch:
                job.state = "working"
            self._busy = batch
            return batch

    def _work(self) -> None:
        while True:
            try:
                self._run(self._next())
            except Exception:  # noqa: BLE001 - the worker must outlive any one request
                traceback.print_exc()

    def _run(self, batch: list[Job]) -> None:
        try:
            index_dir = Path(self.assistant.index.path)
            if store.version_of(index_dir) is None:  # deleted: ingest would start a new one
                raise IndexMissingError(str(index_dir))
            if batch[0].kind == "upload":
                self._ingest(batch, index_dir)
            else:
                path = str(batch[0].targets[0])
                call = lambda: remove_document(  # noqa: E731
                    self.assistant, path, self.uploads, on_step=_show(batch)
                )
                batch[0].lines.append(self._when_unlocked(batch, call))
        except Exception as exc:  # noqa: BLE001 - every request must end with a message
            if isinstance(exc, AssistantError):
                reason = str(exc)
            else:  # a bug: the details go to the server's log, not to the page
                traceback.print_exc()
                reason = f"an unexpected {type(exc).__name__}; the server's log has the details"
            for job in batch:
                job.lines.append(f"✗ {job.names()}: {reason}")
                for copy in job.created:
                    with contextlib.suppress(OSError):
                        _forget_upload(copy, Path(self.assistant.index.path), self.uploads)
        finally:
            with self._wake:
                for job in batch:
                    job.state = "done"
                self._busy = []
            self.assistant.refresh()

    def _when_unlocked(self, batch: list[Job], call: Callable):
        """call(), retried while another program holds the index lock (LOCK_WAIT_S at most)."""
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            for job in batch:
                job.state = "working"
            try:
                return call()
            except IndexLockedError:
                if time.monotonic() > deadline:
                    raise
            for job in batch:
                job.state = "waiting"
            time.sleep(0.5)

    def _ingest(self, batch: list[Job], index_dir: Path) -> None:
        targets = list(dict.fromkeys(t for job in batch for t in job.targets))
        report = self._when_unlocked(
            batch,
            lambda: ingest(
                targets, index_dir, embedder=self.assistant.embedder, on_step=_show(batch)
            ),
        )
        for job in batch:
            for target in job.targets:
                job.lines += _outcome(report, target)
        for failure in report.failures:
            _forget_upload(Path(failure.path), index_dir, self.uploads)


def upload_files(assistant: Assistant, files: list[str] | None, uploads: Path) -> str:
    """Checks, copies and ingests uploaded files now; returns the message to show."""
    queue = DocumentQueue(assistant, uploads, worker=False)
    queue.upload(files)
    queue.run_pending()
    return queue.status()[0]


def _forget_upload(path: Path, index_dir: Path, uploads: Path | None = None) -> None:
    """Deletes an uploaded copy that did not make it into the index."""
    path = Path(os.path.abspath(path))
    if uploads is not None and path.parent != Path(os.path.abspath(uploads)):
        return
    try:
        indexed = {d.path for d in list_documents(index_dir)}
    except AssistantError:
        indexed = set()
    if str(path) not in indexed:
        path.unlink(missing_ok=True)


def _show(batch: list[Job]) -> Callable[[Step], None]:
    """Puts each step of the batch's indexing where the pages' status polling reads it."""

    def show(step: Step) -> None:
        for job in batch:
            job.step = step

    return show


def remove_document(
    assistant: Assistant,
    path: str | None,
    uploads: Path,
    on_step: Callable[[Step], None] | None = None,
) -> str:
    if not path:
        return "Choose a document to remove."
    try:
        report = remove([path], assistant.index.path, embedder=assistant.embedder, on_step=on_step)
    except IndexLockedError:
        raise  # the queue waits and tries again
    except AssistantError as exc:
        return f"✗ {exc}"
    target = Path(path)
    if target.parent == Path(os.path.abspath(uploads)):
        target.unlink(missing_ok=True)  # an uploaded copy: nothing else refers to it
    assistant.refresh()
    return "\n".join(f"✓ removed {p}" for p in report.removed)
