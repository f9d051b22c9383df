// strictmt operators' console: drives the admin API of the host that
// serves it. Plain JavaScript, no dependencies, no inline code: the page's
// Content-Security-Policy allows this file and fetches to this host only.
//
// The admin token is asked for once and kept in this tab's
// sessionStorage (gone when the tab closes); it is sent only in the
// Authorization header of the API calls below, never in a cookie or a URL.
'use strict';

(() => {
  const TOKEN_KEY = 'strictmt.adminToken';
  const API = '/admin';
  const STATES = ['active', 'read_only', 'suspended'];
  const STATE_LABELS = { active: 'active', read_only: 'read-only', suspended: 'suspended' };
  const PAGE_SIZES = [25, 50, 100, 200];

  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const banner = document.getElementById('banner');
  const bannerText = document.getElementById('banner-text');
  const statusLine = document.getElementById('status');

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let pending = 0;
  // Whether the list endpoint takes ?ordering=; once it refused it, the
  // console stops sending it and sorts each page itself.
  let serverOrdering = true;

  // ---- DOM helpers ----

  // el builds an element: attrs are properties or attributes, children
  // strings (as text, never as HTML) or nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k in e && typeof v !== 'string') e[k] = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function hiddenText(text) {
    return el('span', { class: 'visually-hidden', text });
  }

  // none shows a dash to the eye and says what it means to a screen
  // reader.
  function none(meaning) {
    return el('span', {}, el('span', { 'aria-hidden': 'true', text: '—' }), hiddenText(meaning));
  }

  function setBusy(delta) {
    pending += delta;
    document.documentElement.dataset.pending = String(pending);
    main.setAttribute('aria-busy', pending > 0 ? 'true' : 'false');
  }

  function say(text) {
    statusLine.textContent = text;
  }

  function showBanner(text) {
    bannerText.textContent = text;
    banner.hidden = false;
  }

  function clearBanner() {
    banner.hidden = true;
    bannerText.textContent = '';
  }

  // go navigates to hash and shows message there (an action's outcome);
  // any other navigation clears the status line.
  let nextStatus = '';
  function go(hash, message) {
    nextStatus = message;
    if (location.hash === hash) {
      say(message);
      route();
    } else {
      location.hash = hash;
    }
  }

  // ---- formatting ----

  function formatBytes(n) {
    if (typeof n !== 'number') return '';
    const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return i === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
  }

  function formatCount(n) {
    return typeof n === 'number' ? n.toLocaleString('en') : '';
  }

  // formatTime shows an RFC 3339 time in UTC, to the minute.
  function formatTime(s) {
    if (!s) return '';
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) return s;
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  // toRFC3339 reads a datetime-local value (the browser's local time)
  // as an RFC 3339 time in UTC; '' gives null.
  function toRFC3339(v) {
    if (!v) return null;
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? v : d.toISOString();
  }

  function splitList(v) {
    return v.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  }

  function today() {
    return new Date().toISOString().slice(0, 10);
  }

  // ---- the admin API ----

  class APIError extends Error {
    constructor(status, body) {
      super((body && body.detail) || `The service answered ${status}.`);
      this.status = status;
      this.body = body;
    }
  }

  // api calls the admin API with the token. A 401 forgets the token and
  // shows the token form again, unless opts.login (the token's own check).
  async function api(method, path, opts = {}) {
    const headers = { Authorization: `Bearer ${opts.token || token}`, Accept: 'application/json' };
    let body;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      headers['Content-Type'] = opts.contentType;
      body = opts.body;
    }
    setBusy(1);
    let resp;
    try {
      resp = await fetch(API + path, { method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    } catch (e) {
      setBusy(-1);
      throw new APIError(0, { detail: `The service could not be reached (${e.message}).` });
    }
    try {
      if (opts.raw && resp.ok) return resp;
      let data = null;
      if (resp.status !== 204 && (resp.headers.get('Content-Type') || '').includes('json')) {
        data = await resp.json().catch(() => null);
      }
      if (!resp.ok) {
        const err = new APIError(resp.status, data || { detail: `The service answered ${resp.status}.` });
        if (resp.status === 401 && !opts.login) {
          forgetToken('The admin token was refused (' + err.message + '). Enter it again.');
        }
        throw err;
      }
      return data;
    } finally {
      setBusy(-1);
    }
  }

  const enc = encodeURIComponent;

  // ---- forms and their errors ----

  let fieldSeq = 0;

  // field returns a labelled control with its hint and its error line.
  // opts: type, name, label, hint, value, required, options (select),
  // checked (checkbox), autocomplete, inputmode, multiline, accept.
  function field(opts) {
    const id = `f${++fieldSeq}-${opts.name}`;
    const described = [];
    const hint = opts.hint ? el('p', { class: 'hint', id: `${id}-hint`, text: opts.hint }) : null;
    if (hint) described.push(hint.id);
    const error = el('p', { class: 'field-error', id: `${id}-error` });
    described.push(error.id);
    let control;
    const common = { id, name: opts.name, 'aria-describedby': described.join(' ') };
    if (opts.options) {
      control = el('select', common, opts.options.map(([v, label]) => el('option', { value: v, text: label, selected: v === opts.value })));
    } else if (opts.multiline) {
      control = el('textarea', { ...common, rows: 2, maxlength: opts.maxlength }, opts.value || '');
    } else {
      control = el('input', {
        ...common, type: opts.type || 'text', autocomplete: opts.autocomplete || 'off',
        inputmode: opts.inputmode, accept: opts.accept, spellcheck: 'false', maxlength: opts.maxlength,
      });
      if (opts.type === 'checkbox') control.checked = !!opts.checked;
      else if (opts.value !== undefined && opts.value !== null && opts.type !== 'file') control.value = opts.value;
    }
    if (opts.required) control.setAttribute('aria-required', 'true');
    const label = el('label', { for: id }, opts.label, opts.required ? hiddenText(' (required)') : null);
    if (opts.type === 'checkbox') {
      return el('div', { class: 'field check' }, control, label, hint, error);
    }
    return el('div', { class: 'field' }, label, hint, control, error);
  }

  function form(id, legend, fields, submitLabel, onSubmit, opts = {}) {
    const errors = el('p', { class: 'form-error', id: `${id}-error`, role: 'alert' });
    const f = el('form', { id, class: 'card', novalidate: true, 'aria-labelledby': `${id}-title` },
      el(opts.headingLevel || 'h2', { id: `${id}-title`, tabindex: '-1', text: legend }),
      opts.intro ? el('p', { class: 'hint', text: opts.intro }) : null,
      fields,
      errors,
      el('div', { class: 'actions' }, el('button', { type: 'submit', class: opts.danger ? 'danger' : '', text: submitLabel })));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(f);
      clearBanner();
      const button = f.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        await onSubmit(f);
      } catch (e) {
        showErrors(f, e);
      } finally {
        button.disabled = false;
      }
    });
    return f;
  }

  // control finds the control named name in a form or a field.
  function control(f, name) {
    return Array.from(f.elements || f.querySelectorAll('input, select, textarea')).find((e) => e.name === name);
  }

  function clearErrors(f) {
    for (const e of f.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    for (const e of f.querySelectorAll('.field-error, .form-error')) e.textContent = '';
  }

  // fieldError shows messages next to the control named name.
  function fieldError(f, name, messages) {
    const c = control(f, name);
    if (!c) return false;
    c.setAttribute('aria-invalid', 'true');
    document.getElementById(`${c.id}-error`).textContent = [].concat(messages).join(' ');
    return true;
  }

  // showErrors puts a DRF error body where it belongs: {"field":
  // [...]} next to the field, {"detail": ...} and fields the form has not
  // in the form's error line and the banner.
  function showErrors(f, e) {
    if (!(e instanceof APIError)) {
      showBanner(`Something went wrong in the console: ${e.message}`);
      return;
    }
    if (e.status === 401) return; // the token form is shown instead
    const body = e.body || {};
    const rest = [];
    let first = null;
    if (e.status === 400 && typeof body === 'object' && !('detail' in body)) {
      for (const [name, msgs] of Object.entries(body)) {
        if (fieldError(f, name, msgs)) {
          first = first || control(f, name);
        } else {
          rest.push(`${name === 'non_field_errors' ? '' : name + ': '}${[].concat(msgs).join(' ')}`);
        }
      }
    } else {
      rest.push(body.detail || e.message);
    }
    if (rest.length) {
      f.querySelector('.form-error').textContent = rest.join(' ');
      showBanner(rest.join(' '));
    }
    if (first) first.focus();
    say('The request was refused; see the messages by the fields.');
  }

  // ---- the token ----

  function forgetToken(message) {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    renderLogin(message);
  }

  function renderLogin(message) {
    nav.hidden = true;
    const tokenField = field({ name: 'token', label: 'Admin token', type: 'password', required: true, autocomplete: 'off',
      hint: 'The value of admin.token (STRICTMT_ADMIN_TOKEN). It is kept in this tab only, until the tab is closed.' });
    const f = form('login-form', 'Open the console', tokenField, 'Open the console', async (f) => {
      const value = control(f, 'token').value.trim();
      if (!value) {
        fieldError(f, 'token', 'Enter the admin token.');
        control(f, 'token').focus();
        return;
      }
      try {
        await api('GET', '/tenants/?limit=1', { token: value, login: true });
      } catch (e) {
        if (e.status === 401) {
          fieldError(f, 'token', `This token was refused: ${e.message} Check admin.token in the service's configuration.`);
          control(f, 'token').focus();
          say('The admin token was refused.');
          return;
        }
        throw e;
      }
      token = value;
      sessionStorage.setItem(TOKEN_KEY, token);
      say('Signed in.');
      route();
    }, { headingLevel: 'h1' });
    main.replaceChildren(f);
    if (message) {
      fieldError(f, 'token', message);
    }
    control(f, 'token').focus();
  }

  // ---- routing ----

  function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const [path, query] = h.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { parts, params: new URLSearchParams(query || '') };
  }

  function setNav(current) {
    nav.hidden = false;
    for (const [id, name] of [['nav-tenants', 'tenants'], ['nav-fleet', 'fleet']]) {
      const a = document.getElementById(id);
      if (name === current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  let routeSeq = 0;

  async function route() {
    if (!token) {
      renderLogin();
      return;
    }
    const seq = ++routeSeq;
    const { parts, params } = parseHash();
    try {
      if (parts[0] === 'fleet') {
        setNav('fleet');
        await renderFleet(seq);
      } else if (parts[0] === 'tenants' && parts[1]) {
        setNav('tenants');
        await renderTenant(seq, parts[1]);
      } else {
        setNav('tenants');
        await renderTenants(seq, params);
      }
    } catch (e) {
      if (e instanceof APIError && e.status === 401) return;
      if (seq !== routeSeq) return;
      showBanner(e.message);
      main.replaceChildren(el('h1', { tabindex: '-1', text: 'The console could not show this page' }),
        el('p', { text: e.message }), el('p', {}, el('a', { href: '#/tenants', text: 'Back to the tenants' })));
    }
  }

  function show(seq, title, ...nodes) {
    if (seq !== routeSeq) return false;
    document.title = `${title} · strictmt console`;
    main.replaceChildren(...nodes);
    return true;
  }

  function focusHeading() {
    const h = main.querySelector('h1');
    if (h) h.focus();
  }

  // ---- the tenant list ----

  const COLUMNS = [
    { key: 'schema_name', label: 'Schema' },
    { key: 'name', label: 'Name' },
    { key: 'state', label: 'State' },
    { key: 'paid_until', label: 'Paid until' },
    { key: 'domains', label: 'Domains', sort: false },
    { key: 'bytes', label: 'Size', usage: true },
    { key: 'rows', label: 'Rows', usage: true },
    { key: 'last_request', label: 'Last request', usage: true },
  ];

  function sortValue(t, key) {
    const u = t.usage || {};
    switch (key) {
      case 'bytes': case 'rows': case 'last_request': return u[key] ?? null;
      default: return t[key] ?? null;
    }
  }

  function sortRows(rows, ordering) {
    if (!ordering) return rows;
    const desc = ordering.startsWith('-');
    const key = desc ? ordering.slice(1) : ordering;
    return rows.slice().sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      if (x === y) return 0;
      if (x === null) return 1; // unknown values last, either way
      if (y === null) return -1;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return desc ? -c : c;
    });
  }

  function listHash(params) {
    const q = new URLSearchParams();
    for (const k of ['search', 'ordering', 'limit', 'offset']) {
      const v = params.get(k);
      if (v && !(k === 'offset' && v === '0')) q.set(k, v);
    }
    const s = q.toString();
    return '#/tenants' + (s ? '?' + s : '');
  }

  async function fetchTenants(params) {
    const q = new URLSearchParams();
    q.set('limit', params.get('limit') || '50');
    q.set('offset', params.get('offset') || '0');
    if (params.get('search')) q.set('search', params.get('search'));
    const ordering = params.get('ordering');
    if (ordering && serverOrdering) {
      q.set('ordering', ordering);
      try {
        return await api('GET', '/tenants/?' + q);
      } catch (e) {
        if (!(e instanceof APIError && e.status === 400 && e.body && e.body.ordering)) throw e;
        serverOrdering = false;
        q.delete('ordering');
      }
    }
    return api('GET', '/tenants/?' + q);
  }

  function stateBadge(t) {
    return el('span', { class: `badge state-${t.state}`, text: STATE_LABELS[t.state] || t.state });
  }

  function paidCell(t) {
    const parts = [];
    if (t.paid_until) {
      parts.push(el('span', { text: t.paid_until }));
      if (t.paid_until < today() && !t.on_trial) parts.push(' ', el('span', { class: 'badge overdue', text: 'overdue' }));
    } else {
      parts.push(none('no end date'));
    }
    if (t.on_trial) parts.push(' ', el('span', { class: 'badge trial', text: 'trial' }));
    return parts;
  }

  function usageCell(t, key) {
    const u = t.usage;
    if (!u || u[key] === undefined || u[key] === null) return none('not measured');
    if (key === 'bytes') return formatBytes(u.bytes);
    if (key === 'rows') return formatCount(u.rows);
    return formatTime(u.last_request);
  }

  async function renderTenants(seq, params) {
    const data = await fetchTenants(params);
    const ordering = params.get('ordering') || '';
    // The page is sorted here too: a no-op when the service ordered the
    // list, else (a service that ignores or refuses ?ordering=) the order
    // holds within the page only, which the summary says.
    const rows = sortRows(data.results, ordering);
    const sortedHere = rows.some((r, i) => r !== data.results[i]);
    const withUsage = rows.some((t) => t.usage && typeof t.usage === 'object');
    const cols = COLUMNS.filter((c) => !c.usage || withUsage);
    const limit = Number(params.get('limit') || 50);
    const offset = Number(params.get('offset') || 0);

    const search = field({ name: 'search', label: 'Search by name or schema', type: 'search', value: params.get('search') || '' });
    const searchForm = el('form', { id: 'search-form', role: 'search', class: 'inline' }, search,
      el('button', { type: 'submit', text: 'Search' }));
    searchForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams(params);
      p.set('search', control(searchForm, 'search').value.trim());
      p.delete('offset');
      location.hash = listHash(p);
    });

    // The same orders as the column headers, for narrow screens (where
    // the table shows no header row) and for a choice in one step.
    const sortField = field({ name: 'ordering', label: 'Sort by', value: ordering,
      options: [['', 'Schema name (default)']].concat(cols.filter((c) => c.sort !== false)
        .flatMap((c) => [[c.key, `${c.label}, ascending`], ['-' + c.key, `${c.label}, descending`]])) });
    control(sortField, 'ordering').addEventListener('change', (ev) => {
      const p = new URLSearchParams(params);
      if (ev.target.value) p.set('ordering', ev.target.value);
      else p.delete('ordering');
      p.delete('offset');
      location.hash = listHash(p);
    });

    const head = el('tr', {}, cols.map((c) => {
      const th = el('th', { scope: 'col' });
      if (c.sort === false) {
        th.textContent = c.label;
        return th;
      }
      const asc = ordering === c.key;
      const desc = ordering === '-' + c.key;
      if (asc || desc) th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      th.append(el('button', {
        type: 'button', class: 'sort', 'data-sort': c.key,
        onclick: () => {
          const p = new URLSearchParams(params);
          p.set('ordering', asc ? '-' + c.key : c.key);
          p.delete('offset');
          location.hash = listHash(p);
        },
      }, c.label, el('span', { 'aria-hidden': 'true', class: 'arrow', text: asc ? ' ▲' : desc ? ' ▼' : '' }),
      hiddenText(asc ? ' (sorted ascending; activate for descending)' : desc ? ' (sorted descending; activate for ascending)' : ' (activate to sort)')));
      return th;
    }));

    const body = el('tbody', {}, rows.map((t) => el('tr', { 'data-schema': t.schema_name }, cols.map((c) => {
      const label = { 'data-label': c.label };
      switch (c.key) {
        case 'schema_name':
          return el('th', { scope: 'row', ...label }, el('a', { href: `#/tenants/${enc(t.schema_name)}`, text: t.schema_name }));
        case 'name': return el('td', label, t.name);
        case 'state': return el('td', label, stateBadge(t), t.state_until ? ` until ${formatTime(t.state_until)}` : '');
        case 'paid_until': return el('td', label, paidCell(t));
        case 'domains': return el('td', label, el('ul', { class: 'plain' }, (t.domains || []).map((d) => el('li', {}, d.domain,
          d.is_primary ? el('span', { class: 'badge primary', text: 'primary' }) : null))));
        default: return el('td', { ...label, class: 'num' }, usageCell(t, c.key));
      }
    }))));

    const from = data.count === 0 ? 0 : offset + 1;
    const to = offset + data.results.length;
    const summary = el('p', { id: 'list-summary', text: data.count === 0
      ? (params.get('search') ? `No tenant matches “${params.get('search')}”.` : 'No tenants yet.')
      : `Tenants ${from}–${to} of ${data.count}${(sortedHere || !serverOrdering) && data.count > data.results.length ? ' (sorted within this page)' : ''}.` });

    const pager = el('nav', { class: 'pager', 'aria-label': 'Pages of tenants' },
      el('button', { type: 'button', id: 'page-prev', disabled: !data.previous, text: 'Previous page',
        onclick: () => { const p = new URLSearchParams(params); p.set('offset', String(Math.max(0, offset - limit))); location.hash = listHash(p); } }),
      el('button', { type: 'button', id: 'page-next', disabled: !data.next, text: 'Next page',
        onclick: () => { const p = new URLSearchParams(params); p.set('offset', String(offset + limit)); location.hash = listHash(p); } }),
      (() => {
        const size = field({ name: 'limit', label: 'Tenants per page', value: String(limit),
          options: PAGE_SIZES.map((n) => [String(n), String(n)]) });
        control(size, 'limit').addEventListener('change', (ev) => {
          const p = new URLSearchParams(params);
          p.set('limit', ev.target.value);
          p.delete('offset');
          location.hash = listHash(p);
        });
        return size;
      })());

    const table = el('div', { class: 'table-wrap' }, el('table', { id: 'tenant-table', class: 'tenants' },
      el('caption', { class: 'visually-hidden', text: 'Tenants; the column headers sort the list' }),
      el('thead', {}, head), body));

    const create = form('create-form', 'Create a tenant', [
      field({ name: 'name', label: 'Name', required: true, maxlength: 200 }),
      field({ name: 'schema_name', label: 'Schema name', required: true, hint: 'Lower-case letters, digits and _, starting with a letter or _; at most 63.' }),
      field({ name: 'domains', label: 'Domains', required: true, hint: 'One or more, separated by spaces or commas; the first is primary.' }),
      field({ name: 'paid_until', label: 'Paid until', type: 'date', hint: 'Leave empty for no end date.' }),
      field({ name: 'on_trial', label: 'On trial', type: 'checkbox' }),
    ], 'Create the tenant', async (f) => {
      const t = await api('POST', '/tenants/', { json: {
        name: control(f, 'name').value, schema_name: control(f, 'schema_name').value.trim(),
        domains: splitList(control(f, 'domains').value), paid_until: control(f, 'paid_until').value || null,
        on_trial: control(f, 'on_trial').checked,
      } });
      go(`#/tenants/${enc(t.schema_name)}`, `Tenant ${t.schema_name} created.`);
    });

    const restore = form('restore-form', 'Restore a tenant from an archive', [
      field({ name: 'file', label: 'Archive', type: 'file', accept: '.gz,.tgz,application/gzip', required: true, hint: 'A file made by an export (strictmt tenants export, or the export on a tenant\u2019s page).' }),
      field({ name: 'schema', label: 'Schema name', hint: 'Leave empty to keep the archive\u2019s.' }),
      field({ name: 'name', label: 'Name', hint: 'Leave empty to keep the archive\u2019s.' }),
      field({ name: 'domain', label: 'Domains', hint: 'Leave empty to keep the archive\u2019s; else spaces or commas between them.' }),
    ], 'Restore', async (f) => {
      const file = control(f, 'file').files[0];
      if (!file) {
        fieldError(f, 'file', 'Choose an archive file.');
        control(f, 'file').focus();
        return;
      }
      const q = new URLSearchParams();
      if (control(f, 'schema').value.trim()) q.set('schema', control(f, 'schema').value.trim());
      if (control(f, 'name').value.trim()) q.set('name', control(f, 'name').value.trim());
      for (const d of splitList(control(f, 'domain').value)) q.append('domain', d);
      say(`Restoring ${file.name}…`);
      const t = await api('POST', '/tenants/restore/?' + q, { body: file, contentType: 'application/gzip' });
      const rowCount = (t.tables || []).reduce((n, x) => n + (x.rows || 0), 0);
      go(`#/tenants/${enc(t.schema_name)}`, `Tenant ${t.schema_name} restored from ${file.name}: ${formatCount(rowCount)} rows.`);
    }, { intro: 'The archive becomes a new tenant; a schema name or domain in use is refused.' });

    if (!show(seq, 'Tenants',
      el('h1', { tabindex: '-1', text: 'Tenants' }),
      el('div', { class: 'toolbar' }, searchForm, sortField), summary, table, pager,
      el('div', { class: 'columns' }, create, restore))) return;
    focusHeading();
  }

  // ---- one tenant ----

  function datetimeLocal(s) {
    if (!s) return '';
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) return '';
    const off = d.getTimezoneOffset() * 60000;
    return new Date(d.getTime() - off).toISOString().slice(0, 16);
  }

  function fact(term, ...value) {
    return [el('dt', { text: term }), el('dd', {}, ...value)];
  }

  async function renderTenant(seq, schema) {
    let t;
    try {
      t = await api('GET', `/tenants/${enc(schema)}/`);
    } catch (e) {
      if (e instanceof APIError && e.status === 404) {
        show(seq, 'No such tenant', el('h1', { tabindex: '-1', text: 'No such tenant' }),
          el('p', { text: `There is no tenant with the schema name “${schema}”.` }),
          el('p', {}, el('a', { href: '#/tenants', text: 'Back to the tenants' })));
        focusHeading();
        return;
      }
      throw e;
    }
    const base = `/tenants/${enc(t.schema_name)}`;
    const reload = async (message, focusId) => {
      await renderTenant(routeSeq, t.schema_name);
      say(message);
      const target = focusId && document.getElementById(focusId);
      if (target) target.focus();
    };

    const u = t.usage;
    const facts = el('dl', { class: 'facts', id: 'tenant-facts' },
      fact('Schema', el('code', { text: t.schema_name })),
      fact('State', stateBadge(t), t.state_reason ? ` — ${t.state_reason}` : '',
        t.state_until ? ` (until ${formatTime(t.state_until)})` : '',
        t.purge_after ? ` (may be purged after ${formatTime(t.purge_after)})` : ''),
      fact('Paid until', paidCell(t)),
      fact('Created on', t.created_on),
      u ? fact('Size', formatBytes(u.bytes)) : null,
      u ? fact('Rows', formatCount(u.rows)) : null,
      u && u.users !== undefined ? fact('Users', formatCount(u.users)) : null,
      u ? fact('Last request', u.last_request ? formatTime(u.last_request) : 'never') : null);

    // Domains: each with its actions, then a form to add one.
    const domainList = el('ul', { class: 'domains', id: 'domain-list' }, t.domains.map((d) => el('li', { 'data-domain': d.domain },
      el('span', { class: 'domain', text: d.domain }),
      d.is_primary ? el('span', { class: 'badge primary', text: 'primary' }) : null,
      el('span', { class: 'row-actions' },
        d.is_primary ? null : el('button', { type: 'button', class: 'secondary', 'data-action': 'primary',
          onclick: () => domainAction(() => api('PATCH', `/domains/${enc(d.domain)}/`, { json: { is_primary: true } }),
            `${d.domain} is now the primary domain.`) }, 'Make primary', hiddenText(`: ${d.domain}`)),
        t.domains.length > 1 ? el('button', { type: 'button', class: 'secondary', 'data-action': 'remove',
          onclick: () => domainAction(() => api('DELETE', `/domains/${enc(d.domain)}/`),
            `${d.domain} removed.`) }, 'Remove', hiddenText(`: ${d.domain}`)) : null))));
    const domainError = el('p', { class: 'form-error', id: 'domain-list-error', role: 'alert' });
    async function domainAction(call, message) {
      clearBanner();
      domainError.textContent = '';
      try {
        await call();
      } catch (e) {
        if (e instanceof APIError && e.status === 401) return;
        domainError.textContent = e.message;
        showBanner(e.message);
        return;
      }
      await reload(message, 'domains-title');
    }
    const addDomain = form('domain-form', 'Add a domain', [
      field({ name: 'domain', label: 'Domain', required: true, hint: 'A host name, such as shop.example.com.' }),
      field({ name: 'is_primary', label: 'Make it the primary domain', type: 'checkbox' }),
    ], 'Add the domain', async (f) => {
      const d = await api('POST', `${base}/domains/`, { json: { domain: control(f, 'domain').value.trim(), is_primary: control(f, 'is_primary').checked } });
      await reload(`${d.domain} added.`, 'domains-title');
    }, { headingLevel: 'h3' });

    const stateForm = form('state-form', 'Change the state', [
      field({ name: 'state', label: 'State', value: t.state, options: STATES.map((s) => [s, STATE_LABELS[s]]),
        hint: 'read-only: reads are served, writes get 503. suspended: the API answers 403; the data is kept.' }),
      field({ name: 'state_reason', label: 'Reason', multiline: true, maxlength: 500, value: t.state_reason, hint: 'For operators; never shown to the tenant\u2019s users.' }),
      field({ name: 'state_until', label: 'Until (your local time)', type: 'datetime-local', value: datetimeLocal(t.state_until), hint: 'Optional: the tenant is active again then.' }),
      field({ name: 'purge_after', label: 'May be purged after (your local time)', type: 'datetime-local', value: datetimeLocal(t.purge_after), hint: 'Suspended only; nothing is deleted until tenants purge runs.' }),
    ], 'Change the state', async (f) => {
      const body = { state: control(f, 'state').value, state_reason: control(f, 'state_reason').value };
      const until = toRFC3339(control(f, 'state_until').value);
      const purge = toRFC3339(control(f, 'purge_after').value);
      if (until) body.state_until = until;
      if (purge) body.purge_after = purge;
      if (body.state === 'active') {
        delete body.state_until;
        delete body.purge_after;
      }
      const nt = await api('PATCH', `${base}/`, { json: body });
      await reload(`${nt.schema_name} is now ${STATE_LABELS[nt.state] || nt.state}.`, 'state-form-title');
    });

    const subscription = form('subscription-form', 'Name and subscription', [
      field({ name: 'name', label: 'Name', value: t.name, required: true, maxlength: 200 }),
      field({ name: 'paid_until', label: 'Paid until', type: 'date', value: t.paid_until || '', hint: 'Leave empty for no end date.' }),
      field({ name: 'on_trial', label: 'On trial', type: 'checkbox', checked: t.on_trial }),
    ], 'Save', async (f) => {
      const nt = await api('PATCH', `${base}/`, { json: {
        name: control(f, 'name').value, paid_until: control(f, 'paid_until').value || null, on_trial: control(f, 'on_trial').checked,
      } });
      await reload(`${nt.schema_name} saved.`, 'subscription-form-title');
    });

    const exportResult = el('p', { id: 'export-result', class: 'hint' });
    const exportSection = el('section', { class: 'card', 'aria-labelledby': 'export-title' },
      el('h2', { id: 'export-title', tabindex: '-1', text: 'Export' }),
      el('p', { class: 'hint', text: 'Downloads the tenant\u2019s archive: its domains and every row, password hashes included. Keep it as a secret.' }),
      el('div', { class: 'actions' }, el('button', { type: 'button', id: 'export-button', text: 'Download the export', onclick: async (ev) => {
        clearBanner();
        ev.target.disabled = true;
        exportResult.textContent = 'Exporting…';
        try {
          const resp = await api('GET', `${base}/export/`, { raw: true });
          setBusy(1);
          let blob;
          try {
            blob = await resp.blob();
          } finally {
            setBusy(-1);
          }
          const m = /filename="([^"]+)"/.exec(resp.headers.get('Content-Disposition') || '');
          const name = m ? m[1] : `${t.schema_name}.strictmt.tar.gz`;
          const url = URL.createObjectURL(blob);
          const a = el('a', { href: url, download: name, hidden: true });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60000);
          exportResult.textContent = `Downloaded ${name}: ${formatBytes(blob.size)} (${blob.size} bytes).`;
          exportResult.dataset.bytes = String(blob.size);
          say(exportResult.textContent);
        } catch (e) {
          exportResult.textContent = '';
          if (!(e instanceof APIError && e.status === 401)) showBanner(e.message);
        } finally {
          ev.target.disabled = false;
        }
      } })),
      exportResult);

    const clone = form('clone-form', 'Clone', [
      field({ name: 'schema_name', label: 'New schema name', required: true }),
      field({ name: 'domains', label: 'Domains of the clone', required: true, hint: 'One or more, separated by spaces or commas.' }),
      field({ name: 'name', label: 'Name of the clone', hint: 'Leave empty to keep this tenant\u2019s name.' }),
      field({ name: 'without_users', label: 'Without users (their todos and projects are kept, ownerless)', type: 'checkbox' }),
    ], 'Clone the tenant', async (f) => {
      const body = { schema_name: control(f, 'schema_name').value.trim(), domains: splitList(control(f, 'domains').value),
        without_users: control(f, 'without_users').checked };
      if (control(f, 'name').value.trim()) body.name = control(f, 'name').value.trim();
      const c = await api('POST', `${base}/clone/`, { json: body });
      const rowCount = (c.tables || []).reduce((n, x) => n + (x.rows || 0), 0);
      go(`#/tenants/${enc(c.schema_name)}`, `Tenant ${c.schema_name} cloned from ${t.schema_name}: ${formatCount(rowCount)} rows.`);
    }, { intro: 'A copy of this tenant\u2019s rows, from one snapshot, as a new tenant.' });

    const del = form('delete-form', 'Delete', [
      field({ name: 'confirm', label: `Type ${t.schema_name} to confirm`, required: true }),
      field({ name: 'drop_schema', label: 'Also drop the schema and every row in it', type: 'checkbox' }),
    ], 'Delete the tenant', async (f) => {
      if (control(f, 'confirm').value.trim() !== t.schema_name) {
        fieldError(f, 'confirm', `Type the schema name, ${t.schema_name}, exactly.`);
        control(f, 'confirm').focus();
        return;
      }
      const drop = control(f, 'drop_schema').checked;
      await api('DELETE', `${base}/${drop ? '?drop_schema=true' : ''}`);
      go('#/tenants', `Tenant ${t.schema_name} deleted${drop ? ', with its schema and data' : '; its schema is kept'}.`);
    }, { danger: true, intro: 'Removes the tenant\u2019s catalog rows, domains and role: its API stops at once.' });

    if (!show(seq, t.schema_name,
      el('p', { class: 'crumbs' }, el('a', { href: '#/tenants', text: 'All tenants' })),
      el('h1', { tabindex: '-1', id: 'tenant-title' }, t.name, ' ', el('span', { class: 'muted', text: `(${t.schema_name})` })),
      facts,
      el('div', { class: 'columns' },
        el('section', { class: 'card', id: 'domains', 'aria-labelledby': 'domains-title' },
          el('h2', { id: 'domains-title', tabindex: '-1', text: 'Domains' }), domainList, domainError, addDomain),
        el('div', { class: 'stack' }, stateForm, subscription)),
      el('div', { class: 'columns' }, exportSection, clone),
      del)) return;
    focusHeading();
  }

  // ---- the fleet ----

  async function renderFleet(seq) {
    const f = await api('GET', '/fleet/');
    const m = f.migrations;
    const states = el('table', { id: 'fleet-states', class: 'compact' },
      el('caption', { text: 'Tenants by state' }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'State' }), el('th', { scope: 'col', text: 'Tenants' }))),
      el('tbody', {}, STATES.map((s) => el('tr', { 'data-state': s }, el('th', { scope: 'row' }, el('span', { class: `badge state-${s}`, text: STATE_LABELS[s] })),
        el('td', { class: 'num', text: formatCount(f.by_state[s] || 0) })))));
    const pendingPart = m.pending_count === 0
      ? el('p', { id: 'fleet-pending', text: `Every tenant schema has every migration, up to version ${m.latest}.` })
      : el('div', { id: 'fleet-pending' },
        el('p', { text: `${formatCount(m.pending_count)} schema(s) lack migrations (the latest is ${m.latest}); strictmt migrate applies them.${m.pending_count > m.pending.length ? ` The first ${m.pending.length} are listed.` : ''}` }),
        el('table', { class: 'compact' }, el('caption', { class: 'visually-hidden', text: 'Schemas with pending migrations' }),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Schema' }), el('th', { scope: 'col', text: 'Pending versions' }))),
          el('tbody', {}, m.pending.map((p) => el('tr', {}, el('th', { scope: 'row' }, el('a', { href: `#/tenants/${enc(p.schema_name)}`, text: p.schema_name })),
            el('td', { text: p.versions.join(', ') }))))));
    const unreadablePart = m.unreadable_count === 0
      ? el('p', { id: 'fleet-unreadable', text: 'Every tenant schema\u2019s migration versions could be read.' })
      : el('div', { id: 'fleet-unreadable' },
        el('p', { text: `${formatCount(m.unreadable_count)} schema(s) could not be read.` }),
        el('ul', {}, m.unreadable.map((x) => el('li', {}, el('code', { text: x.schema_name }), ': ', x.detail))));
    if (!show(seq, 'Fleet',
      el('h1', { tabindex: '-1', text: 'Fleet' }),
      el('dl', { class: 'facts', id: 'fleet-facts' },
        fact('Tenants', formatCount(f.tenants)),
        fact('Spare schemas ready', formatCount(f.spare_schemas_ready)),
        fact('Latest tenant migration', String(m.latest))),
      el('div', { class: 'columns' },
        el('section', { class: 'card', 'aria-labelledby': 'fleet-states-title' }, el('h2', { id: 'fleet-states-title', text: 'States' }), states),
        el('section', { class: 'card', 'aria-labelledby': 'fleet-migrations-title' }, el('h2', { id: 'fleet-migrations-title', text: 'Migrations' }),
          pendingPart, unreadablePart)))) return;
    focusHeading();
  }

  // ---- start ----

  document.getElementById('forget-token').addEventListener('click', () => {
    clearBanner();
    say('The token is forgotten in this tab.');
    forgetToken();
  });
  document.getElementById('banner-close').addEventListener('click', clearBanner);
  window.addEventListener('hashchange', () => {
    clearBanner();
    say(nextStatus);
    nextStatus = '';
    route();
  });
  setBusy(0);
  route();
})();
