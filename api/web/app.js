/* The field app: map, site list, site card, my route, field entry and the outbox sync.
   Sites are drawn by the live map's own site layer (L.GoSiteLayer, /app/maps/geo-outreach-sites.js)
   from the live map's rows; this file adds the card, the forms and the sync around it. */
(function () {
  'use strict';
  var LANGS = ['pl', 'en', 'uk'];
  var FLUSH_EVERY_MS = 30000;
  var DATA_CACHES = ['go-data', 'go-tiles'];
  var state = {lang: 'pl', t: {}, data: null, map: null, layer: null, online: navigator.onLine,
               flushing: null, site: null, visitCtx: null, siteMode: null, pin: null};

  // -- small helpers -----------------------------------------------------------------------
  var ESC = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
  function esc(s) { return String(s === null || s === undefined ? '' : s).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  function $(id) { return document.getElementById(id); }
  function t(key) { return state.t[key] || key; }
  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)go_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : '';
  }
  function fold(s) {
    return String(s).toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/ł/g, 'l');
  }
  function api(method, url, body, extra) {
    var headers = {'Accept': 'application/json'};
    if (method !== 'GET') { headers['X-CSRF-Token'] = csrf(); }
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; }
    Object.keys(extra || {}).forEach(function (k) { headers[k] = extra[k]; });
    return fetch(url, {method: method, headers: headers, credentials: 'same-origin',
                       body: body === undefined ? undefined : JSON.stringify(body)});
  }
  function notice(text) { var n = $('notice'); n.textContent = text || ''; n.hidden = !text; }
  function when(iso) {
    if (!iso) { return '–'; }
    return new Date(iso).toLocaleString(state.lang === 'en' ? 'en-GB' : state.lang === 'uk' ? 'uk-UA' : 'pl-PL',
      {timeZone: 'Europe/Warsaw', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit'});
  }
  function vocabLabel(kind, code) {
    var found = (state.data.vocab[kind] || []).filter(function (p) { return p[0] === code; })[0];
    return found ? found[1] : code;
  }

  // -- language ----------------------------------------------------------------------------
  function loadText(lang) {
    return fetch('/app/text/' + lang + '.json').then(function (r) { return r.json(); }).then(function (t) {
      state.t = t; state.lang = lang;
      document.documentElement.lang = lang;
      document.title = t.app_title;
      document.querySelectorAll('[data-t]').forEach(function (el) { el.textContent = t[el.dataset.t] || el.textContent; });
      document.querySelectorAll('[data-t-aria]').forEach(function (el) { el.setAttribute('aria-label', t[el.dataset.tAria] || el.getAttribute('aria-label')); });
      $('lang-select').value = lang;
    });
  }

  // -- wiping the phone's copy -------------------------------------------------------------
  // The service worker stops its tile prefetch and drops the caches itself (else a tile in
  // flight could land after the wipe); the page deletes them too, in case no worker runs.
  function wipeWorker() {
    if (!navigator.serviceWorker || !navigator.serviceWorker.controller) { return Promise.resolve(); }
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      var timer = setTimeout(resolve, 5000);
      channel.port1.onmessage = function () { clearTimeout(timer); resolve(); };
      navigator.serviceWorker.controller.postMessage({type: 'wipe'}, [channel.port2]);
    });
  }
  function wipeData() {
    var jobs = [GoOutbox.clearMeta(), wipeWorker()];
    if (self.caches) {
      jobs.push(caches.keys().then(function (names) {
        return Promise.all(names.filter(function (n) { return DATA_CACHES.indexOf(n) >= 0; })
          .map(function (n) { return caches.delete(n); }));
      }));
    }
    state.data = null;
    return Promise.all(jobs).then(function () {
      return self.caches ? Promise.all(DATA_CACHES.map(function (n) { return caches.delete(n); })) : null;
    });
  }
  window.GoApp = {wipeData: wipeData, state: state};

  // -- the outbox --------------------------------------------------------------------------
  // A phone shared by a team: another account's entries wait for that account.
  function mine(e) { return !e.owner || e.owner === state.who; }
  function myEntries() { return GoOutbox.all().then(function (items) { return items.filter(mine); }); }

  function showSync() {
    return myEntries().then(function (items) {
      $('pending-count').textContent = String(items.filter(function (e) { return e.state !== 'sent'; }).length);
      return GoOutbox.meta('lastSync');
    }).then(function (last) {
      $('last-sync').textContent = last ? when(last) : t('never');
      $('offline-note').hidden = state.online;
    });
  }

  function problemsOf(body) {
    if (body && Array.isArray(body.problems)) { return body.problems; }
    if (body && Array.isArray(body.detail)) {
      return body.detail.map(function (d) {
        var loc = (d.loc || []).filter(function (p) { return p !== 'body'; });
        return {field: loc.join('.'), fault: d.msg};
      });
    }
    return [{field: '', fault: body && body.detail ? String(body.detail) : 'error'}];
  }

  // One entry to the server. 'sent' | 'refused' (4xx, kept with its faults) | 'offline' | 'auth'.
  function send(entry) {
    var extra = entry.kind === 'site' ? {'If-None-Match': '*'} : {};
    return api('PUT', entry.url, entry.body, extra).then(function (r) {
      if (r.status === 401) { return 'auth'; }
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.ok) {
          entry.result = body;
          return GoOutbox.remove(entry.id).then(function () { return 'sent'; });
        }
        if (r.status >= 500) { return 'offline'; }
        entry.state = 'refused'; entry.problems = problemsOf(body);
        return GoOutbox.put(entry).then(function () { return 'refused'; });
      });
    }, function () { return 'offline'; });
  }

  function flush() {
    if (state.flushing) { return state.flushing; }
    state.flushing = myEntries().then(function (items) {
      items.sort(function (a, b) { return a.created < b.created ? -1 : 1; });
      var outcome = {sent: 0, refused: 0, offline: false, auth: false};
      var chain = Promise.resolve();
      items.filter(function (e) { return e.state !== 'refused'; }).forEach(function (entry) {
        chain = chain.then(function () {
          if (outcome.offline || outcome.auth) { return; }
          return send(entry).then(function (r) {
            if (r === 'sent') { outcome.sent++; if (entry.onSent) { entry.onSent(entry); } }
            if (r === 'refused') { outcome.refused++; }
            if (r === 'offline') { outcome.offline = true; }
            if (r === 'auth') { outcome.auth = true; }
          });
        });
      });
      return chain.then(function () { return outcome; });
    }).then(function (outcome) {
      state.online = !outcome.offline;
      var done = outcome.offline || outcome.auth ? Promise.resolve() : GoOutbox.meta('lastSync', new Date().toISOString());
      return done.then(function () { return outcome; });
    }).then(function (outcome) {
      state.flushing = null;
      return showSync().then(function () {
        if (outcome.auth) { return checkSession(); }
        if (!outcome.offline) { refreshWaiting(); }  // a coordinator may have decided meanwhile
        return outcome;
      });
    }, function (err) { state.flushing = null; throw err; });
    return state.flushing;
  }
  window.GoApp.flush = flush;

  // -- session -----------------------------------------------------------------------------
  function checkSession(asked) {
    var answer = asked || fetch('/app/session', {credentials: 'same-origin'});
    return answer.then(function (r) { return r.json(); }).then(function (s) {
      state.online = true;
      if (s.state === 'active') { state.who = s.name; localStorage.setItem('go-who', s.name); return s; }
      // Revoked, expired, idle or unknown (a retention run deletes ended sessions): the data
      // the phone holds is no longer anyone's to see. The outbox stays.
      return wipeData().then(function () {
        if (s.state === 'revoked') { notice(t('revoked')); }
        return goLogin(s.state === 'revoked');
      });
    }, function () { state.online = false; return null; });
  }

  function goLogin(stay) {
    return myEntries().then(function (items) {
      if (items.length && stay) { return offerDownload(false); }
      location.href = '/app/login?lang=' + state.lang;
    });
  }

  function downloadPending() {
    return myEntries().then(function (items) {
      var blob = new Blob([JSON.stringify(items, null, 1)], {type: 'application/json'});
      var a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'geo-outreach-unsent-' + new Date().toISOString().slice(0, 16).replace(':', '') + '.json';
      document.body.appendChild(a); a.click(); a.remove();
      $('logout-anyway').disabled = false;
    });
  }

  function offerDownload(thenLogout) {
    $('unsent-panel').hidden = false;
    $('logout-anyway').disabled = true;
    $('logout-anyway').onclick = function () {
      myEntries().then(function (items) {
        return Promise.all(items.map(function (e) { return GoOutbox.remove(e.id); }));
      }).then(function () { return thenLogout ? logout(true) : goLogin(false); });
    };
  }

  function logout(confirmed) {
    return myEntries().then(function (items) {
      if (items.length && !confirmed) { return flush().then(myEntries).then(function (left) {
        if (left.length) { return offerDownload(true); }
        return logout(true);
      }); }
      return wipeData().then(function () {
        return api('POST', '/app/logout').catch(function () { return null; });
      }).then(function () { location.href = '/app/login?lang=' + state.lang; });
    });
  }

  // -- the map -----------------------------------------------------------------------------
  var AppSiteLayer = L.GoSiteLayer.extend({
    _popup: function (i) {
      return L.GoSiteLayer.prototype._popup.call(this, i) +
        '<button type="button" class="go-open-card" data-site="' + i + '">' + esc(t('open_card')) + '</button>';
    }
  });

  function drawMap() {
    var d = state.data, map = state.map;
    if (!map) {
      map = state.map = L.map('map', {zoomControl: true, maxZoom: 19});
      L.tileLayer('/maps/tiles/{z}/{x}/{y}.png', {
        minZoom: d.tiles.min_zoom, maxZoom: 19, maxNativeZoom: d.tiles.max_zoom, bounds: d.tiles.bounds,
        attribution: '<a href="https://www.openstreetmap.org/copyright">© OpenStreetMap contributors</a> (ODbL)'
      }).addTo(map);
      map.fitBounds(d.tiles.bounds);
      map.on('popupopen', function (e) {
        var btn = e.popup.getElement().querySelector('.go-open-card');
        if (btn) { btn.addEventListener('click', function () { openCard(Number(btn.dataset.site)); }); }
      });
      map.on('move', function () { if (state.siteMode === 'new') { showPin(); } });
    }
    if (state.overlays) { state.overlays.forEach(function (l) { map.removeLayer(l); }); }
    state.overlays = [];
    var facilities = L.layerGroup(d.facilities.map(function (f) {
      var colour = f.free_beds === null || f.free_beds > 0 ? '#1f5f8b' : '#7b241c';
      var icon = L.divIcon({className: '', iconSize: [34, 34], iconAnchor: [17, 17],
        html: '<div class="go-badge ' + (f.open ? 'go-open' : 'go-shut') + '" data-facility="' + esc(f.code) +
              '" style="width:34px;height:34px;background:' + colour + '">' + esc(f.free_beds === null ? 'i' : f.free_beds) + '</div>'});
      return L.marker([f.lat, f.lon], {icon: icon, title: f.name + (f.free_beds === null ? '' : ': ' + f.free_beds + ' ' + t('free_beds'))})
        .bindPopup(f.popup, {maxWidth: 300});
    }));
    var bus = L.layerGroup();
    d.bus.forEach(function (route) {
      L.polyline(route.line, {color: '#6c3483', weight: 5, opacity: 0.8}).addTo(bus);
      route.stops.forEach(function (s) {
        L.marker([s.lat, s.lon], {title: s.name + ' – ' + t('next_departure') + ': ' + s.next, icon: L.divIcon({
          className: '', iconSize: [30, 30], iconAnchor: [15, 15],
          html: '<div class="go-stop" data-bus-stop="' + s.seq + '" style="background:#6c3483">' + s.seq + '</div>'})})
          .bindPopup('<div class="go-popup"><h3>' + esc(s.name) + '</h3><p>' + esc(t('bus')) + ', ' +
                     esc(t('next_departure')) + ': <strong>' + esc(s.next) + '</strong></p></div>').addTo(bus);
      });
    });
    [facilities, bus].forEach(function (l) { l.addTo(map); state.overlays.push(l); });
    if (d.route && d.route.stops.length) {
      var line = L.polyline(d.route.stops.map(function (s) { return [s.lat, s.lon]; }), {color: '#0b5394', dashArray: '6 6'});
      line.addTo(map); state.overlays.push(line);
    }
    if (state.layer) { map.removeLayer(state.layer); state.layer = null; }
    if (d.sites) {
      state.layer = new AppSiteLayer(d.sites).addTo(map);
      new L.GoSearch(state.layer, {placeholder: t('search'), position: 'topleft'}).addTo(map);
    }
    L.control.layers(null, (function () {
      var o = {}; o[t('facilities')] = facilities; o[t('bus')] = bus; if (state.layer) { o[t('sites')] = state.layer; }
      return o;
    })(), {collapsed: true}).addTo(map);
  }

  // -- list, card and history ----------------------------------------------------------------
  var COL = {LON: 0, LAT: 1, CODE: 2, NAME: 3, CAT: 4, STATUS: 5, PEOPLE: 6, HAZ: 7, DAYS: 8};

  function renderList() {
    var d = state.data, list = $('site-list');
    list.innerHTML = '';
    if (!d.sites) { return; }
    var q = fold($('site-search').value.trim());
    var order = d.sites.rows.map(function (r, i) { return i; }).filter(function (i) {
      var r = d.sites.rows[i];
      return !q || fold(r[COL.CODE] + ' ' + r[COL.NAME]).indexOf(q) >= 0;
    });
    order.sort(function (a, b) {
      var da = d.sites.rows[a][COL.DAYS], db = d.sites.rows[b][COL.DAYS];
      return (db < 0 ? 1e9 : db) - (da < 0 ? 1e9 : da);
    });
    order.slice(0, 200).forEach(function (i) {
      var r = d.sites.rows[i], li = document.createElement('li'), b = document.createElement('button');
      b.type = 'button';
      b.dataset.siteId = d.sites.ids[i];
      b.innerHTML = '<strong>' + esc(r[COL.CODE]) + ' · ' + esc(r[COL.NAME]) + '</strong><br><span class="muted">' +
        esc(d.sites.statuses[r[COL.STATUS]]) + ' · ' + esc(r[COL.PEOPLE]) + ' · ' +
        (r[COL.DAYS] < 0 ? esc(t('never')) : esc(r[COL.DAYS]) + ' ' + esc(t('days_since'))) + '</span>';
      b.addEventListener('click', function () { openCard(i); });
      li.appendChild(b); list.appendChild(li);
    });
  }

  function siteIndex(id) { return state.data.sites ? state.data.sites.ids.indexOf(id) : -1; }

  function openCard(i) {
    var d = state.data, r = d.sites.rows[i];
    state.site = i;
    $('card-title').textContent = r[COL.CODE] + ' · ' + r[COL.NAME];
    var facts = [[t('status'), d.sites.statuses[r[COL.STATUS]]], [t('category'), d.sites.categories[r[COL.CAT]]],
                 [t('estimated_people'), r[COL.PEOPLE]],
                 [t('hazards'), r[COL.HAZ].map(function (h) { return d.sites.hazards[h][1] + ' ' + d.sites.hazards[h][0]; }).join(', ') || t('none')],
                 [t('days_since'), r[COL.DAYS] < 0 ? t('never') : r[COL.DAYS]]];
    $('card-facts').innerHTML = facts.map(function (f) { return '<dt>' + esc(f[0]) + '</dt><dd>' + esc(f[1]) + '</dd>'; }).join('');
    $('card-visit').hidden = !d.may.log_visit;
    $('card-change').hidden = !d.may.edit_sites;
    $('card').hidden = false;
    loadHistory(d.sites.ids[i]);
  }

  // Visits (with notes for the roles the policy lets read them) come from the network only:
  // they are never kept on the phone.
  function loadHistory(siteId) {
    var ul = $('card-history');
    ul.innerHTML = '';
    // The API lists visits oldest first: ask how many there are, then for the last 20.
    var url = '/visits?site_id=' + encodeURIComponent(siteId) + '&limit=20';
    function get(u) {
      return api('GET', u).then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      });
    }
    get(url).then(function (body) {
      return body.numberMatched > 20 ? get(url + '&offset=' + (body.numberMatched - 20)) : body;
    }).then(function (body) {
      if (!body.visits.length) { ul.innerHTML = '<li>' + esc(t('no_visits')) + '</li>'; }
      body.visits.slice().reverse().forEach(function (v) {
        var li = document.createElement('li');
        li.innerHTML = '<strong>' + esc(when(v.visited_at)) + '</strong>: ' + esc(t('people_met')) + ' ' + esc(v.people_met) +
          (v.help_given && v.help_given.length ? ' · ' + esc(v.help_given.map(function (h) { return vocabLabel('help', h); }).join(', ')) : '') +
          (v.note ? '<br><span class="note">' + esc(t('note')) + ': ' + esc(v.note) + '</span>' : '');
        ul.appendChild(li);
      });
    }).catch(function () { ul.innerHTML = '<li>' + esc(t('history_offline')) + '</li>'; });
  }

  // -- my route ------------------------------------------------------------------------------
  function renderRoute() {
    var route = state.data.route, ol = $('route-stops');
    ol.innerHTML = '';
    $('route-empty').hidden = !!route;
    if (!route) { return; }
    $('route-title').textContent = t('tab_route') + ': ' + route.code + ' (' + when(route.start) + ' – ' + when(route.end) + ')';
    if (route.closed) { ol.innerHTML = '<li>' + esc(t('route_closed')) + ': ' + esc(route.closed) + '</li>'; return; }
    route.stops.forEach(function (s) {
      var li = document.createElement('li');
      li.dataset.seq = s.seq;
      var label = s.code ? esc(s.code) + (s.name ? ' · ' + esc(s.name) : '') : '#' + s.seq;
      li.innerHTML = '<strong>' + s.seq + '. ' + label + '</strong><br><span class="muted">' + esc(t('eta')) + ' ' +
        esc(when(s.eta)) + (s.estimated_people !== undefined ? ' · ' + esc(t('estimated_people')) + ': ' + esc(s.estimated_people) : '') + '</span>';
      if (s.done) {
        li.insertAdjacentHTML('beforeend', '<p class="done">✓ ' + esc(t('done')) + '</p>');
      } else if (state.data.may.log_visit && s.site_id) {
        var b = document.createElement('button');
        b.type = 'button'; b.className = 'mark-done'; b.textContent = t('mark_done');
        b.addEventListener('click', function () { openVisit(s.site_id, route.patrol_id, s); });
        var row = document.createElement('div'); row.className = 'row'; row.appendChild(b); li.appendChild(row);
      }
      ol.appendChild(li);
    });
  }

  // -- forms -------------------------------------------------------------------------------
  function clearErrors(form) { form.querySelectorAll('.field-error').forEach(function (p) { p.textContent = ''; }); }
  function showProblems(problems, formKey) {
    problems.forEach(function (p) {
      var name = String(p.field || '').replace(/^properties\./, '').split('.')[0];
      var el = $('e-' + name) || $('e-form-' + formKey);
      el.textContent = (p.field ? p.field + ': ' : '') + p.fault;
      var input = document.querySelector('[name="' + name + '"]');
      if (input) { input.setAttribute('aria-invalid', 'true'); input.setAttribute('aria-describedby', 'e-' + name); }
    });
    var first = document.querySelector('.field-error:not(:empty)');
    if (first) { first.scrollIntoView({block: 'center'}); }
  }
  function localIso(date) {
    var off = date.getTimezoneOffset();
    return new Date(date.getTime() - off * 60000).toISOString().slice(0, 16);
  }
  function checks(container, kind, name) {
    container.querySelectorAll('label').forEach(function (l) { l.remove(); });
    state.data.vocab[kind].forEach(function (p) {
      var l = document.createElement('label');
      l.innerHTML = '<input type="checkbox" name="' + name + '" value="' + esc(p[0]) + '"> ' + esc(p[1]);
      container.appendChild(l);
    });
  }
  function options(select, kind, empty) {
    select.innerHTML = (empty ? '<option value="">' + esc(t('none')) + '</option>' : '') +
      state.data.vocab[kind].map(function (p) { return '<option value="' + esc(p[0]) + '">' + esc(p[1]) + '</option>'; }).join('');
  }
  function checked(form, name) {
    return Array.prototype.map.call(form.querySelectorAll('input[name="' + name + '"]:checked'), function (i) { return i.value; });
  }

  function openVisit(siteId, patrolId, stop) {
    var form = $('visit-form');
    form.reset(); clearErrors(form);
    checks($('v-help_given'), 'help', 'help_given');
    options($('v-referral_facility_type'), 'facility_types', true);
    $('v-visited_at').value = localIso(new Date());
    var i = siteIndex(siteId);
    $('visit-site').textContent = i >= 0 ? state.data.sites.rows[i][COL.CODE] + ' · ' + state.data.sites.rows[i][COL.NAME] : (stop && stop.code) || '';
    state.visitCtx = {site_id: siteId, patrol_id: patrolId || null, id: GoOutbox.uuid(), stop: stop || null};
    $('visit-panel').hidden = false;
    $('v-people_met').focus();
  }

  // The same rules as the API (layers/visits.py); the server checks again and names the field.
  function visitBody(form) {
    var num = function (n) { return Number(form.elements[n].value || 0); };
    var at = form.elements.visited_at.value;
    var body = {
      site_id: state.visitCtx.site_id, visited_at: at ? new Date(at).toISOString() : '',
      people_met: num('people_met'), women_met: num('women_met'), people_aided: num('people_aided'),
      people_referred: num('people_referred'), help_given: checked(form, 'help_given'),
      referral_facility_type: form.elements.referral_facility_type.value || null,
      on_request_of_services: form.elements.on_request_of_services.checked,
      note: form.elements.note.value.trim() || null, note_sensitive: form.elements.note_sensitive.checked
    };
    if (state.visitCtx.patrol_id) { body.patrol_id = state.visitCtx.patrol_id; }
    var problems = [];
    if (!at) { problems.push({field: 'visited_at', fault: t('required')}); }
    ['people_met', 'women_met', 'people_aided', 'people_referred'].forEach(function (n) {
      if (!Number.isInteger(body[n]) || body[n] < 0 || body[n] > 500) { problems.push({field: n, fault: '0–500'}); }
    });
    ['women_met', 'people_aided', 'people_referred'].forEach(function (n) {
      if (body[n] > body.people_met) { problems.push({field: n, fault: t('too_many')}); }
    });
    return {body: body, problems: problems};
  }

  // Into the outbox first (so nothing is lost), then sent at once when there is a network.
  function submitEntry(entry, formKey, onDone) {
    entry.owner = state.who;  // sent, downloaded or dropped only by the account that wrote it
    return GoOutbox.put(entry).then(function () { return showSync(); }).then(function () {
      return send(entry);
    }).then(function (r) {
      if (r === 'refused') { showProblems(entry.problems, formKey); return GoOutbox.remove(entry.id).then(showSync); }
      if (r === 'sent') { GoOutbox.meta('lastSync', new Date().toISOString()); }
      onDone(r, entry);
      return showSync().then(function () { if (r === 'auth') { return checkSession(); } });
    });
  }

  function onVisitSubmit(ev) {
    ev.preventDefault();
    var form = $('visit-form'); clearErrors(form);
    var made = visitBody(form);
    if (made.problems.length) { showProblems(made.problems, 'visit'); return; }
    var ctx = state.visitCtx;
    var entry = {id: ctx.id, kind: 'visit', url: '/visits/' + ctx.id, body: made.body, created: new Date().toISOString(), state: 'pending'};
    submitEntry(entry, 'visit', function () {
      $('visit-panel').hidden = true;
      if (ctx.stop) { ctx.stop.done = true; renderRoute(); }
    });
  }

  function openSiteForm(mode) {
    var form = $('site-form');
    form.reset(); clearErrors(form);
    state.siteMode = mode;
    options($('s-category'), 'categories', false);
    options($('s-status'), 'statuses', false);
    checks($('s-hazards'), 'hazards', 'hazards');
    $('s-new-fields').hidden = mode !== 'new';
    $('s-status-field').hidden = mode === 'new';
    $('site-title').textContent = t(mode === 'new' ? 'add_site' : 'change_site');
    if (mode === 'change') {
      var d = state.data, r = d.sites.rows[state.site];
      $('s-status').value = d.sites.statuses.length ? state.data.vocab.statuses[r[COL.STATUS]][0] : '';
      $('s-estimated_people').value = r[COL.PEOPLE];
      r[COL.HAZ].forEach(function (h) {
        var code = state.data.vocab.hazards[h][0];
        var box = form.querySelector('input[name="hazards"][value="' + code + '"]');
        if (box) { box.checked = true; }
      });
    } else {
      $('s-code').value = 'N-' + GoOutbox.uuid().slice(0, 6).toUpperCase();
      showPin();
    }
    $('site-panel').hidden = false;
  }

  function showPin() {
    var c = state.pin || state.map.getCenter();
    $('s-position').textContent = c.lat.toFixed(5) + ', ' + c.lng.toFixed(5);
  }

  function onSiteSubmit(ev) {
    ev.preventDefault();
    var form = $('site-form'); clearErrors(form);
    var people = Number(form.elements.estimated_people.value || 0);
    var props = {estimated_people: people, hazards: checked(form, 'hazards'),
                 access_notes: form.elements.access_notes.value.trim() || null};
    var problems = [];
    if (!Number.isInteger(people) || people < 0 || people > 500) { problems.push({field: 'estimated_people', fault: '0–500'}); }
    var id = GoOutbox.uuid(), entry;
    if (state.siteMode === 'new') {
      props.code = form.elements.code.value.trim(); props.name = form.elements.name.value.trim();
      props.category = form.elements.category.value;
      if (!props.code) { problems.push({field: 'code', fault: t('required')}); }
      if (!props.name) { problems.push({field: 'name', fault: t('required')}); }
      var c = state.pin || state.map.getCenter();
      entry = {id: id, kind: 'site', url: '/sites/' + id, created: new Date().toISOString(), state: 'pending',
               body: {type: 'Feature', geometry: {type: 'Point', coordinates: [c.lng, c.lat]}, properties: props}};
    } else {
      // Only what the user changed travels: a change waiting for review must not put back
      // values that others have changed meanwhile.
      var d = state.data, i = state.site, r = d.sites.rows[i], before = {
        status: d.vocab.statuses[r[COL.STATUS]][0], estimated_people: r[COL.PEOPLE],
        hazards: r[COL.HAZ].map(function (h) { return d.vocab.hazards[h][0]; }).sort().join(',')};
      props.status = form.elements.status.value;
      Object.keys(before).forEach(function (k) {
        var now = k === 'hazards' ? props.hazards.slice().sort().join(',') : props[k];
        if (now === before[k]) { delete props[k]; }
      });
      if (props.access_notes === null) { delete props.access_notes; }
      if (!Object.keys(props).length) { problems.push({field: '', fault: t('no_change')}); }
      entry = {id: id, kind: 'change', url: '/sites/' + d.sites.ids[i] + '/changes/' + id, created: new Date().toISOString(),
               state: 'pending', body: {base_version: d.sites.versions[i], properties: props}};
    }
    if (problems.length) { showProblems(problems, 'site'); return; }
    submitEntry(entry, 'site', function () { $('site-panel').hidden = true; refreshWaiting(); });
  }

  // -- proposed changes --------------------------------------------------------------------
  // What a change asks for, in words, beside what the site shows now (for the decision).
  function describeChange(props, i) {
    var d = state.data, r = i >= 0 ? d.sites.rows[i] : null;
    var now = r ? {status: d.vocab.statuses[r[COL.STATUS]][1], estimated_people: r[COL.PEOPLE],
                   hazards: r[COL.HAZ].map(function (h) { return d.vocab.hazards[h][1]; }).join(', ') || t('none')} : {};
    var rows = Object.keys(props).map(function (k) {
      var v = props[k];
      if (k === 'status') { v = vocabLabel('statuses', v); }
      if (k === 'hazards') { v = v.map(function (h) { return vocabLabel('hazards', h); }).join(', ') || t('none'); }
      var was = now[k] !== undefined ? ' (' + t('now_value') + ': ' + now[k] + ')' : '';
      return '<dt>' + esc(t(k)) + '</dt><dd>' + esc(v === null ? t('none') : v) + esc(was) + '</dd>';
    });
    return '<dl class="change">' + rows.join('') + '</dl>';
  }
  function refreshWaiting() {
    if (!state.data || !state.data.may.edit_sites) { return Promise.resolve(); }
    return api('GET', '/site-changes').then(function (r) { return r.ok ? r.json() : []; }).then(function (rows) {
      var mine = $('waiting-list'), review = $('review-list');
      mine.innerHTML = ''; review.innerHTML = '';
      rows.forEach(function (c) {
        var i = siteIndex(c.site_id);
        var label = i >= 0 ? state.data.sites.rows[i][COL.CODE] + ' · ' + state.data.sites.rows[i][COL.NAME] : c.site_id;
        var text = '<strong>' + esc(label) + '</strong><br><span class="state-pending">' + esc(t('waiting_review')) + '</span> · ' +
          esc(String(c.created_by).replace(/^api:/, '')) + ' · ' + esc(when(c.created_at)) + describeChange(c.properties, i);
        var li = document.createElement('li'); li.dataset.change = c.id; li.innerHTML = text;
        if (state.data.may.review) {
          var row = document.createElement('div'); row.className = 'row';
          // A rejection says why (the server refuses one without a reason); an acceptance may.
          var label = document.createElement('label'), reason = document.createElement('input');
          var fault = document.createElement('p');
          reason.id = 'reason-' + c.id; reason.name = 'reason'; reason.maxLength = 500; reason.className = 'decide-reason';
          label.htmlFor = reason.id; label.textContent = t('review_reason');
          fault.id = reason.id + '-err'; fault.className = 'field-error';
          li.appendChild(label); li.appendChild(reason); li.appendChild(fault);
          [['accept', 'accept'], ['reject', 'reject']].forEach(function (a) {
            var b = document.createElement('button'); b.type = 'button'; b.className = 'decide-' + a[0]; b.textContent = t(a[1]);
            b.addEventListener('click', function () {
              var why = reason.value.trim();
              function wrong(text) {
                fault.textContent = text; reason.setAttribute('aria-invalid', 'true');
                reason.setAttribute('aria-describedby', fault.id); reason.focus();
              }
              if (a[0] === 'reject' && !why) { wrong(t('required')); return; }
              api('POST', '/site-changes/' + c.id + '/' + a[0], why ? {reason: why} : undefined).then(function (r) {
                if (r.ok || r.status !== 422) { return refreshWaiting(); }
                return r.json().then(function (b) { wrong(((b.problems || [])[0] || {}).fault || t('refused')); });
              });
            });
            row.appendChild(b);
          });
          li.appendChild(row); review.appendChild(li);
        } else { mine.appendChild(li); }
      });
    }).catch(function () { return null; });
  }

  // -- start -------------------------------------------------------------------------------
  function loadData(asked) {
    var answer = asked || fetch('/app/data.json?lang=' + state.lang, {credentials: 'same-origin'});
    return answer.then(function (r) {
      if (r.status === 401) { return checkSession().then(function () { return null; }); }
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json();
    }).then(function (d) {
      if (!d) { return null; }
      var age = (Date.now() - Date.parse(d.generated_at)) / 3600000;
      if (age > d.data_ttl_hours) {
        return wipeData().then(function () { notice(t('expired_data')); return null; });
      }
      state.data = d;
      return GoOutbox.meta('dataAt', d.generated_at).then(function () { return d; });
    });
  }

  // The service worker keeps the street tiles of the route and the area (see sw.js).
  function prefetchTiles() {
    var list = state.data && state.data.tiles.prefetch;
    if (!list || !list.length || !('serviceWorker' in navigator)) { return; }
    navigator.serviceWorker.ready.then(function (reg) {
      if (reg.active) { reg.active.postMessage({type: 'prefetch-tiles', tiles: list}); }
    });
  }
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.addEventListener('message', function (e) {
      if (e.data && e.data.type === 'tiles-kept') { document.body.dataset.tilesKept = String(e.data.count); }
    });
  }

  function showView(name) {
    document.querySelectorAll('.tabs button').forEach(function (b) { b.setAttribute('aria-pressed', String(b.dataset.view === name)); });
    document.querySelectorAll('.view').forEach(function (v) { v.hidden = v.id !== 'view-' + name; });
    if (name === 'map' && state.map) { state.map.invalidateSize(); }
    if (name === 'review') { refreshWaiting(); }
  }

  function render() {
    var d = state.data;
    drawMap(); renderList(); renderRoute();
    document.querySelector('[data-view="review"]').hidden = !d.may.review;
    document.querySelector('[data-view="list"]').hidden = !d.sites;
    $('add-site').hidden = !d.may.edit_sites;
    refreshWaiting();
    if (state.online) { prefetchTiles(); }
    document.body.dataset.ready = 'true';
  }

  function wire() {
    document.querySelectorAll('.tabs button').forEach(function (b) { b.addEventListener('click', function () { showView(b.dataset.view); }); });
    document.querySelectorAll('[data-close]').forEach(function (b) {
      b.addEventListener('click', function () { $(b.dataset.close).hidden = true; state.pin = null; });
    });
    $('send-now').addEventListener('click', function () { flush(); });
    $('logout').addEventListener('click', function () { logout(false); });
    $('download-pending').addEventListener('click', downloadPending);
    $('site-search').addEventListener('input', renderList);
    $('card-visit').addEventListener('click', function () { openVisit(state.data.sites.ids[state.site], null, null); });
    $('card-change').addEventListener('click', function () { openSiteForm('change'); });
    $('add-site').addEventListener('click', function () { openSiteForm('new'); });
    $('visit-form').addEventListener('submit', onVisitSubmit);
    $('site-form').addEventListener('submit', onSiteSubmit);
    $('lang-select').addEventListener('change', function () {
      localStorage.setItem('go-lang', this.value);
      loadText(this.value).then(loadData).then(function (d) { if (d) { render(); } });
    });
    $('locate').addEventListener('click', function () {
      if (!state.map) { return; }
      state.map.locate({setView: true, maxZoom: 17});
    });
    window.addEventListener('online', function () { state.online = true; flush(); });
    window.addEventListener('offline', function () { state.online = false; showSync(); });
    setInterval(function () { flush(); }, FLUSH_EVERY_MS);
  }

  function start() {
    var asked = new URLSearchParams(location.search).get('lang');
    if (LANGS.indexOf(asked) >= 0) { localStorage.setItem('go-lang', asked); }
    var lang = localStorage.getItem('go-lang') || 'pl';
    state.who = localStorage.getItem('go-who') || undefined;  // offline: the last account seen
    if ('serviceWorker' in navigator) {
      navigator.serviceWorker.register('/app/sw.js', {scope: '/app/'}).catch(function () { return null; });
    }
    wire();
    // The texts, the session's state and the data are asked for at once: on a slow network
    // each round trip costs half a second. Their answers are read in order.
    var session = fetch('/app/session', {credentials: 'same-origin'});
    var data = fetch('/app/data.json?lang=' + lang, {credentials: 'same-origin'});
    session.catch(function () { return null; });
    data.catch(function () { return null; });
    loadText(lang).then(showSync).then(function () {
      return checkSession(session);
    }).then(function (s) {
      if (s === undefined) { return null; }  // on the way to the login page
      return loadData(data);
    }).then(function (d) {
      if (d) { render(); }
      return flush();
    }).catch(function (err) { notice(String(err)); });
  }

  document.addEventListener('DOMContentLoaded', start);
})();
