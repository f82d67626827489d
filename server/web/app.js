// fieldsync dashboard: the page a team lead (or a worker, read-only for decisions) uses to
// follow the caseload, decide open conflicts and read a case's history.
//
// Rules this file keeps (the server's Content-Security-Policy and the data's sensitivity):
// - every string that comes from the server reaches the DOM through textContent,
//   createTextNode or setAttribute on an allow-listed attribute; markup is never parsed
//   from strings (no HTML-parsing DOM API is used anywhere in this file);
// - no inline styles: looks are CSS classes in app.css, charts are SVG with attributes;
// - every state-changing request is a same-origin POST with a JSON body and the
//   X-CSRF-Token header.
'use strict';

(function () {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const DAY_MS = 86400000;
  const REFRESH_DEBOUNCE_MS = 250;
  const RISKS = ['low', 'medium', 'high', 'critical'];
  const DEFAULT_STATUSES = ['assessment', 'planning', 'implementation', 'evaluation', 'closed'];
  const UNASSIGNED = ' unassigned'; // a filter value no user name can have (leading space)

  const state = {
    me: null,
    csrf: '',
    route: { name: 'caseload' },
    caseload: null,
    filters: { worker: '', status: '', search: '' },
    sort: { col: 'client', dir: 'asc' },
    caseDoc: null,
    caseError: null,
    conflicts: null,
    conflictsError: null,
    conflictsCanResolve: null,
    // per conflict key ("collection/id/field"): the last error of a decision, in flight flags
    resolveErrors: new Map(),
    resolving: new Set(),
    notice: null,
    assignError: null,
    assignNotice: null,
    assigning: false,
    scroll: {},
    routeToken: 0,
  };

  // ---------------------------------------------------------------- DOM helpers

  const SAFE_ATTR = /^(id|for|type|name|value|href|role|title|placeholder|autocomplete|spellcheck|novalidate|tabindex|scope|colspan|datetime|disabled|required|hidden|maxlength|lang|data-[a-z0-9-]+|aria-[a-z]+|x|y|x1|x2|y1|y2|dx|dy|width|height|viewBox|rx|ry|text-anchor|dominant-baseline|transform|points|d|r|cx|cy|preserveAspectRatio|focusable)$/;

  function setAttrs(node, attrs) {
    if (!attrs) return;
    for (const key of Object.keys(attrs)) {
      const v = attrs[key];
      if (v === null || v === undefined || v === false) continue;
      if (key === 'class') {
        const cls = Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v);
        if (cls) node.setAttribute('class', cls);
      } else if (key === 'text') {
        node.textContent = String(v);
      } else if (key.startsWith('on') && typeof v === 'function') {
        node.addEventListener(key.slice(2), v);
      } else if (SAFE_ATTR.test(key)) {
        const s = v === true ? '' : String(v);
        if (key === 'href' && !s.startsWith('#')) throw new Error('only in-page links are built here');
        node.setAttribute(key, s);
      } else {
        throw new Error('attribute not allowed: ' + key);
      }
    }
  }

  function appendKids(node, kids) {
    for (const kid of kids) {
      if (kid === null || kid === undefined || kid === false) continue;
      if (Array.isArray(kid)) appendKids(node, kid);
      else if (kid instanceof Node) node.appendChild(kid);
      else node.appendChild(document.createTextNode(String(kid)));
    }
  }

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    appendKids(node, kids);
    return node;
  }

  function svg(tag, attrs, ...kids) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    appendKids(node, kids);
    return node;
  }

  const $ = (id) => document.getElementById(id);

  function show(node, visible) {
    if (visible) node.removeAttribute('hidden');
    else node.setAttribute('hidden', '');
  }

  // A class name derived from a server value: only known values, never the raw string.
  function known(value, list, fallback) {
    return list.includes(value) ? value : fallback;
  }

  // ---------------------------------------------------------------- formatting

  const pad2 = (n) => String(n).padStart(2, '0');

  function fmtDate(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '—';
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  }

  function fmtDateTime(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '—';
    const d = new Date(ms);
    return `${fmtDate(ms)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  }

  function utcDay(ms) {
    const d = new Date(ms);
    return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  }

  function serverNow() {
    return state.caseload && typeof state.caseload.now_ms === 'number' ? state.caseload.now_ms : Date.now();
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return '(empty)';
    if (typeof v === 'string') return v === '' ? '(empty string)' : v;
    if (Array.isArray(v)) return v.length ? v.map(fmtValue).join(', ') : '(none)';
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return JSON.stringify(v);
  }

  function shortDevice(hex) {
    return typeof hex === 'string' && hex ? hex.slice(0, 8) : '—';
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function fmtDays(days) {
    if (days < 1) {
      const hours = Math.max(0, Math.round(days * 24));
      return hours === 0 ? 'just now' : `${hours} h`;
    }
    return `${days < 10 ? days.toFixed(1) : Math.round(days)} d`;
  }

  function caseHref(id) {
    return '#/case/' + encodeURIComponent(id);
  }

  // ---------------------------------------------------------------- HTTP

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  let fetchInBackground = false;  // set by refreshNow() around the fetches of a live re-read

  // GET when body is undefined, otherwise a POST with a JSON body and the CSRF header.
  // A 401 (other than a failed login) means the session is gone: show the login form.
  async function api(path, body, opts) {
    const init = { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    // A re-read triggered by a live event is not the user's doing: the server does not count
    // it as activity, so an unattended page still signs out when idle.
    if (fetchInBackground || (opts && opts.background)) init.headers['X-Background'] = '1';
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.headers['X-CSRF-Token'] = state.csrf || '';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'Could not reach the server. Check the connection; the page will retry on the next change.');
    }
    let data = null;
    const text = await res.text().catch(() => '');
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === 'string' && data.error
        ? data.error
        : `The server answered ${res.status}${res.statusText ? ' ' + res.statusText : ''}.`;
      const err = new ApiError(res.status, msg);
      if (res.status === 401 && !(opts && opts.login)) loggedOut();
      throw err;
    }
    return data || {};
  }

  function showBanner(message) {
    const b = $('banner');
    b.textContent = message || '';
    show(b, Boolean(message));
  }

  // ---------------------------------------------------------------- session

  function setMe(me) {
    state.me = { user: me.user, role: me.role, team: me.team };
    if (typeof me.csrf === 'string') state.csrf = me.csrf;
    $('me-user').textContent = me.user || '';
    const role = $('me-role');
    role.textContent = me.role || '';
    role.setAttribute('class', 'badge badge-role role-' + known(me.role, ['worker', 'lead', 'admin'], 'other'));
    $('me-team').textContent = me.team ? `team ${me.team}` : '';
  }

  function canResolveByRole() {
    return Boolean(state.me) && state.me.role !== 'worker';
  }

  function clearData() {
    state.caseload = null;
    state.caseDoc = null;
    state.conflicts = null;
    state.conflictsCanResolve = null;
    state.resolveErrors.clear();
    state.resolving.clear();
    state.notice = null;
    state.filters = { worker: '', status: '', search: '' };
    $('filter-worker').value = '';
    $('filter-status').value = '';
    $('search-client').value = '';
    $('case-rows').replaceChildren();
    $('charts').replaceChildren();
    $('conflict-list').replaceChildren();
    $('view-case').replaceChildren();
    $('case-count').textContent = '';
  }

  function loggedOut(message) {
    const wasIn = state.me !== null;
    // several requests in flight may all learn of the lost session: act on the first only
    if (!wasIn && !message && !$('view-login').hidden) return;
    state.me = null;
    state.csrf = '';
    stopEvents();
    clearData();
    showLogin(message || (wasIn ? 'Your session ended. Please sign in again.' : ''));
  }

  function showLogin(message) {
    show($('boot-loading'), false);
    show($('topbar'), false);
    showBanner('');
    for (const id of ['view-caseload', 'view-overview', 'view-conflicts', 'view-case']) show($(id), false);
    show($('view-login'), true);
    setLoginError(message || '');
    $('login-password').value = '';
    const user = $('login-user');
    (user.value ? $('login-password') : user).focus();
  }

  function setLoginError(message) {
    const e = $('login-error');
    e.textContent = message;
    show(e, Boolean(message));
  }

  async function onLoginSubmit(ev) {
    ev.preventDefault();
    const user = $('login-user').value.trim();
    const password = $('login-password').value;
    if (!user || !password) {
      setLoginError('Enter your user name and password.');
      return;
    }
    const button = $('login-submit');
    button.disabled = true;
    setLoginError('');
    try {
      const me = await api('/api/login', { user, password }, { login: true });
      $('login-password').value = '';
      enterApp(me);
    } catch (e) {
      setLoginError(e.message);
      $('login-password').select();
    } finally {
      button.disabled = false;
    }
  }

  async function onLogout() {
    stopEvents();
    try {
      await api('/api/logout', {});
    } catch (e) {
      // the session may already be gone; the page forgets it either way
    }
    loggedOut();
    setLoginError('');
  }

  function enterApp(me) {
    setMe(me);
    show($('view-login'), false);
    show($('boot-loading'), false);
    show($('topbar'), true);
    startEvents();
    route();
  }

  // ---------------------------------------------------------------- routing

  function parseHash() {
    const h = location.hash || '';
    const m = /^#\/case\/(.+)$/.exec(h);
    if (m) {
      let id;
      try { id = decodeURIComponent(m[1]); } catch (e) { id = m[1]; }
      return { name: 'case', id };
    }
    if (h === '#/conflicts') return { name: 'conflicts' };
    if (h === '#/overview') return { name: 'overview' };
    return { name: 'caseload' };
  }

  const VIEWS = { caseload: 'view-caseload', overview: 'view-overview', conflicts: 'view-conflicts', case: 'view-case' };

  function route() {
    if (!state.me) return;
    const prev = state.route;
    // remember where the user was in a list view, to come back to the same place
    if (prev && prev.name !== 'case') state.scroll[prev.name] = window.scrollY;
    const next = parseHash();
    const sameCase = prev && prev.name === 'case' && next.name === 'case' && prev.id === next.id;
    state.route = next;
    state.routeToken++;
    if (!prev || prev.name !== next.name || prev.id !== next.id) state.notice = null;
    for (const [name, id] of Object.entries(VIEWS)) show($(id), name === next.name);
    for (const a of document.querySelectorAll('.nav-link')) {
      const active = a.getAttribute('data-nav') === next.name;
      a.classList.toggle('active', active);
      if (active) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (next.name === 'case' && !sameCase) {
      state.caseDoc = null;
      state.caseError = null;
      state.assignError = null;
      state.assignNotice = null;
      renderCase();
      window.scrollTo(0, 0);
    } else if (next.name !== 'case') {
      // render what is known at once, then bring it up to date
      if (next.name === 'caseload') renderCaseload();
      if (next.name === 'overview') renderCharts();
      if (next.name === 'conflicts') renderConflicts();
      window.scrollTo(0, state.scroll[next.name] || 0);
    }
    document.title = next.name === 'case' ? `Case ${next.id} · fieldsync`
      : `${next.name.charAt(0).toUpperCase()}${next.name.slice(1)} · fieldsync`;
    refreshNow();
  }

  // ---------------------------------------------------------------- loading and live refresh

  let refreshTimer = null;
  let refreshRun = null;     // the refresh in flight (a promise), or null
  let refreshQueued = null;  // the one asked for while it ran: { background, promise, resolve }

  // Re-fetch what is on screen, at most once per REFRESH_DEBOUNCE_MS.
  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      refreshNow(true);
    }, REFRESH_DEBOUNCE_MS);
  }

  // Fetch what the current route shows. One refresh runs at a time; one asked for while
  // another runs starts as soon as that one ends (it may be for another route), and the
  // promise returned resolves when a refresh started after this call has finished, so a
  // caller that awaits it (a decision, a reassignment) sees data read after its own write.
  // It is "background" (not the user's activity) only if every caller asking for it was.
  function refreshNow(background = false) {
    if (!state.me) return Promise.resolve();
    if (refreshRun) {
      if (!refreshQueued) {
        let resolve;
        const promise = new Promise((r) => { resolve = r; });
        refreshQueued = { background, promise, resolve };
      } else if (!background) {
        refreshQueued.background = false;
      }
      return refreshQueued.promise;
    }
    refreshRun = runRefresh(background).finally(() => {
      refreshRun = null;
      const next = refreshQueued;
      refreshQueued = null;
      if (next) refreshNow(next.background).then(next.resolve, next.resolve);
    });
    return refreshRun;
  }

  async function runRefresh(background) {
    const r = state.route;
    const token = state.routeToken;
    // Each load calls api() before its first await, so the flag covers exactly these fetches.
    fetchInBackground = background;
    let jobs;
    try {
      jobs = [loadCaseload()];
      if (r.name === 'case') jobs.push(loadCase(r.id, token));
      if (r.name === 'conflicts') jobs.push(loadConflicts(token));
    } finally {
      fetchInBackground = false;
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((x) => x.status === 'rejected');
    if (failed && state.me) {
      const e = failed.reason;
      if (e && e.status !== 401) showBanner(e.message || String(e));
    } else {
      showBanner('');
    }
  }

  async function loadCaseload() {
    const data = await api('/api/caseload');
    if (!state.me) return;
    state.caseload = data;
    // Read before the stream's hello: what was committed in between may be missing (the
    // hello came while this read was on its way, and so could not compare heads).
    if (helloHead !== null && typeof data.head === 'number' && data.head < helloHead) scheduleRefresh();
    updateFilterOptions();
    updateNavCount();
    const r = state.route.name;
    keepingScroll(() => {
      if (r === 'caseload') renderCaseload();
      if (r === 'overview') renderCharts();
    });
  }

  async function loadCase(id, token) {
    try {
      const doc = await api('/api/case?id=' + encodeURIComponent(id));
      if (token !== state.routeToken || !state.me) return;
      state.caseDoc = doc;
      state.caseError = null;
    } catch (e) {
      if (token !== state.routeToken || !state.me) return;
      if (e.status === 401) throw e;
      state.caseDoc = null;
      state.caseError = e.message;
    }
    keepingScroll(renderCase);
  }

  async function loadConflicts(token) {
    try {
      const data = await api('/api/conflicts');
      if (token !== state.routeToken || !state.me) return;
      state.conflicts = Array.isArray(data.conflicts) ? data.conflicts : [];
      state.conflictsCanResolve = typeof data.can_resolve === 'boolean' ? data.can_resolve : null;
      state.conflictsError = null;
    } catch (e) {
      if (token !== state.routeToken || !state.me) return;
      if (e.status === 401) throw e;
      state.conflictsError = e.message;
    }
    keepingScroll(renderConflicts);
  }

  // Re-render without moving the user: keep the window's scroll, typed text, selected
  // options and the focused control (by their data-keep keys).
  function keepingScroll(fn) {
    const x = window.scrollX;
    const y = window.scrollY;
    const kept = new Map();
    for (const n of document.querySelectorAll('[data-keep]')) kept.set(n.getAttribute('data-keep'), n.value);
    const active = document.activeElement;
    const activeKey = active && active.getAttribute ? active.getAttribute('data-keep') : null;
    let selStart = null;
    let selEnd = null;
    if (activeKey && typeof active.selectionStart === 'number') {
      selStart = active.selectionStart;
      selEnd = active.selectionEnd;
    }
    fn();
    for (const n of document.querySelectorAll('[data-keep]')) {
      const k = n.getAttribute('data-keep');
      if (!kept.has(k)) continue;
      const v = kept.get(k);
      if (n.tagName === 'SELECT') {
        if (Array.from(n.options).some((o) => o.value === v)) n.value = v;
      } else {
        n.value = v;
      }
    }
    if (activeKey && document.activeElement !== active) {
      const again = Array.from(document.querySelectorAll('[data-keep]')).find((n) => n.getAttribute('data-keep') === activeKey);
      if (again) {
        again.focus({ preventScroll: true });
        if (selStart !== null && typeof again.setSelectionRange === 'function') {
          try { again.setSelectionRange(selStart, selEnd); } catch (e) { /* not a text input */ }
        }
      }
    }
    window.scrollTo(x, y);
  }

  function updateNavCount() {
    const badge = $('nav-conflict-count');
    const cases = (state.caseload && state.caseload.cases) || [];
    const n = cases.reduce((sum, c) => sum + (Number(c.open_conflicts) || 0), 0);
    badge.textContent = String(n);
    badge.setAttribute('aria-label', plural(n, 'open conflict', 'open conflicts'));
    show(badge, n > 0);
  }

  // ---------------------------------------------------------------- live events

  let events = null;
  let eventsRetry = null;
  let helloHead = null;  // the head the newest stream's hello named

  function setLive(kind) {
    const labels = { connecting: 'connecting', live: 'live', reconnecting: 'reconnecting…', offline: 'offline' };
    const node = $('live');
    node.setAttribute('data-state', kind);
    node.setAttribute('title', kind === 'live' ? 'Updates appear as devices sync' : 'Live updates are not connected');
    $('live-text').textContent = labels[kind] || kind;
  }

  function startEvents() {
    if (events || typeof EventSource === 'undefined') return;
    clearTimeout(eventsRetry);
    setLive('connecting');
    const es = new EventSource('/api/events');
    events = es;
    es.addEventListener('open', () => {
      if (events === es) setLive('live');
    });
    es.addEventListener('hello', (ev) => {
      if (events !== es) return;
      setLive('live');
      // after a reconnect we may have missed changes
      const head = parseHead(ev.data);
      helloHead = head;
      if (state.caseload && head !== null && head !== state.caseload.head) scheduleRefresh();
    });
    es.addEventListener('change', () => {
      if (events === es) scheduleRefresh();
    });
    es.addEventListener('error', () => {
      if (events !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // the server refused the stream (for example 401): find out whether we are logged out
        events = null;
        setLive('offline');
        checkSession(() => {
          eventsRetry = setTimeout(startEvents, 3000);
        });
      } else {
        setLive('reconnecting');
        checkSession(null);
      }
    });
  }

  function stopEvents() {
    clearTimeout(eventsRetry);
    helloHead = null;
    if (events) {
      events.close();
      events = null;
    }
    setLive('offline');
  }

  // Asks the server whether the session still holds (after the event stream failed). A
  // check already in flight is shared, and every caller's stillIn runs when the answer says
  // the session holds or the server could not be reached. It is sent as background: a
  // failing stream is not the user's activity and must not keep an idle session open.
  let sessionCheck = null;
  async function checkSession(stillIn) {
    if (!state.me) return;
    if (!sessionCheck) {
      sessionCheck = (async () => {
        try {
          const me = await api('/api/me', undefined, { background: true });
          if (state.me) setMe(me);
          return true;
        } catch (e) {
          // 401 already switched to the login form; otherwise the server is unreachable
          return e.status !== 401;
        }
      })().finally(() => { sessionCheck = null; });
    }
    const holds = await sessionCheck;
    if (holds && stillIn && state.me) stillIn();
  }

  function parseHead(data) {
    try {
      const v = JSON.parse(data);
      return v && typeof v.head === 'number' ? v.head : null;
    } catch (e) {
      return null;
    }
  }

  // ---------------------------------------------------------------- caseload

  function statusList() {
    const s = state.caseload && Array.isArray(state.caseload.statuses) ? state.caseload.statuses : DEFAULT_STATUSES;
    return s;
  }

  function workerList() {
    const cl = state.caseload;
    const names = new Set(cl && Array.isArray(cl.workers) ? cl.workers : []);
    let unassigned = false;
    for (const c of (cl && cl.cases) || []) {
      if (c.assigned_to) names.add(c.assigned_to);
      else unassigned = true;
    }
    return { names: Array.from(names).sort((a, b) => a.localeCompare(b)), unassigned };
  }

  function fillSelect(select, first, options) {
    const wanted = [first].concat(options);
    const current = Array.from(select.options).map((o) => `${o.value}\u0000${o.textContent}`);
    const next = wanted.map((o) => `${o.value}\u0000${o.label}`);
    if (current.length === next.length && current.every((v, i) => v === next[i])) return;
    const value = select.value;
    select.replaceChildren(...wanted.map((o) => el('option', { value: o.value }, o.label)));
    select.value = wanted.some((o) => o.value === value) ? value : '';
  }

  function updateFilterOptions() {
    const w = workerList();
    const workerOpts = w.names.map((n) => ({ value: n, label: n }));
    if (w.unassigned) workerOpts.push({ value: UNASSIGNED, label: '(unassigned)' });
    fillSelect($('filter-worker'), { value: '', label: 'All workers' }, workerOpts);
    fillSelect($('filter-status'), { value: '', label: 'All statuses' }, statusList().map((s) => ({ value: s, label: s })));
    // the saved filter may name an option that just appeared or vanished
    $('filter-worker').value = state.filters.worker;
    if ($('filter-worker').value !== state.filters.worker) state.filters.worker = $('filter-worker').value;
    $('filter-status').value = state.filters.status;
    if ($('filter-status').value !== state.filters.status) state.filters.status = $('filter-status').value;
  }

  const lower = (v) => fmtValue(v).toLowerCase();
  const SORTERS = {
    client: (c) => lower(c.client || c.id || ''),
    programme: (c) => (c.programme ? lower(c.programme) : null),
    status: (c) => {
      if (!c.status) return null;
      const i = statusList().indexOf(c.status);
      return i < 0 ? 1000 : i;
    },
    risk: (c) => {
      if (!c.risk) return null;
      const i = RISKS.indexOf(c.risk);
      return i < 0 ? -1 : i;
    },
    assigned_to: (c) => (c.assigned_to ? lower(c.assigned_to) : null),
    last_visit: (c) => (typeof c.last_visit_ms === 'number' ? c.last_visit_ms : null),
    next_follow_up: (c) => c.next_follow_up || null,
    open_conflicts: (c) => Number(c.open_conflicts) || 0,
  };

  // One collator for every comparison: localeCompare with options builds a new one per
  // call, which made sorting a few thousand cases take a noticeable part of a second.
  const COLLATOR = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

  function compareKeys(a, b) {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return COLLATOR.compare(String(a), String(b));
  }

  function visibleCases() {
    const all = (state.caseload && state.caseload.cases) || [];
    const f = state.filters;
    const needle = f.search.trim().toLocaleLowerCase();
    const rows = all.filter((c) => {
      if (f.worker === UNASSIGNED ? Boolean(c.assigned_to) : f.worker && c.assigned_to !== f.worker) return false;
      if (f.status && c.status !== f.status) return false;
      // the client's name, or the case id (a case may have no client yet)
      if (needle && !`${c.client || ''}\n${c.id}`.toLocaleLowerCase().includes(needle)) return false;
      return true;
    });
    const key = SORTERS[state.sort.col] || SORTERS.client;
    const dir = state.sort.dir === 'desc' ? -1 : 1;
    // each row's key is computed once, not once per comparison
    const keyed = rows.map((c) => ({ c, k: key(c) }));
    keyed.sort((x, y) => {
      const ka = x.k;
      const kb = y.k;
      // empty values always go last, whatever the direction
      if (ka === null && kb !== null) return 1;
      if (kb === null && ka !== null) return -1;
      const d = ka === null ? 0 : compareKeys(ka, kb) * dir;
      return d !== 0 ? d : compareKeys(x.c.id, y.c.id);
    });
    return { rows: keyed.map((x) => x.c), total: all.length };
  }

  function updateSortHeaders() {
    for (const th of document.querySelectorAll('#case-table th[data-col]')) {
      const col = th.getAttribute('data-col');
      const arrow = th.querySelector('.arrow');
      if (col === state.sort.col) {
        th.setAttribute('aria-sort', state.sort.dir === 'asc' ? 'ascending' : 'descending');
        arrow.textContent = state.sort.dir === 'asc' ? ' ▲' : ' ▼';
        th.classList.add('sorted');
      } else {
        th.setAttribute('aria-sort', 'none');
        arrow.textContent = '';
        th.classList.remove('sorted');
      }
    }
  }

  function badge(kind, value, list) {
    if (!value) return el('span', { class: 'muted' }, '—');
    return el('span', { class: ['badge', kind, `${kind}-${known(value, list, 'other')}`] }, fmtValue(value));
  }

  function caseRow(c) {
    const tr = el('tr', { 'data-testid': 'case-row', 'data-case-id': c.id, class: ['case-row', c.overdue && 'row-overdue'] });
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('a, button')) return;
      location.hash = caseHref(c.id);
    });
    const clientCell = el('td', { 'data-col': 'client' },
      el('a', { href: caseHref(c.id), class: 'case-link', 'data-testid': 'case-link' }, c.client || '(no client)'),
      el('span', { class: 'sub' }, c.id));
    const conflicts = Number(c.open_conflicts) || 0;
    const followUp = el('td', { 'data-col': 'next_follow_up', class: c.overdue ? 'is-overdue' : null });
    if (c.next_follow_up) {
      followUp.appendChild(el('time', { datetime: c.next_follow_up }, c.next_follow_up));
      if (c.overdue) followUp.appendChild(el('span', { class: 'badge badge-overdue', 'data-testid': 'overdue' }, 'overdue'));
    } else {
      followUp.appendChild(el('span', { class: 'muted' }, '—'));
    }
    appendKids(tr, [
      clientCell,
      el('td', { 'data-col': 'programme' }, c.programme || el('span', { class: 'muted' }, '—')),
      el('td', { 'data-col': 'status' }, badge('status', c.status, statusList())),
      el('td', { 'data-col': 'risk' }, badge('risk', c.risk, RISKS)),
      el('td', { 'data-col': 'assigned_to' }, c.assigned_to || el('span', { class: 'muted' }, 'unassigned')),
      el('td', { 'data-col': 'last_visit' }, typeof c.last_visit_ms === 'number'
        ? el('time', { datetime: new Date(c.last_visit_ms).toISOString(), title: fmtDateTime(c.last_visit_ms) }, fmtDate(c.last_visit_ms))
        : el('span', { class: 'muted' }, 'none')),
      followUp,
      el('td', { 'data-col': 'open_conflicts', class: 'num' }, conflicts > 0
        ? el('span', { class: 'badge badge-conflict', 'aria-label': plural(conflicts, 'open conflict', 'open conflicts'), title: plural(conflicts, 'open conflict', 'open conflicts') }, String(conflicts))
        : el('span', { class: 'muted zero' }, '0')),
    ]);
    return tr;
  }

  function renderCaseload() {
    updateSortHeaders();
    const body = $('case-rows');
    if (!state.caseload) {
      body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: 8 }, 'Loading cases…')));
      return;
    }
    const { rows, total } = visibleCases();
    $('case-count').textContent = `${rows.length} of ${plural(total, 'case', 'cases')}`;
    if (rows.length === 0) {
      body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: 8 },
        total === 0 ? 'No cases in your scope.' : 'No cases match these filters.')));
      return;
    }
    body.replaceChildren(...rows.map(caseRow));
  }

  function bindCaseloadControls() {
    $('filter-worker').addEventListener('change', (e) => { state.filters.worker = e.target.value; renderCaseload(); });
    $('filter-status').addEventListener('change', (e) => { state.filters.status = e.target.value; renderCaseload(); });
    $('search-client').addEventListener('input', (e) => { state.filters.search = e.target.value; renderCaseload(); });
    $('filters-reset').addEventListener('click', () => {
      state.filters = { worker: '', status: '', search: '' };
      $('filter-worker').value = '';
      $('filter-status').value = '';
      $('search-client').value = '';
      renderCaseload();
    });
    for (const b of document.querySelectorAll('#case-table button.sort')) {
      b.addEventListener('click', () => {
        const col = b.getAttribute('data-sort');
        if (state.sort.col === col) state.sort.dir = state.sort.dir === 'asc' ? 'desc' : 'asc';
        else state.sort = { col, dir: 'asc' };
        renderCaseload();
      });
    }
  }

  // ---------------------------------------------------------------- charts (SVG)

  function chartFrame(testid, title, subtitle, body, legend) {
    return el('figure', { class: 'chart', 'data-testid': testid },
      el('figcaption', null, el('h2', null, title), subtitle ? el('p', { class: 'muted' }, subtitle) : null),
      legend || null,
      body);
  }

  function svgRoot(width, height, label) {
    return svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label, class: 'chart-svg', preserveAspectRatio: 'xMinYMin meet' });
  }

  // A readable axis for values up to v: a step of 1, 2 or 5 times a power of ten, at most
  // 8 steps, and the axis end as a whole number of steps.
  function axis(v) {
    const target = Math.max(v, 1);
    let step = 1;
    for (let p = Math.pow(10, Math.floor(Math.log10(target / 8))); ; p *= 10) {
      const found = [1, 2, 5].map((m) => m * p).find((st) => target / st <= 8);
      if (found) { step = Math.max(found, 1); break; }
    }
    const max = Math.max(step, Math.ceil(target / step - 1e-9) * step);
    const ticks = [];
    for (let t = 0; t <= max + 1e-9; t += step) ticks.push(t);
    return { max, ticks };
  }

  // Text for a chart label that must fit `width` user units (the labels are 12.5 units
  // high, about 8 a character at most): a longer one is cut with an ellipsis. The whole text
  // is then in the label's <title> (a tooltip), so a long name is never clipped unreadably
  // at the chart's left edge.
  const LABEL_CHAR = 8;
  function cut(text, chars) {
    const t = String(text);
    return t.length <= chars ? t : t.slice(0, Math.max(1, chars - 1)) + '…';
  }

  function chartLabel(attrs, text, shown) {
    return shown === text ? svg('text', attrs, text) : svg('text', attrs, svg('title', null, text), shown);
  }

  function chartCaseload(cl) {
    const statuses = statusList();
    const byWorker = new Map();
    for (const c of cl.cases || []) {
      const w = c.assigned_to || '(unassigned)';
      if (!byWorker.has(w)) byWorker.set(w, new Map());
      const s = statuses.includes(c.status) ? c.status : '(none)';
      const m = byWorker.get(w);
      m.set(s, (m.get(s) || 0) + 1);
    }
    for (const w of cl.workers || []) if (!byWorker.has(w)) byWorker.set(w, new Map());
    const workers = Array.from(byWorker.keys()).sort((a, b) => a.localeCompare(b));
    const segs = statuses.concat(['(none)']);
    const used = segs.filter((s) => workers.some((w) => byWorker.get(w).get(s)));
    const legend = el('ul', { class: 'legend', 'aria-label': 'Case status' },
      (used.length ? used : statuses).map((s) => el('li', null,
        el('span', { class: ['swatch', `fill-status-${known(s, DEFAULT_STATUSES, 'other')}`], 'aria-hidden': 'true' }), s)));
    if (workers.length === 0) {
      return chartFrame('chart-caseload', 'Caseload per worker', 'by case status', el('p', { class: 'muted' }, 'No cases.'), legend);
    }
    const rowH = 30;
    const left = 130;
    const right = 50;
    const top = 10;
    const width = 560;
    const plotW = width - left - right;
    const height = top + workers.length * rowH + 30;
    const { max, ticks } = axis(Math.max(...workers.map((w) => Array.from(byWorker.get(w).values()).reduce((a, b) => a + b, 0))));
    const scale = (n) => (n / max) * plotW;
    const root = svgRoot(width, height, 'Caseload per worker, stacked by case status');
    for (const v of ticks) {
      const x = left + scale(v);
      root.appendChild(svg('line', { x1: x, x2: x, y1: top, y2: top + workers.length * rowH, class: 'grid' }));
      root.appendChild(svg('text', { x, y: top + workers.length * rowH + 16, 'text-anchor': 'middle', class: 'tick' }, Number.isInteger(v) ? String(v) : v.toFixed(1)));
    }
    workers.forEach((w, i) => {
      const y = top + i * rowH;
      root.appendChild(chartLabel({ x: left - 8, y: y + rowH / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'label' },
        w, cut(w, Math.floor((left - 10) / LABEL_CHAR))));
      let x = left;
      let total = 0;
      for (const s of segs) {
        const n = byWorker.get(w).get(s) || 0;
        if (!n) continue;
        const bw = scale(n);
        root.appendChild(svg('rect', { x, y: y + 5, width: Math.max(bw, 1), height: rowH - 10, class: `fill-status-${known(s, DEFAULT_STATUSES, 'other')}` },
          svg('title', null, `${w}: ${plural(n, 'case', 'cases')} in ${s}`)));
        if (bw >= 18) root.appendChild(svg('text', { x: x + bw / 2, y: y + rowH / 2, 'text-anchor': 'middle', 'dominant-baseline': 'middle', class: 'bar-value' }, String(n)));
        x += bw;
        total += n;
      }
      root.appendChild(svg('text', { x: x + 6, y: y + rowH / 2, 'dominant-baseline': 'middle', class: 'total' }, String(total)));
    });
    return chartFrame('chart-caseload', 'Caseload per worker', 'cases assigned to each worker, by status', root, legend);
  }

  function chartVisits(cl) {
    const weeks = Array.isArray(cl.visits_per_week) ? cl.visits_per_week : [];
    if (weeks.length === 0) return chartFrame('chart-visits', 'Visits per week', 'last 12 weeks', el('p', { class: 'muted' }, 'No data.'));
    const width = 560;
    const height = 230;
    const left = 36;
    const right = 10;
    const top = 20;
    const bottom = 44;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const { max, ticks } = axis(Math.max(...weeks.map((w) => Number(w.visits) || 0)));
    const slot = plotW / weeks.length;
    const barW = Math.max(4, slot * 0.62);
    const root = svgRoot(width, height, 'Visits per week over the last weeks');
    for (const v of ticks) {
      const y = top + plotH - (v / max) * plotH;
      root.appendChild(svg('line', { x1: left, x2: width - right, y1: y, y2: y, class: 'grid' }));
      root.appendChild(svg('text', { x: left - 6, y, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'tick' }, Number.isInteger(v) ? String(v) : v.toFixed(1)));
    }
    weeks.forEach((w, i) => {
      const n = Number(w.visits) || 0;
      const h = (n / max) * plotH;
      const x = left + i * slot + (slot - barW) / 2;
      const y = top + plotH - h;
      const week = typeof w.week === 'string' ? w.week : '';
      root.appendChild(svg('rect', { x, y, width: barW, height: Math.max(h, n ? 1 : 0), class: 'fill-visits' },
        svg('title', null, `week of ${week}: ${plural(n, 'visit', 'visits')}`)));
      root.appendChild(svg('text', { x: x + barW / 2, y: y - 5, 'text-anchor': 'middle', class: 'bar-label' }, String(n)));
      root.appendChild(svg('text', { x: x + barW / 2, y: top + plotH + 16, 'text-anchor': 'middle', class: 'tick' }, week.slice(5)));
    });
    root.appendChild(svg('text', { x: left + plotW / 2, y: height - 6, 'text-anchor': 'middle', class: 'axis-title' }, 'week starting (month-day)'));
    const total = weeks.reduce((a, w) => a + (Number(w.visits) || 0), 0);
    return chartFrame('chart-visits', 'Visits per week', `${plural(total, 'visit', 'visits')} in the last ${weeks.length} weeks`, root);
  }

  function chartDevices(cl) {
    const devices = Array.isArray(cl.devices) ? cl.devices.slice() : [];
    const staleDays = typeof cl.stale_after_days === 'number' ? cl.stale_after_days : 3;
    const subtitle = `days since each device last synced; stale after ${plural(staleDays, 'day', 'days')}`;
    if (devices.length === 0) return chartFrame('chart-devices', 'Time since last sync', subtitle, el('p', { class: 'muted' }, 'No devices.'));
    const now = serverNow();
    const ageOf = (d) => (typeof d.last_sync_ms === 'number' ? Math.max(0, (now - d.last_sync_ms) / DAY_MS) : null);
    devices.sort((a, b) => {
      const x = ageOf(a);
      const y = ageOf(b);
      if (x === null || y === null) return x === null ? (y === null ? 0 : -1) : 1;
      return y - x;
    });
    const rowH = 28;
    const left = 240;
    const right = 120;
    const top = 10;
    const width = 1140;
    const plotW = width - left - right;
    const maxAge = Math.max(staleDays * 1.5, ...devices.map((d) => ageOf(d) || 0));
    const { max, ticks } = axis(maxAge);
    const scale = (days) => (days / max) * plotW;
    const height = top + devices.length * rowH + 32;
    const root = svgRoot(width, height, 'Days since each device last synced');
    for (const v of ticks) {
      const x = left + scale(v);
      root.appendChild(svg('line', { x1: x, x2: x, y1: top, y2: top + devices.length * rowH, class: 'grid' }));
      root.appendChild(svg('text', { x, y: top + devices.length * rowH + 16, 'text-anchor': 'middle', class: 'tick' }, `${Number.isInteger(v) ? v : v.toFixed(1)} d`));
    }
    const sx = left + scale(staleDays);
    root.appendChild(svg('line', { x1: sx, x2: sx, y1: top - 4, y2: top + devices.length * rowH, class: 'threshold' }));
    devices.forEach((d, i) => {
      const y = top + i * rowH;
      const age = ageOf(d);
      const stale = Boolean(d.stale);
      const g = svg('g', { class: ['device', stale ? 'stale' : 'fresh', d.state && d.state !== 'active' ? 'inactive' : null], 'data-testid': 'device-bar', 'data-stale': stale ? 'true' : 'false' });
      const user = d.user ? String(d.user) : '?';
      const rest = ` · ${shortDevice(d.id)}${d.state && d.state !== 'active' ? ` (${d.state})` : ''}`;
      const label = user + rest;
      // the user's name is cut first, to keep the device and its state readable
      const room = Math.floor((left - 10) / LABEL_CHAR);
      const shown = cut(cut(user, Math.max(4, room - rest.length)) + rest, room);
      g.appendChild(chartLabel({ x: left - 8, y: y + rowH / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'label' }, label, shown));
      let endX = left;
      if (age !== null) {
        const bw = Math.max(scale(age), 2);
        g.appendChild(svg('rect', { x: left, y: y + 5, width: bw, height: rowH - 10, class: stale ? 'fill-stale' : 'fill-fresh' },
          svg('title', null, `${label}: last sync ${fmtDateTime(d.last_sync_ms)}`)));
        endX = left + bw;
      }
      const text = age === null ? 'never' : fmtDays(age);
      g.appendChild(svg('text', { x: endX + 6, y: y + rowH / 2, 'dominant-baseline': 'middle', class: ['value', stale ? 'value-stale' : null] },
        stale ? `${text} · stale` : text));
      root.appendChild(g);
    });
    return chartFrame('chart-devices', 'Time since last sync', subtitle, root);
  }

  function renderCharts() {
    const box = $('charts');
    const cl = state.caseload;
    if (!cl) {
      box.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
      return;
    }
    $('overview-note').textContent = `as of ${fmtDateTime(serverNow())}`;
    box.replaceChildren(
      el('div', { class: 'chart-row' }, chartCaseload(cl), chartVisits(cl)),
      chartDevices(cl));
  }

  // ---------------------------------------------------------------- conflicts

  function conflictKey(cf) {
    return `${cf.collection}/${cf.id}/${cf.field}`;
  }

  const KIND_LABELS = { concurrent_edit: 'concurrent edits', edit_vs_delete: 'edit against a delete' };

  async function resolveConflict(cf, value, card) {
    const key = conflictKey(cf);
    if (state.resolving.has(key)) return;
    state.resolving.add(key);
    state.resolveErrors.delete(key);
    markBusy(card, true);
    let decided = false;
    try {
      // "base": the values shown. Should another value have arrived since, the server
      // refuses (409) rather than let the decision override a value nobody reviewed.
      const body = { collection: cf.collection, id: cf.id, field: cf.field, value };
      if (cf.kind === 'concurrent_edit') body.base = (cf.values || []).map((v) => v.op);
      await api('/api/resolve', body);
      state.notice = `Decided ${cf.field} of ${cf.collection}/${cf.id}: ${fmtValue(value)}`;
      decided = true;
    } catch (e) {
      if (e.status === 401) return;
      state.resolveErrors.set(key, e.message);
    } finally {
      state.resolving.delete(key);
    }
    // A decided card stays disabled until the read below replaces it (a second click would
    // only be told that there is nothing left to decide).
    if (!decided) markBusy(card, false);
    showCardError(card, state.resolveErrors.get(key));
    await refreshNow();
    if (state.route.name === 'conflicts') keepingScroll(renderConflicts);
  }

  function markBusy(card, busy) {
    if (!card) return;
    card.classList.toggle('busy', busy);
    for (const b of card.querySelectorAll('button, input')) b.disabled = busy;
  }

  function showCardError(card, message) {
    if (!card) return;
    const box = card.querySelector('.card-error');
    if (!box) return;
    box.textContent = message || '';
    show(box, Boolean(message));
  }

  function conflictCard(cf, canResolve, showCase) {
    const key = conflictKey(cf);
    const open = cf.status !== 'resolved';
    const card = el('article', { class: ['conflict-card', open ? 'open' : 'resolved'], 'data-testid': 'conflict-card', 'data-conflict': key });
    const caseId = cf.case_id || (cf.collection === 'cases' ? cf.id : null);
    const head = el('header', { class: 'card-head' },
      el('h3', null, el('span', { class: 'field-name' }, cf.field), ' ',
        el('span', { class: 'muted' }, `${cf.collection}/${cf.id}`)),
      el('span', { class: ['badge', open ? 'badge-conflict' : 'badge-resolved'] }, open ? 'open' : 'resolved'),
      el('span', { class: 'muted kind' }, KIND_LABELS[cf.kind] || cf.kind || ''));
    if (showCase && caseId) {
      head.appendChild(el('a', { href: caseHref(caseId), class: 'card-case', 'data-testid': 'conflict-case-link' },
        cf.client ? `${cf.client} (${caseId})` : caseId));
    }
    card.appendChild(head);
    const values = Array.isArray(cf.values) ? cf.values : [];
    const cols = el('div', { class: 'values', role: 'list' });
    for (const v of values) {
      const shown = cf.winner && v.op === cf.winner;
      const col = el('div', { class: ['value-col', shown && 'shown'], role: 'listitem', 'data-testid': 'conflict-value', 'data-op': v.op || '' },
        el('div', { class: 'value-text', 'data-testid': 'value-text' }, fmtValue(v.value)),
        el('dl', { class: 'meta' },
          el('dt', null, 'by'), el('dd', { 'data-testid': 'value-user' }, v.user || '—'),
          el('dt', null, 'device'), el('dd', { 'data-testid': 'value-device', title: v.device || '' }, shortDevice(v.device)),
          el('dt', null, 'when'), el('dd', { 'data-testid': 'value-when' }, fmtDateTime(v.at_ms))),
        shown ? el('p', { class: 'shown-note' }, open ? 'shown now' : 'kept') : null);
      if (open && canResolve) {
        col.appendChild(el('button', { type: 'button', class: 'btn', 'data-testid': 'keep-value', 'aria-label': `Keep ${fmtValue(v.value)}`, onclick: () => resolveConflict(cf, v.value, card) }, 'Keep this'));
      }
      cols.appendChild(col);
    }
    card.appendChild(cols);
    if (!open && cf.winner_value !== undefined) {
      card.appendChild(el('p', { class: 'muted' }, `Decided value: ${fmtValue(cf.winner_value)}`));
    }
    if (open && canResolve) {
      const inputId = `third-${key.replace(/[^A-Za-z0-9_-]/g, '_')}-${Math.random().toString(36).slice(2, 8)}`;
      const input = el('input', { id: inputId, type: 'text', class: 'third-input', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'third-value', 'data-keep': `third:${key}` });
      const form = el('form', { class: 'decide', novalidate: true },
        el('label', { for: inputId }, 'Third value'),
        input,
        el('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'decide' }, 'Decide'));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const value = input.value.trim();
        if (!value) {
          state.resolveErrors.set(key, 'Type the value to decide, or keep one of the values above.');
          showCardError(card, state.resolveErrors.get(key));
          input.focus();
          return;
        }
        resolveConflict(cf, value, card);
      });
      card.appendChild(form);
    } else if (open) {
      card.appendChild(el('p', { class: 'muted' }, 'A lead decides this conflict.'));
    }
    const err = el('p', { class: 'form-error card-error', role: 'alert', 'data-testid': 'resolve-error' });
    card.appendChild(err);
    showCardError(card, state.resolveErrors.get(key));
    if (state.resolving.has(key)) markBusy(card, true);
    return card;
  }

  function noticeNode() {
    if (!state.notice) return null;
    const text = state.notice;
    return el('p', { class: 'notice', role: 'status', 'data-testid': 'notice' }, text,
      el('button', { type: 'button', class: 'btn btn-quiet btn-small', onclick: (ev) => { state.notice = null; ev.target.closest('.notice').remove(); } }, 'Dismiss'));
  }

  function renderConflicts() {
    const list = $('conflict-list');
    const note = $('conflicts-note');
    const canResolve = state.conflictsCanResolve === null || state.conflictsCanResolve === undefined
      ? canResolveByRole() : state.conflictsCanResolve && canResolveByRole();
    if (state.conflictsError) {
      list.replaceChildren(el('p', { class: 'form-error' }, state.conflictsError));
      return;
    }
    if (!state.conflicts) {
      list.replaceChildren(el('p', { class: 'muted' }, 'Loading conflicts…'));
      return;
    }
    const open = state.conflicts.filter((c) => c.status !== 'resolved');
    note.textContent = `${plural(open.length, 'open conflict', 'open conflicts')}` + (canResolve ? '' : ' · only a lead can decide them');
    if (open.length === 0) {
      list.replaceChildren(noticeNode() || '', el('p', { class: 'empty-state', 'data-testid': 'conflicts-empty' }, 'No open conflicts in your scope.'));
      return;
    }
    list.replaceChildren(noticeNode() || '', ...open.map((cf) => conflictCard(cf, canResolve, true)));
  }

  // ---------------------------------------------------------------- case page

  const CASE_FIELD_ORDER = ['client_id', 'programme', 'status', 'risk', 'consent', 'assigned_to', 'shared_with', 'needs', 'opened_on', 'closed_on'];
  const CLIENT_FIELD_ORDER = ['name', 'date_of_birth', 'contact', 'address', 'location_description', 'preferred_language'];

  function orderedKeys(fields, order) {
    const keys = Object.keys(fields || {});
    return order.filter((k) => keys.includes(k)).concat(keys.filter((k) => !order.includes(k)).sort());
  }

  function fieldList(fields, order, openFields, testid) {
    const dl = el('dl', { class: 'fields', 'data-testid': testid });
    for (const k of orderedKeys(fields, order)) {
      const v = fields[k];
      let dd;
      if (k === 'status') dd = el('dd', { 'data-field': k }, badge('status', v, statusList()));
      else if (k === 'risk') dd = el('dd', { 'data-field': k }, badge('risk', v, RISKS));
      else dd = el('dd', { 'data-field': k, class: v === null || v === undefined ? 'muted' : null }, fmtValue(v));
      if (openFields.has(k)) dd.appendChild(el('span', { class: 'badge badge-conflict' }, 'conflict'));
      dl.appendChild(el('dt', null, k.replace(/_/g, ' ')));
      dl.appendChild(dd);
    }
    if (!dl.firstChild) dl.appendChild(el('dd', { class: 'muted' }, 'No fields.'));
    return dl;
  }

  function section(testid, title, ...kids) {
    const id = `sec-${testid}`;
    return el('section', { class: 'panel', 'data-testid': testid, 'aria-labelledby': id }, el('h2', { id }, title), ...kids);
  }

  function noteItem(n, underVisit) {
    const f = n.fields || {};
    const made = madeTime(n);
    return el('li', { class: 'note', 'data-testid': 'note', 'data-note-id': n.id },
      underVisit ? el('span', { class: 'entry-kind' }, 'note', made !== null ? ` · ${fmtDateTime(made)}` : '') : null,
      el('p', { class: 'note-text' }, typeof f.text === 'string' ? f.text : fmtValue(f.text)));
  }

  // The time of a timeline entry: a visit's own time, else when its record was made (by the
  // clock of the device that made it, "made_ms"); null when neither is known.
  function visitTime(v) {
    const t = v.fields && v.fields.time;
    const ms = typeof t === 'number' ? t : (typeof t === 'string' ? Date.parse(t) : NaN);
    if (isFinite(ms)) return ms;
    return typeof v.made_ms === 'number' && v.made_ms > 0 ? v.made_ms : null;
  }

  function madeTime(r) {
    return typeof r.made_ms === 'number' && r.made_ms > 0 ? r.made_ms : null;
  }

  // Visits and notes, newest first. A note naming one of the case's visits sits under that
  // visit; any other note is an entry of its own, placed by when it was made or, when that
  // is unknown, by its position in the server's list (after the dated entries).
  function timeline(doc) {
    const visits = Array.isArray(doc.visits) ? doc.visits : [];
    const notes = Array.isArray(doc.notes) ? doc.notes : [];
    const visitIds = new Set(visits.map((v) => v.id));
    const byVisit = new Map();
    const entries = [];
    visits.forEach((v, i) => entries.push({ kind: 'visit', rec: v, at: visitTime(v), pos: i }));
    notes.forEach((n, i) => {
      const vid = n.fields && n.fields.visit_id;
      if (vid && visitIds.has(vid)) {
        if (!byVisit.has(vid)) byVisit.set(vid, []);
        byVisit.get(vid).push(n);
      } else {
        entries.push({ kind: 'note', rec: n, at: madeTime(n), pos: visits.length + i });
      }
    });
    entries.sort((a, b) => {
      if (a.at !== null && b.at !== null && a.at !== b.at) return b.at - a.at;
      if ((a.at === null) !== (b.at === null)) return a.at === null ? 1 : -1;
      return a.pos - b.pos;
    });
    for (const list of byVisit.values()) list.sort((a, b) => (madeTime(a) || 0) - (madeTime(b) || 0));

    const list = el('ol', { class: 'timeline' });
    for (const e of entries) {
      if (e.kind === 'note') {
        list.appendChild(el('li', { class: 'loose-note' },
          el('div', { class: 'visit-head' },
            el('span', { class: 'entry-kind' }, 'note'),
            e.at !== null ? el('time', { class: 'when' }, fmtDateTime(e.at)) : null),
          el('ul', { class: 'visit-notes' }, noteItem(e.rec, false))));
        continue;
      }
      const v = e.rec;
      const f = v.fields || {};
      const attached = byVisit.get(v.id) || [];
      list.appendChild(el('li', { class: 'visit', 'data-testid': 'visit', 'data-visit-id': v.id },
        el('div', { class: 'visit-head' },
          el('span', { class: 'entry-kind' }, 'visit'),
          el('time', { class: 'when' }, e.at !== null ? fmtDateTime(e.at) : fmtValue(f.time)),
          f.kind ? el('span', { class: 'badge badge-text' }, fmtValue(f.kind)) : null,
          f.place ? el('span', { class: 'place' }, fmtValue(f.place)) : null),
        f.outcome ? el('p', { class: 'outcome' }, fmtValue(f.outcome)) : null,
        attached.length ? el('ul', { class: 'visit-notes' }, attached.map((n) => noteItem(n, true))) : null));
    }
    if (!list.firstChild) return el('p', { class: 'muted' }, 'No visits or notes yet.');
    return list;
  }

  function simpleTable(rows, cols, testid, rowClass) {
    if (!rows.length) return el('p', { class: 'muted' }, 'None.');
    return el('table', { class: 'simple', 'data-testid': testid },
      el('thead', null, el('tr', null, cols.map((c) => el('th', { scope: 'col' }, c.label)))),
      el('tbody', null, rows.map((r) => el('tr', { class: rowClass ? rowClass(r) : null, 'data-id': r.id },
        cols.map((c) => el('td', { 'data-col': c.key }, c.render ? c.render(r) : fmtValue((r.fields || {})[c.key])))))));
  }

  function isTaskOverdue(t) {
    const f = t.fields || {};
    return f.status === 'open' && typeof f.due_date === 'string' && f.due_date !== '' && f.due_date < utcDay(serverNow());
  }

  function historyList(doc) {
    const h = doc.history || {};
    const steps = Array.isArray(h.steps) ? h.steps : [];
    if (!steps.length) return el('p', { class: 'muted' }, 'No history.');
    const list = el('ol', { class: 'history' });
    for (const s of steps) {
      const wall = s.hlc && typeof s.hlc.wall_ms === 'number' ? s.hlc.wall_ms : null;
      // a device clock ahead of the server's by more than 5 minutes (late syncs are normal)
      const skew = wall !== null && typeof s.received_ms === 'number' && wall - s.received_ms > 5 * 60000;
      const changes = Array.isArray(s.changes) ? s.changes : [];
      const written = Array.isArray(s.written) ? s.written : [];
      const conflicts = Array.isArray(s.conflicts) ? s.conflicts : [];
      const li = el('li', { class: ['history-step', s.deleted && 'deleted'], 'data-testid': 'history-step', 'data-seq': s.seq },
        el('div', { class: 'step-meta' },
          el('span', { class: 'seq' }, `#${s.seq}`),
          el('span', null, 'server ', el('time', { 'data-testid': 'server-time' }, fmtDateTime(s.received_ms))),
          el('span', null, 'device ', el('time', { 'data-testid': 'device-time' }, fmtDateTime(wall))),
          skew ? el('span', { class: 'badge badge-warn', title: 'the device clock was ahead of the server' }, 'device clock ahead') : null,
          el('span', { class: 'user', 'data-testid': 'step-user' }, s.user || '—'),
          el('span', { class: 'device', 'data-testid': 'step-device', title: s.device || '' }, shortDevice(s.device))));
      if (s.deleted) li.appendChild(el('p', { class: 'deleted-note' }, 'deleted the record'));
      if (changes.length) {
        li.appendChild(el('ul', { class: 'changes' }, changes.map((c) => el('li', { 'data-testid': 'change' },
          el('span', { class: 'field-name' }, c.field), ': ',
          el('span', { class: 'old' }, fmtValue(c.old)), ' → ',
          el('span', { class: 'new' }, fmtValue(c.new))))));
      } else if (written.length && !s.deleted) {
        // writes that did not change the shown value (for example the losing side of a conflict)
        li.appendChild(el('ul', { class: 'changes not-shown' }, written.map((c) => el('li', { 'data-testid': 'change' },
          el('span', { class: 'field-name' }, c.field), ': ',
          el('span', { class: 'old' }, fmtValue(c.old)), ' → ',
          el('span', { class: 'new' }, fmtValue(c.new)),
          el('span', { class: 'muted' }, ' (written, not the shown value)')))));
      }
      for (const f of conflicts) {
        li.appendChild(el('span', { class: 'conflict-marker', 'data-testid': 'conflict-marker' }, `conflict on ${f}`));
      }
      list.appendChild(li);
    }
    return list;
  }

  function reassignBlock(doc) {
    if (!doc.can_assign) return null;
    const current = doc.fields && doc.fields.assigned_to;
    const users = Array.isArray(doc.assignable) ? doc.assignable : [];
    const select = el('select', { id: 'reassign-select', 'data-testid': 'reassign-select', 'data-keep': `assign:${doc.id}` },
      users.map((u) => el('option', { value: u }, u === current ? `${u} (current)` : u)));
    if (users.includes(current)) select.value = current;
    const button = el('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'reassign-button' }, 'Reassign');
    if (state.assigning) { select.disabled = true; button.disabled = true; }
    const form = el('form', { class: 'reassign', novalidate: true },
      el('label', { for: 'reassign-select' }, 'Assigned worker'), select, button,
      el('p', { class: 'form-error', role: 'alert', 'data-testid': 'reassign-error', hidden: !state.assignError }, state.assignError || ''),
      state.assignNotice ? el('p', { class: 'notice-inline', role: 'status' }, state.assignNotice) : null);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (state.assigning) return;
      const user = select.value;
      state.assigning = true;
      state.assignError = null;
      state.assignNotice = null;
      select.disabled = true;
      button.disabled = true;
      try {
        const r = await api('/api/assign', { case: doc.id, user });
        state.assignNotice = r.changed === false ? `Already assigned to ${user}.` : `Reassigned to ${user}.`;
      } catch (e) {
        if (e.status === 401) return;
        state.assignError = e.message;
      } finally {
        state.assigning = false;
      }
      await refreshNow();
      keepingScroll(renderCase);
    });
    return form;
  }

  function renderCase() {
    const page = $('view-case');
    const r = state.route;
    if (r.name !== 'case') return;
    page.setAttribute('data-case-id', r.id);
    const back = el('a', { href: '#/caseload', class: 'back', 'data-testid': 'back-link' }, '← Caseload');
    if (state.caseError) {
      page.setAttribute('data-state', 'error');
      page.replaceChildren(back, el('p', { class: 'form-error', 'data-testid': 'case-error' }, state.caseError));
      return;
    }
    const doc = state.caseDoc;
    if (!doc) {
      page.setAttribute('data-state', 'loading');
      page.replaceChildren(back, el('p', { class: 'muted' }, 'Loading case…'));
      return;
    }
    const f = doc.fields || {};
    const client = doc.client;
    const clientName = client && client.fields && typeof client.fields.name === 'string' ? client.fields.name : null;
    const conflicts = Array.isArray(doc.conflicts) ? doc.conflicts : [];
    const open = conflicts.filter((c) => c.status !== 'resolved');
    const resolved = conflicts.filter((c) => c.status === 'resolved');
    const openFields = new Set(open.filter((c) => c.collection === 'cases' && c.id === doc.id).map((c) => c.field));
    const tasks = Array.isArray(doc.tasks) ? doc.tasks : [];
    const referrals = Array.isArray(doc.referrals) ? doc.referrals : [];

    const header = el('div', { class: 'case-head' },
      back,
      el('h1', null, clientName || '(no client)', ' ', el('span', { class: 'muted case-id' }, doc.id)),
      el('div', { class: 'case-badges' },
        badge('status', f.status, statusList()), ' ', badge('risk', f.risk, RISKS),
        f.programme ? el('span', { class: 'badge badge-text' }, fmtValue(f.programme)) : null,
        el('span', { class: 'muted' }, f.assigned_to ? `assigned to ${fmtValue(f.assigned_to)}` : 'unassigned'),
        open.length ? el('span', { class: 'badge badge-conflict' }, plural(open.length, 'open conflict', 'open conflicts')) : null));

    const conflictsSection = section('case-conflicts', 'Conflicts',
      open.length ? el('div', { class: 'conflict-list' }, open.map((cf) => conflictCard(cf, Boolean(doc.can_resolve), false)))
        : el('p', { class: 'muted' }, 'No open conflicts.'),
      resolved.length ? el('details', { class: 'resolved-list' },
        el('summary', null, plural(resolved.length, 'resolved conflict', 'resolved conflicts')),
        resolved.map((cf) => conflictCard(cf, false, false))) : null);

    const main = el('div', { class: 'case-main' },
      section('case-timeline', 'Timeline: visits and notes', timeline(doc)),
      section('case-history', `History${doc.history_more ? ' (oldest 2000 steps only)' : ''}`, historyList(doc)));
    const side = el('div', { class: 'case-side' },
      section('case-fields', 'Case', fieldList(f, CASE_FIELD_ORDER, openFields, 'case-field-list'), reassignBlock(doc)),
      section('client-fields', 'Client', client ? fieldList(client.fields || {}, CLIENT_FIELD_ORDER, new Set(), 'client-field-list') : el('p', { class: 'muted' }, 'No client record.')),
      section('case-tasks', 'Tasks', simpleTable(tasks, [
        { key: 'title', label: 'Task' },
        { key: 'due_date', label: 'Due', render: (t) => {
          const due = (t.fields || {}).due_date;
          return isTaskOverdue(t) ? [fmtValue(due), ' ', el('span', { class: 'badge badge-overdue' }, 'overdue')] : (due ? fmtValue(due) : el('span', { class: 'muted' }, '—'));
        } },
        { key: 'status', label: 'Status' },
        { key: 'assigned_to', label: 'Worker' },
      ], 'task-table', (t) => (isTaskOverdue(t) ? 'is-overdue' : null))),
      section('case-referrals', 'Referrals', simpleTable(referrals, [
        { key: 'service', label: 'Service' },
        { key: 'status', label: 'Status' },
        { key: 'sent_on', label: 'Sent' },
      ], 'referral-table')));

    page.setAttribute('data-state', 'ready');
    page.replaceChildren(header, conflictsSection, el('div', { class: 'case-grid' }, main, side));
  }

  // ---------------------------------------------------------------- start

  async function boot() {
    $('login-form').addEventListener('submit', onLoginSubmit);
    $('logout').addEventListener('click', onLogout);
    bindCaseloadControls();
    window.addEventListener('hashchange', route);
    try {
      const me = await api('/api/me', undefined, { login: true });
      enterApp(me);
    } catch (e) {
      showLogin(e.status === 401 ? '' : e.message);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
