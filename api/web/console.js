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
  // The session ended (logged out elsewhere, revoked, expired): the page and what was typed
  // stay; a link opens the login in a new tab, then the user presses the button again. For
  // every 401 of the console, also from a page's own fetch/XHR: call C.sessionEnded().
  C.sessionEnded = function () {
    var box = C.$('con-session');
    if (!box) { return; }
    var login = '/app/login?lang=' + C.lang + '&next=' + encodeURIComponent(location.pathname);
    box.textContent = '';
    box.appendChild(document.createTextNode(C.t('console_session_ended') + ' '));
    box.appendChild(C.el('a', {href: login, target: '_blank', rel: 'noopener', id: 'con-login-again', text: C.t('console_log_in_again')}));
    box.hidden = false;
  };
  // Any other answer from the server: the session works again (the notice goes).
  function sessionWorks() {
    var box = C.$('con-session');
    if (box && !box.hidden) { box.hidden = true; box.textContent = ''; }
  }

  // -- the API -----------------------------------------------------------------------------
  // C.api('POST', '/plans', {…}) → Promise of {ok, status, body, response}; body is the parsed
  // JSON (or text). opts: {raw: string body, type: content type, accept: 'text'}. A 401 (the
  // session ended) shows C.sessionEnded() and leaves the page as it is. Never rejects on HTTP
  // errors; a network failure gives {ok: false, status: 0}.
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
      if (r.status === 401) { C.sessionEnded(); } else { sessionWorks(); }
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

  // What went wrong, for the status line: by the kind of answer (a 422's faults are shown at
  // their fields; a busy planner says when to try again; a conflict says the server's why).
  C.failure = function (answer) {
    var b = answer && answer.body, detail = b && typeof b.detail === 'string' ? b.detail : '';
    var status = answer ? answer.status : -1;
    if (status === 0) { return C.t('console_offline'); }
    if (status === 401) { return C.t('console_session_ended'); }
    if (status === 403) { return C.t('console_forbidden') + (detail ? ' (' + detail + ')' : ''); }
    if (status === 422) { return C.t('console_fix_fields'); }
    if (status === 409) { return C.t('console_conflict', {detail: detail || status}); }
    if (status === 503 || status === 429) {
      var wait = answer.response ? answer.response.headers.get('Retry-After') : null;
      return C.t('console_busy', {detail: detail}) + (wait ? ' ' + C.t('console_retry_after', {s: wait}) : '');
    }
    return detail ? C.t('console_server_error', {status: status}) + ' ' + detail : C.t('console_server_error', {status: status});
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
  // `answer` (optional): the server's answer they came from; without it they are the page's
  // own checks (nothing was sent).
  C.showErrors = function (form, problems, answer) {
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
    var said = !answer || answer.status === 422 ? C.t('console_fix_fields') : C.failure(answer);
    if (loose.length) { said = loose.map(function (p) { return (p.field ? p.field + ': ' : '') + p.fault; }).join(' · '); }
    if (problems.length) { C.say(said, 'error'); }
    if (first) { first.focus(); } else {
      var shownAt = form.querySelector('.field-error:not(:empty)');
      if (shownAt) { shownAt.scrollIntoView({block: 'center'}); }
    }
    return problems.length;
  };
  // Sends a form's body; when refused, the faults are shown next to the fields and the status
  // line says why (422: correct the marked fields; 409, 503, offline: their own words; 401:
  // the session notice, nothing else). Resolves with the whole answer.
  C.send = function (form, method, url, data, opts) {
    C.clearErrors(form);
    return C.api(method, url, data, opts).then(function (answer) {
      if (!answer.ok && answer.status !== 401) { C.showErrors(form, C.problems(answer), answer); }
      return answer;
    });
  };
  // As C.send; resolves with the answer's body when it was ok, else null.
  C.submit = function (form, method, url, data, opts) {
    return C.send(form, method, url, data, opts).then(function (answer) {
      return answer.ok ? (answer.body === null ? {} : answer.body) : null;
    });
  };

  // -- the status line and progress --------------------------------------------------------
  C.say = function (text, kind) {
    var p = C.$('con-status-text');
    p.textContent = text || '';
    p.className = kind ? 'con-' + kind : '';
  };
  // A long action: C.busy(C.t('plan_solving'), 12, region) shows <progress> (filled over
  // `expected` seconds, or indeterminate) and the seconds gone by. The live region says the
  // text once at the start and the final text at the end (the counter is aria-hidden: read
  // every second it would drown everything else); `region`, the part of the page the action
  // will redraw, is aria-busy meanwhile. Returns done(text, kind); done(null) keeps what the
  // status line says (e.g. the faults C.send showed).
  C.busy = function (text, expected, region) {
    var bar = C.$('con-progress'), clock = C.$('con-elapsed'), started = Date.now();
    bar.hidden = false;
    clock.hidden = false;
    if (expected) { bar.max = expected; bar.value = 0; } else { bar.removeAttribute('value'); }
    if (region) { region.setAttribute('aria-busy', 'true'); }
    C.say(text);
    function tick() {
      var s = Math.floor((Date.now() - started) / 1000);
      if (expected) { bar.value = Math.min(expected, (Date.now() - started) / 1000); }
      clock.textContent = C.t('console_seconds', {s: s});
    }
    tick();
    var timer = setInterval(tick, 1000);
    return function done(final, kind) {
      clearInterval(timer);
      bar.hidden = true;
      clock.hidden = true;
      clock.textContent = '';
      if (region) { region.removeAttribute('aria-busy'); }
      if (final !== null) { C.say(final || '', kind); } else if (C.$('con-status-text').textContent === text) { C.say(''); }
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
      // Away only once the server ended the session (or it had ended already): offline or an
      // error, the page stays and says so (the session would live on otherwise).
      out.addEventListener('click', function () {
        out.disabled = true;
        C.api('POST', '/app/logout').then(function (answer) {
          out.disabled = false;
          if (answer.ok || answer.status === 401) {
            location.href = '/app/login?lang=' + C.lang + '&next=/app/console';
            return;
          }
          C.say(C.t('console_logout_failed') + ' ' + C.failure(answer), 'error');
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
