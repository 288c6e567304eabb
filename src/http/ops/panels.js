// sidewatch ops console — the panels. Each reads (and writes) only through the admin API and
// renders every value as text.
'use strict';

(function () {
  const { el, $, clear, time, table, num, pct } = SW;
  const body = (id) => document.querySelector('#' + id + ' .body');
  const labelsOf = (labels) => el('span', { class: 'labels' },
    Object.entries(labels || {}).filter(([k]) => k !== 'alertname').map(([k, v]) => el('code', {}, k + '="' + v + '"')));
  const note = (text) => el('p', { class: 'muted' }, text);
  const sevClass = (s) => (s === 'critical' ? 'sev-critical' : s === 'warning' ? 'sev-warning' : '');

  // ---- Status ----
  function silenceFrom(alert) {
    const ms = Object.entries(alert.labels || {}).filter(([k]) => !['severity'].includes(k)).map(([k, v]) => k + '="' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"');
    $('s-matchers').value = ms.join(', ');
    $('s-comment').focus();
    location.hash = '#silences';
  }
  async function status() {
    const o = SW.ops;
    const firing = Object.entries(o.alerts.firing).map(([s, n]) => el('div', { class: 'card' }, el('b', { class: sevClass(s) }, String(n)), 'firing ' + s));
    const pending = Object.entries(o.alerts.pending).map(([s, n]) => el('div', { class: 'card' }, el('b', {}, String(n)), 'pending ' + s));
    const cards = el('div', { class: 'cards' },
      firing.length ? firing : el('div', { class: 'card' }, el('b', { class: 'up' }, '0'), 'firing'),
      pending,
      el('div', { class: 'card' }, el('b', { class: o.recentFailedAlerts1h ? 'down' : '' }, String(o.recentFailedAlerts1h)), 'failed deliveries (1h)'),
      el('div', { class: 'card' }, el('b', {}, String(o.outbox.pending)), 'outbox pending' + (o.outbox.oldestPendingAgeSeconds ? ' (oldest ' + Math.round(o.outbox.oldestPendingAgeSeconds) + 's)' : '')),
      el('div', { class: 'card' }, el('b', {}, o.version), 'version'));
    const alerts = o.alerts.items.map((a) => el('tr', {},
      el('td', { class: sevClass(a.severity) }, a.severity),
      el('td', {}, a.alertname), el('td', {}, a.state), el('td', {}, a.value === null ? 'n/a' : num(a.value, 4)),
      el('td', {}, time(a.since)), el('td', {}, labelsOf(a.labels)),
      el('td', {}, a.summary || '', a.firstSteps ? el('div', { class: 'muted' }, a.firstSteps) : null,
        a.runbookUrl && /^https?:\/\//.test(a.runbookUrl) ? el('div', {}, el('a', { href: a.runbookUrl, rel: 'noopener noreferrer', target: '_blank' }, 'runbook')) : (a.runbookUrl ? el('div', { class: 'muted' }, a.runbookUrl) : null)),
      el('td', {}, SW.writeButton('Silence…', () => silenceFrom(a)))));
    const targets = o.targets.map((t) => el('tr', {},
      el('td', {}, t.name), el('td', { class: t.health === 'up' ? 'up' : t.health === 'down' ? 'down' : 'muted' }, t.health),
      el('td', {}, t.scrapeAgeSeconds === null ? '—' : Math.round(t.scrapeAgeSeconds) + 's ago'),
      el('td', { class: 'err' }, t.lastError || ''),
      el('td', {}, (t.healthChecks || []).map((c) => el('div', { class: c.health === 'up' ? 'up' : c.health === 'down' ? 'down' : 'muted' }, c.name + ': ' + c.health + (c.lastError ? ' — ' + c.lastError : ''))))));
    const signals = Object.entries(o.signals).map(([name, s]) => el('tr', {},
      el('td', {}, name), el('td', {}, s.alert), el('td', { class: s.triggered ? 'down' : 'up' }, s.triggered ? 'triggered' : s.state), el('td', {}, time(s.since))));
    const jobs = o.jobs.map((j) => el('tr', {}, el('td', {}, j.job), el('td', {}, j.lastRun ? j.lastRun.status : 'never'), el('td', {}, time(j.lastRun && j.lastRun.startedAt))));
    clear(body('status'), cards,
      el('h3', {}, 'Alerts'), alerts.length ? table(['Severity', 'Alert', 'State', 'Value', 'Since', 'Labels', 'Summary, first steps', ''], alerts) : note('No alert is pending or firing.'),
      el('h3', {}, 'Targets'), table(['Target', 'Health', 'Scraped', 'Last error', 'Health checks'], targets),
      el('h3', {}, 'Signals'), signals.length ? table(['Signal', 'Alert', 'State', 'Since'], signals) : note('No signals.'),
      el('h3', {}, 'Jobs'), table(['Job', 'Last run', 'Started'], jobs));
  }

  // ---- Alert history ----
  function historyQuery() {
    const q = new URLSearchParams();
    for (const [key, id] of [['status', 'f-status'], ['channel', 'f-channel'], ['receiver', 'f-receiver'], ['alertname', 'f-alertname'], ['since', 'f-since']]) {
      const v = $(id).value.trim();
      if (v) q.set(key, v);
    }
    return q;
  }
  async function history() {
    const q = historyQuery();
    q.set('page', '1');
    q.set('pageSize', '50');
    const h = await SW.json('/api/v1/admin/alerts?' + q);
    const rows = h.items.map((r) => el('tr', {},
      el('td', {}, time(r.createdAt)), el('td', {}, r.alertname), el('td', {}, r.kind), el('td', {}, r.receiver + ' / ' + r.channel),
      el('td', { class: r.status === 'failed' ? 'down' : r.status === 'sent' ? 'up' : '' }, r.status), el('td', {}, String(r.attempts)),
      el('td', {}, r.lastHttpStatus === null ? '' : String(r.lastHttpStatus)), el('td', { class: 'err' }, r.errorText || '')));
    clear(body('history'), note(h.total + ' notification(s)' + (h.total > h.items.length ? ', newest ' + h.items.length + ' shown' : '')),
      rows.length ? table(['Created', 'Alert', 'Kind', 'Receiver / channel', 'Status', 'Attempts', 'HTTP', 'errorText'], rows) : note('Nothing matches.'));
  }
  async function retry() {
    if (!(await SW.confirm('Queue every failed notification of the last hour again?'))) return;
    try {
      const r = await (await SW.api('POST', '/api/v1/admin/alerts/retry', { status: 'failed', since: '1h' })).json();
      $('history-note').textContent = r.queued + ' notification(s) queued again';
      await history();
    } catch (e) {
      $('history-note').textContent = 'Retry refused: ' + e.message;
    }
  }
  async function exportCsv() {
    const q = historyQuery();
    q.set('format', 'csv');
    try {
      const resp = await SW.api('GET', '/api/v1/admin/alerts/export?' + q);
      const name = (resp.headers.get('content-disposition') || '').match(/filename="([^"]+)"/);
      const url = URL.createObjectURL(await resp.blob());
      const a = el('a', { href: url, download: name ? name[1] : 'sidewatch-alerts.csv' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      $('history-note').textContent = 'Export failed: ' + e.message;
    }
  }

  // ---- Silences ----
  function parseMatchers(text) {
    const out = [];
    const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
    let m;
    while (re.lastIndex < text.length && (m = re.exec(text))) {
      out.push({ name: m[1], value: m[3].replace(/\\(.)/g, '$1'), isRegex: m[2].includes('~'), isEqual: !m[2].startsWith('!') });
    }
    if (re.lastIndex !== text.length && text.trim()) throw new Error('matchers: expected name="value", name=~"regex", … separated by commas');
    return out;
  }
  function mutes(s, labels) {
    return s.matchers.every((m) => {
      const v = labels[m.name] || '';
      let hit;
      try { hit = m.isRegex ? new RegExp('^(?:' + m.value + ')$').test(v) : v === m.value; } catch (e) { hit = false; }
      return m.isEqual ? hit : !hit;
    });
  }
  async function silences() {
    const list = await SW.json('/api/v2/silences');
    const firing = (SW.ops && SW.ops.alerts.items) || [];
    const rows = list.map((s) => {
      const muted = s.status.state === 'active' ? firing.filter((a) => mutes(s, a.labels)).map((a) => a.alertname) : [];
      return el('tr', {},
        el('td', {}, s.status.state), el('td', {}, s.matchers.map((m) => el('code', {}, m.name + (m.isEqual ? '' : '!') + (m.isRegex ? '=~' : '=') + '"' + m.value + '"'), ' ')),
        el('td', {}, muted.length ? muted.join(', ') : el('span', { class: 'muted' }, 'nothing now')),
        el('td', {}, time(s.startsAt)), el('td', {}, time(s.endsAt)), el('td', {}, s.createdBy), el('td', {}, s.comment),
        el('td', {}, s.status.state === 'expired' ? '' : SW.writeButton('Expire', async () => {
          if (!(await SW.confirm('Expire the silence on ' + s.matchers.map((m) => m.name + '=' + m.value).join(', ') + ' now?'))) return;
          try { await SW.api('DELETE', '/api/v2/silence/' + encodeURIComponent(s.id)); } catch (e) { SW.showError('Expire refused: ' + e.message); }
          await silences();
        })));
    });
    clear(body('silences'), rows.length ? table(['State', 'Matchers', 'Mutes now', 'Starts', 'Ends', 'By', 'Comment', ''], rows) : note('No silences.'));
  }
  async function createSilence(ev) {
    ev.preventDefault();
    try {
      const matchers = parseMatchers($('s-matchers').value);
      if (!matchers.length) throw new Error('enter at least one matcher');
      const hours = Number($('s-duration').value);
      const comment = $('s-comment').value.trim();
      if (!comment) throw new Error('a comment must say why');
      if (!(await SW.confirm('Silence ' + matchers.map((m) => m.name + '=' + m.value).join(', ') + ' for ' + hours + 'h?'))) return;
      const now = new Date();
      await SW.api('POST', '/api/v2/silences', { matchers, startsAt: now.toISOString(), endsAt: new Date(now.getTime() + hours * 3600e3).toISOString(), createdBy: SW.actor, comment });
      $('s-comment').value = '';
      SW.showError('');
      await silences();
    } catch (e) {
      SW.showError('Silence refused: ' + e.message);
    }
  }

  // ---- Trend ----
  const svgNS = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs, ...kids) => {
    const n = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    for (const c of kids) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  };
  function bars(days, keys, title) {
    const W = 720, H = 160, pad = 24;
    const max = Math.max(1, ...days.flatMap((d) => keys.map((k) => d[k])));
    const slot = (W - pad) / days.length;
    const bw = Math.max(2, (slot - 4) / keys.length);
    const g = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + (H + 20), role: 'img', 'aria-label': title });
    g.append(svg('text', { x: 0, y: 10 }, String(max)));
    days.forEach((d, i) => {
      keys.forEach((k, j) => {
        const h = (d[k] / max) * (H - 20);
        g.append(svg('rect', { x: pad + i * slot + j * bw, y: H - h, width: bw - 1, height: h, class: 'sw-' + k }, svg('title', {}, d.date + ' ' + k + ': ' + d[k])));
      });
      if (i % 2 === 0) g.append(svg('text', { x: pad + i * slot, y: H + 14 }, d.date.slice(5)));
    });
    return el('figure', {}, el('figcaption', {}, title, ' ', el('span', { class: 'legend' }, keys.map((k) => el('span', { class: 'sw-' + k }, '■ ' + k)))), g);
  }
  function line(name, pts) {
    const W = 720, H = 100;
    const vals = pts.map((p) => p.mean);
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const y = (v) => H - 10 - ((v - lo) / (hi - lo || 1)) * (H - 20);
    const x = (i) => 30 + (i * (W - 40)) / Math.max(1, pts.length - 1);
    const g = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': name });
    g.append(svg('polyline', { class: 'sw-line', points: pts.map((p, i) => x(i) + ',' + y(p.mean)).join(' ') }));
    g.append(svg('text', { x: 0, y: 10 }, num(hi, 3)), svg('text', { x: 0, y: H - 2 }, num(lo, 3)));
    return el('figure', {}, el('figcaption', {}, name + ' (daily mean)'), g);
  }
  async function trend() {
    const t = await SW.json('/api/v1/admin/analytics?days=14');
    const series = Object.entries(t.history).filter(([, pts]) => pts.length > 1).map(([name, pts]) => line(name, pts));
    const totals = t.days.reduce((a, d) => ({ fired: a.fired + d.fired, resolved: a.resolved + d.resolved, sent: a.sent + d.sent, failed: a.failed + d.failed }), { fired: 0, resolved: 0, sent: 0, failed: 0 });
    clear(body('trend'),
      note('Last 14 days: ' + totals.fired + ' fired, ' + totals.resolved + ' resolved, ' + totals.sent + ' sent, ' + totals.failed + ' failed.'),
      bars(t.days, ['fired', 'resolved'], 'Alerts per day'), bars(t.days, ['sent', 'failed'], 'Notifications per day'),
      series.length ? series : note('No history series with data yet ([history] in the configuration).'));
  }

  // ---- Reports, KPI ----
  let reportList = [];
  function chartImage(label, href) {
    const img = el('img', { alt: label });
    SW.api('GET', '/api/v1/admin/reports/digests/' + href.split('/').map(encodeURIComponent).join('/'))
      .then((r) => r.blob()).then((b) => { img.src = URL.createObjectURL(b); }).catch(() => { img.alt = label + ' (chart unavailable)'; });
    return el('span', {}, img, el('span', { class: 'muted' }, label));
  }
  async function openReport(r) {
    const view = $('report-view');
    view.hidden = false;
    const resp = await SW.api('GET', r.url);
    const text = await resp.text();
    const title = el('h3', {}, r.kind + ' / ' + r.name);
    if (r.name.endsWith('.md')) clear(view, title, SW.markdown(text, r.kind === 'digests' ? chartImage : null));
    else if (r.name.endsWith('.svg')) {
      const img = el('img', { alt: r.name, src: URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' })) });
      clear(view, title, img);
    } else clear(view, title, el('pre', {}, text));
    view.scrollIntoView();
  }
  async function evidenceOf(r) {
    try {
      const doc = await SW.json(r.url.replace(/\.md$/, '.json'));
      const o = doc.evidence && doc.evidence.observed, q = doc.evidence && doc.evidence.required;
      if (!o || !q) return 'n/a';
      const ok = o.events >= q.events && o.llm_calls >= q.llm_calls;
      return (ok ? 'evidence met' : 'evidence short') + ': ' + o.events + '/' + q.events + ' events, ' + o.llm_calls + '/' + q.llm_calls + ' LLM calls';
    } catch (e) {
      return 'n/a';
    }
  }
  async function reports() {
    reportList = (await SW.json('/api/v1/admin/reports')).reports;
    const shown = reportList.filter((r) => r.name.endsWith('.md') && ['digests', 'baseline', 'incidents', 'kpi', 'recovery', 'postmortems'].includes(r.kind)).slice(0, 30);
    const rows = await Promise.all(shown.map(async (r) => el('tr', {},
      el('td', {}, r.kind), el('td', {}, el('button', { type: 'button', 'data-report': r.kind + '/' + r.name, onclick: () => openReport(r).catch((e) => SW.showError(e.message)) }, r.name)),
      el('td', {}, time(r.modified)), el('td', {}, r.kind === 'digests' ? await evidenceOf(r) : ''))));
    clear(body('reports'), rows.length ? table(['Kind', 'Report', 'Written', 'Evidence'], rows) : note('No reports written yet (see Jobs).'));
  }
  async function kpi() {
    const latest = reportList.filter((r) => r.kind === 'kpi' && /^\d{4}-\d{2}-\d{2}\.json$/.test(r.name)).sort((a, b) => b.name.localeCompare(a.name))[0];
    if (!latest) return clear(body('kpi'), note('No KPI rollup yet: run the kpi job (Jobs) once events arrive.'));
    const k = await SW.json(latest.url);
    const funnels = (k.funnels || []).map((f) => el('tr', {},
      el('td', {}, f.name || f.from + ' -> ' + f.to), el('td', {}, pct(f.latest)), el('td', {}, pct(f.avg7)), el('td', {}, pct(f.prev_week_avg)),
      el('td', {}, typeof f.drop_pct === 'number' ? f.drop_pct.toFixed(1) + '%' : 'n/a'), el('td', { class: sevClass(f.severity) }, f.severity)));
    const cohorts = ((k.retention && k.retention.cohorts) || []).slice(-7).map((c) => el('tr', {},
      el('td', {}, c.cohort), el('td', {}, num(c.size, 0)), el('td', {}, c.d1 === 'n/a' ? 'n/a' : pct(c.d1)), el('td', {}, c.d7 === 'n/a' ? 'n/a' : pct(c.d7))));
    const alerts = k.alerts || { critical: 0, warning: 0, items: [] };
    clear(body('kpi'),
      el('div', { class: 'cards' },
        el('div', { class: 'card' }, el('b', {}, k.date), 'latest day'),
        el('div', { class: 'card' }, el('b', {}, num(k.dau && k.dau.latest, 0)), 'daily active users'),
        el('div', { class: 'card' }, el('b', {}, num(k.dau && k.dau.avg7, 1)), 'DAU, 7-day mean')),
      el('h3', {}, 'Funnel rates'), funnels.length ? table(['Funnel', 'Latest', '7-day mean', 'Previous week', 'Drop', 'Severity'], funnels) : note('No funnels configured.'),
      el('h3', {}, 'Retention (D1 / D7)'), cohorts.length ? table(['Cohort', 'Size', 'D1', 'D7'], cohorts) : note('No cohorts yet.'),
      el('h3', {}, 'KPI Alerts'),
      el('div', { class: 'cards' }, el('div', { class: 'card' }, el('b', { class: 'sev-critical' }, String(alerts.critical)), 'critical'),
        el('div', { class: 'card' }, el('b', { class: 'sev-warning' }, String(alerts.warning)), 'warning')),
      (alerts.items || []).length ? el('ul', {}, alerts.items.map((a) => el('li', {}, typeof a === 'string' ? a : (a.funnel || a.name || '') + ' ' + (a.severity || '') + (a.message ? ': ' + a.message : '')))) : null);
  }

  // ---- Jobs, Audit ----
  async function jobs() {
    const j = await SW.json('/api/v1/admin/jobs');
    const rows = j.jobs.map((job) => {
      const last = job.runs[0];
      return el('tr', {},
        el('td', {}, job.job), el('td', {}, el('code', {}, job.schedule || 'off')),
        el('td', { class: last && last.status === 'failed' ? 'down' : '' }, last ? last.status : 'never'),
        el('td', {}, time(last && last.startedAt)), el('td', {}, last && last.durationSeconds !== null ? num(last.durationSeconds, 2) + 's' : ''),
        el('td', { class: 'err' }, (last && last.error) || ''),
        el('td', {}, SW.writeButton('Run now', async () => {
          if (!(await SW.confirm('Run the ' + job.job + ' job now?'))) return;
          try {
            const r = await (await SW.api('POST', '/api/v1/admin/jobs/' + encodeURIComponent(job.job) + '/run')).json();
            SW.showError(r.status === 'failed' ? job.job + ' failed: ' + r.error : '');
          } catch (e) { SW.showError('Run refused: ' + e.message); }
          await jobs();
          await reports();
          await kpi();
        }, { 'data-job': job.job })));
    });
    clear(body('jobs'), table(['Job', 'Schedule', 'Last run', 'Started', 'Duration', 'Error', ''], rows));
  }
  async function audit() {
    const a = await SW.json('/api/v1/admin/audit?page=1&pageSize=30');
    const rows = a.items.map((r) => el('tr', {},
      el('td', {}, time(r.time)), el('td', {}, r.actor), el('td', {}, r.tokenName), el('td', {}, r.action), el('td', {}, r.target),
      el('td', { class: r.outcome === 'ok' ? 'up' : r.outcome ? 'down' : '' }, r.outcome + (r.status ? ' ' + r.status : '')),
      el('td', {}, r.source), el('td', { class: 'muted' }, r.outcome === 'refused' ? r.detail : '')));
    clear(body('audit'), note(a.total + ' entries, newest first'), table(['Time', 'Actor', 'Token', 'Action', 'Target', 'Outcome', 'Source', 'Reason'], rows));
  }

  SW.panels.push(
    { id: 'status', refresh: status },
    { id: 'history', refresh: history },
    { id: 'silences', refresh: silences },
    { id: 'trend', refresh: trend },
    { id: 'reports', refresh: async () => { await reports(); await kpi(); } },
    { id: 'jobs', refresh: jobs },
    { id: 'audit', refresh: audit });

  document.addEventListener('DOMContentLoaded', () => {
    $('history-filter').addEventListener('submit', (ev) => { ev.preventDefault(); history().catch((e) => SW.showError(e.message)); });
    $('retry').addEventListener('click', retry);
    $('export').addEventListener('click', exportCsv);
    $('silence-form').addEventListener('submit', createSilence);
  });
})();
