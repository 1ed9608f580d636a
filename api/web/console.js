/* The office console's shared script (issue 12): texts, the API helper (session cookie + CSRF),
   faults shown next to their fields, the progress/status line, the language switch and logout.
   Each page adds its own console-{page}.js, which waits for Console.ready. No inline script:
   the /app/ CSP forbids it. See /work/notes/console-shell.md for how a page is laid out. */
(function () {
  'use strict';
  var ESC = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
  var body = document.body;
  var C = {lang: body.dataset.lang || 'pl', page: body.dataset.page, who: body.dataset.who,
           role: body.dataset.role, texts: {}};
  var LOCALE = {pl: 'pl-PL', en: 'en-GB', uk: 'uk-UA'};

  // -- small helpers -----------------------------------------------------------------------
  C.$ = function (id) { return document.getElementById(id); };
  C.esc = function (s) {
    return String(s === null || s === undefined ? '' : s).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  };
  // t('key') or t('key', {n: 2}) for texts with {n} placeholders; an unknown key shows itself.
  C.t = function (key, vars) {
    var text = C.texts[key] || key;
    Object.keys(vars || {}).forEach(function (k) { text = text.split('{' + k + '}').join(String(vars[k])); });
    return text;
  };
  // An element: el('td', {class: 'num', text: 3}) or el('a', {href: u}, [child, 'text']).
  C.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k === 'text') { node.textContent = String(v); } else if (k === 'class') { node.className = v; } else if (k.slice(0, 2) === 'on') { node.addEventListener(k.slice(2), v); } else { node.setAttribute(k, v === true ? '' : String(v)); }
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) { return; }
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
    return node;
  };
  // Console URLs keep the language.
  C.url = function (path) { return path + (path.indexOf('?') >= 0 ? '&' : '?') + 'lang=' + C.lang; };
  function fmt(iso, opts) {
    if (!iso) { return '–'; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso); }
    return d.toLocaleString(LOCALE[C.lang] || 'pl-PL', Object.assign({timeZone: 'Europe/Warsaw'}, opts));
  }
  C.when = function (iso) { return fmt(iso, {day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit'}); };
  C.time = function (iso) { return fmt(iso, {hour: '2-digit', minute: '2-digit'}); };
  C.day = function (iso) { return fmt(iso, {year: 'numeric', month: '2-digit', day: '2-digit'}); };
  // Today in Warsaw as YYYY-MM-DD (for date inputs).
  C.today = function () {
    return new Date().toLocaleDateString('sv-SE', {timeZone: 'Europe/Warsaw'});
  };

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)go_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : '';
  }
  function toLogin() {
    location.href = '/app/login?lang=' + C.lang + '&next=' + encodeURIComponent(location.pathname);
  }

  // -- the API -----------------------------------------------------------------------------
  // C.api('POST', '/plans', {…}) → Promise of {ok, status, body, response}; body is the parsed
  // JSON (or text). opts: {raw: string body, type: content type, accept: 'text'}. A 401 (the
  // session ended) goes to the login page and comes back here. Never rejects on HTTP errors;
  // a network failure gives {ok: false, status: 0}.
  C.api = function (method, url, data, opts) {
    opts = opts || {};
    var headers = {'Accept': opts.accept === 'text' ? '*/*' : 'application/json'};
    if (method !== 'GET' && method !== 'HEAD') { headers['X-CSRF-Token'] = csrf(); }
    var payload;
    if (opts.raw !== undefined) {
      payload = opts.raw;
      headers['Content-Type'] = opts.type || 'application/octet-stream';
    } else if (data !== undefined) {
      payload = JSON.stringify(data);
      headers['Content-Type'] = 'application/json';
    }
    return fetch(url, {method: method, headers: headers, credentials: 'same-origin', body: payload}).then(function (r) {
      if (r.status === 401) { toLogin(); }
      var type = r.headers.get('content-type') || '';
      var read = type.indexOf('json') >= 0 ? r.json() : r.text();
      return read.catch(function () { return null; }).then(function (b) {
        return {ok: r.ok, status: r.status, body: b, response: r};
      });
    }, function () {
      return {ok: false, status: 0, body: null, response: null};
    });
  };

  // An error answer as [{field, fault}]: the project's {problems: […]}, FastAPI's {detail: […]}
  // (loc without 'body'), or one problem without a field ({detail: 'text'}).
  C.problems = function (answer) {
    var b = answer && answer.body;
    if (b && Array.isArray(b.problems)) { return b.problems; }
    if (b && Array.isArray(b.detail)) {
      return b.detail.map(function (d) {
        var loc = (d.loc || []).filter(function (p, i) { return !(i === 0 && (p === 'body' || p === 'query' || p === 'path')); });
        return {field: loc.join('.'), fault: d.msg};
      });
    }
    if (answer && answer.status === 0) { return [{field: '', fault: C.t('console_offline')}]; }
    if (answer && answer.status === 403) { return [{field: '', fault: C.t('console_forbidden') + (b && b.detail ? ' (' + b.detail + ')' : '')}]; }
    var text = b && b.detail ? String(b.detail) : (typeof b === 'string' && b ? b.slice(0, 300) : C.t('console_server_error', {status: answer ? answer.status : '?'}));
    return [{field: '', fault: text}];
  };

  // -- faults next to fields ---------------------------------------------------------------
  // In a form, a field's fault goes into <p class="field-error" data-error-for="NAME">, and the
  // control named NAME (or marked data-field="NAME") gets aria-invalid and aria-describedby.
  // A field path "crews.0.members" is shown at the first of "crews.0.members", "crews.0",
  // "crews" that has a place; otherwise in the form's data-error-for="" place.
  function errorPlace(form, field) {
    var parts = String(field || '').replace(/^(body|properties)\./, '').split('.');
    for (var n = parts.length; n > 0; n--) {
      var name = parts.slice(0, n).join('.');
      var place = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (place) { return {place: place, name: name}; }
    }
    return {place: form.querySelector('[data-error-for=""]'), name: ''};
  }
  C.clearErrors = function (form) {
    form.querySelectorAll('.field-error').forEach(function (p) { p.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (c) {
      c.removeAttribute('aria-invalid');
      var ids = (c.getAttribute('aria-describedby') || '').split(' ').filter(function (id) { return id && id.indexOf('-err-') < 0; });
      if (ids.length) { c.setAttribute('aria-describedby', ids.join(' ')); } else { c.removeAttribute('aria-describedby'); }
    });
  };
  // Shows each problem at its field; returns how many. Unplaced ones go to the status line.
  C.showErrors = function (form, problems) {
    var loose = [], first = null;
    problems.forEach(function (p, i) {
      var found = errorPlace(form, p.field);
      if (!found.place) { loose.push(p); return; }
      var place = found.place;
      if (!place.id) { place.id = (form.id || 'form') + '-err-' + (found.name || 'form').replace(/[^\w-]/g, '-') + '-' + i; }
      var shown = p.field && found.name !== p.field ? p.field + ': ' + p.fault : p.fault;
      place.textContent = place.textContent ? place.textContent + ' ' + shown : shown;
      var controls = found.name ? form.querySelectorAll('[name="' + CSS.escape(found.name) + '"], [data-field="' + CSS.escape(found.name) + '"]') : [];
      controls.forEach(function (c) {
        c.setAttribute('aria-invalid', 'true');
        var ids = (c.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
        if (ids.indexOf(place.id) < 0) { ids.push(place.id); }
        c.setAttribute('aria-describedby', ids.join(' '));
        if (!first) { first = c; }
      });
    });
    if (loose.length) { C.say(loose.map(function (p) { return (p.field ? p.field + ': ' : '') + p.fault; }).join(' · '), 'error'); }
    else if (problems.length) { C.say(C.t('console_fix_fields'), 'error'); }
    if (first) { first.focus(); } else {
      var shownAt = form.querySelector('.field-error:not(:empty)');
      if (shownAt) { shownAt.scrollIntoView({block: 'center'}); }
    }
    return problems.length;
  };
  // Sends a form's body; on a 4xx the faults are shown next to the fields (nothing was stored).
  // Resolves with the answer's body when it was ok, else null.
  C.submit = function (form, method, url, data, opts) {
    C.clearErrors(form);
    return C.api(method, url, data, opts).then(function (answer) {
      if (answer.ok) { return answer.body === null ? {} : answer.body; }
      C.showErrors(form, C.problems(answer));
      return null;
    });
  };

  // -- the status line and progress --------------------------------------------------------
  C.say = function (text, kind) {
    var p = C.$('con-status-text');
    p.textContent = text || '';
    p.className = kind ? 'con-' + kind : '';
  };
  // A long action: C.busy(C.t('plan_solving'), 12) shows <progress> (filled over `expected`
  // seconds, or indeterminate) and "text – 3 s" in the live region; returns done(text, kind).
  C.busy = function (text, expected) {
    var bar = C.$('con-progress'), started = Date.now();
    bar.hidden = false;
    if (expected) { bar.max = expected; bar.value = 0; } else { bar.removeAttribute('value'); }
    body.setAttribute('aria-busy', 'true');
    function tick() {
      var s = Math.floor((Date.now() - started) / 1000);
      if (expected) { bar.value = Math.min(expected, (Date.now() - started) / 1000); }
      C.say(C.t('console_elapsed', {text: text, s: s}));
    }
    tick();
    var timer = setInterval(tick, 1000);
    return function done(final, kind) {
      clearInterval(timer);
      bar.hidden = true;
      body.removeAttribute('aria-busy');
      C.say(final || '', kind);
    };
  };

  // -- language and logout -----------------------------------------------------------------
  function wire() {
    var select = C.$('con-lang');
    if (select) {
      select.value = C.lang;
      select.addEventListener('change', function () {
        var u = new URL(location.href);
        u.searchParams.set('lang', select.value);
        location.href = u.pathname + u.search + u.hash;
      });
    }
    var out = C.$('con-logout');
    if (out) {
      out.addEventListener('click', function () {
        C.api('POST', '/app/logout').then(function () {
          location.href = '/app/login?lang=' + C.lang + '&next=/app/console';
        });
      });
    }
  }

  // Texts for what the scripts draw (the markup is translated by the server already).
  C.ready = fetch('/app/text/' + C.lang + '.json', {credentials: 'same-origin'}).then(function (r) {
    return r.json();
  }).then(function (texts) { C.texts = texts; return C; }, function () { return C; });

  window.Console = C;
  wire();
  // A page without a script of its own is ready once the texts are; a page script sets
  // data-ready itself when its first data is drawn (tests wait for body[data-ready=true]).
  C.ready.then(function () {
    if (!C.pageScript) { body.dataset.ready = 'true'; }
  });
})();
