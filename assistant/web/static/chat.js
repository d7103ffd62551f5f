// Runs once when the conversation component loads; `element`, `server` and `watch` come from
// gr.HTML, EMPTY_VIEWER from the app. Event delegation, so the handlers survive every
// re-render of the conversation.
const panel = () => document.getElementById('viewer-panel');
let lastCite = null;

function copyBuffer() {
  let buffer = document.getElementById('copy-buffer');
  if (!buffer) {
    buffer = document.createElement('textarea');
    buffer.id = 'copy-buffer';
    buffer.className = 'copy-buffer';
    buffer.setAttribute('readonly', '');
    buffer.setAttribute('aria-hidden', 'true');
    buffer.tabIndex = -1;
    document.body.appendChild(buffer);
  }
  return buffer;
}

async function copyText(text) {
  const buffer = copyBuffer();
  buffer.value = text;  // also where tests and scripts can read the last copy
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) { /* fall back below */ }
  const focused = document.activeElement;
  buffer.select();
  let done = false;
  try { done = document.execCommand('copy'); } catch (e) { done = false; }
  if (focused && focused.focus) focused.focus({preventScroll: true});
  return done;
}

function say(button, message) {
  const item = button.closest('.answer-passage');
  const status = item && item.querySelector('.tool-status');
  if (status) status.textContent = message;
}

function showInViewer(p) {
  const body = p.querySelector('.doc-body');
  const mark = p.querySelector('mark.sentence') || p.querySelector('#viewer-target');
  if (window.innerWidth < 1000) p.scrollIntoView({block: 'start'});
  if (body && mark) {
    const offset = mark.getBoundingClientRect().top - body.getBoundingClientRect().top;
    body.scrollTop += offset - Math.min(80, body.clientHeight / 4);
  }
  const title = p.querySelector('.viewer-title');
  if (title) title.focus({preventScroll: true});
}

async function openSource(button) {
  const p = panel();
  if (!p) return;
  const d = button.dataset;
  document.querySelectorAll('button.cite[aria-current]')
    .forEach(b => b.removeAttribute('aria-current'));
  button.setAttribute('aria-current', 'true');
  lastCite = button;
  p.innerHTML = '<div class="viewer-empty">Opening the source…</div>';
  try {
    p.innerHTML = await server.open_source({index: d.index, doc: d.doc, start: +d.start,
                                            end: +d.end, hs: +d.hs, he: +d.he});
  } catch (e) {
    p.innerHTML = '<div class="viewer-empty">Could not open the source. Ask again and retry.</div>';
    return;
  }
  showInViewer(p);
}

async function vote(button) {
  say(button, 'Saving…');
  try {
    const result = await server.record_vote({token: button.dataset.token,
                                             vote: +button.dataset.vote});
    if (result.ok) {
      button.parentElement.querySelectorAll('button.vote').forEach(
        b => b.setAttribute('aria-pressed', b === button ? 'true' : 'false'));
    }
    say(button, result.message);
  } catch (e) {
    say(button, 'Could not save the vote.');
  }
}

element.addEventListener('click', async (event) => {
  const button = event.target.closest('button');
  if (!button || !element.contains(button)) return;
  if (button.classList.contains('cite')) { event.preventDefault(); await openSource(button); }
  else if (button.classList.contains('copy')) {
    const ok = await copyText(button.dataset.copy);
    say(button, ok ? 'Copied the quote with its citation.' : 'Select the text to copy it.');
  } else if (button.classList.contains('vote')) { await vote(button); }
});

if (!window.__citationViewerKeys) {
  window.__citationViewerKeys = true;
  const close = () => {
    const p = panel();
    if (!p || !p.querySelector('.viewer')) return;
    p.innerHTML = EMPTY_VIEWER;
    if (lastCite && document.contains(lastCite)) lastCite.focus();
  };
  document.addEventListener('click', (event) => {
    if (event.target.closest('.viewer-close')) close();
  });
  document.addEventListener('keydown', (event) => {
    const inViewer = event.target.closest && event.target.closest('#viewer-panel');
    if (event.key === 'Escape' && inViewer) close();
  });
}

watch('value', () => {
  const turns = element.querySelectorAll('.turn');
  const last = turns[turns.length - 1];
  if (!last) return;
  const box = element.querySelector('.conversation');
  const scrolls = box && box.scrollHeight > box.clientHeight + 4;
  if (scrolls) box.scrollTop = last.offsetTop - box.offsetTop;
  else last.scrollIntoView({block: 'nearest'});
});
