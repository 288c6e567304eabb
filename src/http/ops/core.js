// sidewatch ops console — core: the session (token and actor in sessionStorage only), the API
// client, safe DOM building (every outside value goes in as text), times, the confirmation
// dialog, a small Markdown renderer that builds DOM nodes, and the refresh loop.
'use strict';

const SW = (window.SW = {
  token: null,
  actor: null,
  ops: null,
  writeEnabled: false,
  paused: false,
  panels: [],
  timer: null,
});

// el('td', {class: 'err', title: 'x'}, 'text', child…): strings become text nodes.
SW.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
};

SW.$ = (id) => document.getElementById(id);

SW.clear = function (node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
};

// A time in the browser's zone, with UTC on hover.
SW.time = function (iso) {
  if (!iso) return SW.el('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (isNaN(d)) return SW.el('span', {}, iso);
  return SW.el('time', { datetime: d.toISOString(), title: d.toISOString().replace('.000Z', 'Z') + ' (UTC)' }, d.toLocaleString());
};

SW.num = (n, digits) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : Number(n).toLocaleString(undefined, { maximumFractionDigits: digits ?? 2 }));
SW.pct = (r) => (typeof r === 'number' ? (r * 100).toFixed(1) + '%' : 'n/a');

SW.table = function (headers, rows) {
  return SW.el('div', { class: 'table-wrap' },
    SW.el('table', {},
      SW.el('thead', {}, SW.el('tr', {}, headers.map((h) => SW.el('th', { scope: 'col' }, h)))),
      SW.el('tbody', {}, rows)));
};

SW.showError = function (message) {
  const e = SW.$('error');
  e.textContent = message || '';
  e.hidden = !message;
};

// Calls the admin API with the token and actor; throws an Error carrying the API's reason.
SW.api = async function (method, path, body) {
  const headers = { Authorization: 'Bearer ' + SW.token };
  if (SW.actor) headers['X-Actor'] = SW.actor;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const type = resp.headers.get('content-type') || '';
  if (!resp.ok) {
    let reason = resp.status + ' ' + resp.statusText;
    if (type.startsWith('application/json')) {
      const e = await resp.json().catch(() => ({}));
      if (e.error) reason = resp.status + ' ' + (e.errorType || '') + ': ' + e.error;
    }
    const err = new Error(reason);
    err.status = resp.status;
    throw err;
  }
  return resp;
};
SW.json = async (path) => (await SW.api('GET', path)).json();

// Resolves true when the operator confirms `text` in the dialog.
SW.confirm = function (text) {
  const dialog = SW.$('confirm');
  SW.$('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const done = (answer) => {
      SW.$('confirm-ok').onclick = null;
      SW.$('confirm-cancel').onclick = null;
      dialog.close();
      resolve(answer);
    };
    SW.$('confirm-ok').onclick = () => done(true);
    SW.$('confirm-cancel').onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
    SW.$('confirm-cancel').focus();
  });
};

// Buttons marked `write` follow admin.write_enabled.
SW.applyWriteState = function () {
  for (const b of document.querySelectorAll('.write')) {
    b.disabled = !SW.writeEnabled;
    if (SW.writeEnabled) b.removeAttribute('title');
    else b.title = 'Read-only: admin.write_enabled is false';
  }
};
SW.writeButton = function (label, onclick, attrs) {
  const b = SW.el('button', Object.assign({ type: 'button', class: 'write', onclick }, attrs || {}), label);
  b.disabled = !SW.writeEnabled;
  if (!SW.writeEnabled) b.title = 'Read-only: admin.write_enabled is false';
  return b;
};

// --- Markdown: headings, paragraphs, lists, tables, code, emphasis, links; DOM only. ---
SW.inline = function (text, resolveImage) {
  const out = [];
  const re = /(\*\*([^*]+)\*\*)|(`([^`]+)`)|(\[([^\]]+)\]\(([^)\s]+)\))|(<(https?:\/\/[^>\s]+)>)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1]) out.push(SW.el('strong', {}, m[2]));
    else if (m[3]) out.push(SW.el('code', {}, m[4]));
    else if (m[5]) out.push(SW.link(m[6], m[7], resolveImage));
    else if (m[8]) out.push(SW.link(m[9], m[9], resolveImage));
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
};
SW.link = function (label, href, resolveImage) {
  if (/^https?:\/\//i.test(href)) return SW.el('a', { href, rel: 'noopener noreferrer', target: '_blank' }, label);
  if (/\.svg$/i.test(href) && resolveImage) return resolveImage(label, href);
  return SW.el('span', {}, label);
};
SW.markdown = function (md, resolveImage) {
  const root = document.createDocumentFragment();
  const lines = md.replace(/\r/g, '').split('\n');
  let i = 0;
  const para = [];
  const flush = () => {
    if (para.length) root.append(SW.el('p', {}, SW.inline(para.join(' '), resolveImage)));
    para.length = 0;
  };
  while (i < lines.length) {
    const line = lines[i];
    if (/^```/.test(line)) {
      flush();
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      root.append(SW.el('pre', {}, SW.el('code', {}, code.join('\n'))));
      i++;
    } else if (/^#{1,6} /.test(line)) {
      flush();
      const level = Math.min(line.indexOf(' ') + 2, 6);
      root.append(SW.el('h' + level, {}, SW.inline(line.replace(/^#+ /, ''), resolveImage)));
      i++;
    } else if (/^\s*\|/.test(line)) {
      flush();
      const rows = [];
      for (; i < lines.length && /^\s*\|/.test(lines[i]); i++) rows.push(lines[i]);
      const cells = (r) => r.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
      const body = rows.filter((r, n) => !(n === 1 && /^[\s|:-]+$/.test(r)));
      const head = cells(body[0] || '');
      root.append(SW.table(head.map((h) => SW.inline(h, resolveImage)),
        body.slice(1).map((r) => SW.el('tr', {}, cells(r).map((c) => SW.el('td', {}, SW.inline(c, resolveImage)))))));
    } else if (/^\s*([-*]|\d+\.) /.test(line)) {
      flush();
      const ordered = /^\s*\d+\./.test(line);
      const list = SW.el(ordered ? 'ol' : 'ul', {});
      for (; i < lines.length && /^\s*([-*]|\d+\.) /.test(lines[i]); i++) {
        list.append(SW.el('li', {}, SW.inline(lines[i].replace(/^\s*([-*]|\d+\.) /, ''), resolveImage)));
      }
      root.append(list);
    } else if (line.trim() === '') {
      flush();
      i++;
    } else {
      para.push(line.trim());
      i++;
    }
  }
  flush();
  return root;
};

// --- Session ---
SW.setConnected = function (on) {
  SW.$('connect-form').hidden = on;
  SW.$('session').hidden = !on;
  SW.$('nav').hidden = !on;
  SW.$('panels').hidden = !on;
  SW.$('banner').hidden = !on;
};

SW.connect = async function (token, actor) {
  SW.token = token;
  SW.actor = actor;
  try {
    SW.ops = await SW.json('/api/v1/admin/ops');
  } catch (e) {
    SW.token = null;
    SW.actor = null;
    sessionStorage.removeItem('sw.token');
    sessionStorage.removeItem('sw.actor');
    SW.setConnected(false);
    SW.showError('Cannot connect: ' + e.message);
    return false;
  }
  sessionStorage.setItem('sw.token', token);
  sessionStorage.setItem('sw.actor', actor);
  SW.showError('');
  SW.$('who').textContent = actor;
  SW.setConnected(true);
  await SW.refresh();
  SW.timer = setInterval(() => { if (!SW.paused) SW.refresh(); }, 10000);
  if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
  return true;
};

SW.disconnect = function () {
  clearInterval(SW.timer);
  SW.token = null;
  SW.actor = null;
  sessionStorage.removeItem('sw.token');
  sessionStorage.removeItem('sw.actor');
  SW.$('token').value = '';
  SW.setConnected(false);
  for (const s of document.querySelectorAll('section .body')) SW.clear(s);
};

SW.banner = function () {
  const b = SW.$('banner');
  SW.writeEnabled = !!SW.ops.writeEnabled;
  b.className = SW.writeEnabled ? 'rw' : 'ro';
  b.textContent = SW.ops.environment + ' · ' + (SW.writeEnabled ? 'Write controls enabled' : 'Read-only — write controls disabled (admin.write_enabled is false)');
  SW.applyWriteState();
};

// Each panel registers `refresh()`; one failing panel shows its error and the others go on.
SW.refresh = async function () {
  try {
    SW.ops = await SW.json('/api/v1/admin/ops');
    SW.banner();
  } catch (e) {
    SW.showError(e.message);
    if (e.status === 401 || e.status === 403) return;
  }
  await Promise.all(SW.panels.map(async (p) => {
    try {
      await p.refresh();
    } catch (e) {
      const body = document.querySelector('#' + p.id + ' .body');
      if (body) SW.clear(body, SW.el('p', { class: 'down', role: 'alert' }, 'Cannot load: ' + e.message));
    }
  }));
  SW.$('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
};

document.addEventListener('DOMContentLoaded', () => {
  SW.$('connect-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = SW.$('token').value.trim();
    const actor = SW.$('actor').value.trim();
    if (!token || !actor) return SW.showError('Enter the admin token and your name.');
    SW.connect(token, actor);
  });
  SW.$('disconnect').addEventListener('click', SW.disconnect);
  SW.$('pause').addEventListener('change', (ev) => { SW.paused = ev.target.checked; });
  const token = sessionStorage.getItem('sw.token');
  const actor = sessionStorage.getItem('sw.actor');
  if (token && actor) {
    SW.$('actor').value = actor;
    SW.connect(token, actor);
  }
});
