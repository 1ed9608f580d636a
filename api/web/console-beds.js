/* Console page "beds": the free-beds board. One row per facility: −/+ or a number PUTs
   /facilities/{id}/free-beds (If-Match: the version read), the history from
   GET /facilities/{id}/free-beds, and opening hours and season by PATCH /facilities/{id}. */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var NO_BEDS = ['jadlodajnia', 'mops', 'punkt_medyczny'];
  var DAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
  var LINE = /^\s*([A-Za-z]{2})\s+([0-2]?\d:[0-5]\d)\s*[-–]\s*([0-2]?\d:[0-5]\d)\s*$/;
  var facilities = [];

  // C.api with an If-Match header (the version the board shows), same answer shape.
  function send(method, url, data, version) {
    var m = document.cookie.match(/(?:^|;\s*)go_csrf=([^;]+)/);
    var headers = {'Accept': 'application/json', 'Content-Type': 'application/json',
                   'X-CSRF-Token': m ? decodeURIComponent(m[1]) : '', 'If-Match': '"' + version + '"'};
    return fetch(url, {method: method, headers: headers, credentials: 'same-origin', body: JSON.stringify(data)}).then(function (r) {
      if (r.status === 401) { C.sessionEnded(); }  // the notice; the board keeps what was typed
      return r.json().catch(function () { return null; }).then(function (b) { return {ok: r.ok, status: r.status, body: b, response: r}; });
    }, function () { return {ok: false, status: 0, body: null, response: null}; });
  }

  function load() {
    return C.api('GET', '/facilities?limit=1000').then(function (a) {
      if (!a.ok) { C.say(C.problems(a).map(function (p) { return p.fault; }).join(' · '), 'error'); return; }
      // Places without beds (a soup kitchen, an office) stay off the board unless they report some.
      facilities = (a.body.features || []).map(function (f) { return {id: f.id, p: f.properties}; }).filter(function (f) {
        return NO_BEDS.indexOf(f.p.type) < 0 || f.p.capacity !== null || f.p.free_beds !== null;
      });
      facilities.sort(function (x, y) { return String(x.p.name).localeCompare(String(y.p.name)); });
      draw();
    });
  }

  function hoursText(list) {
    return (list || []).map(function (e) { return e.byday + ' ' + e.opens_at + '-' + e.closes_at; }).join('\n');
  }
  function pad(hm) { return hm.length === 4 ? '0' + hm : hm; }

  function draw() {
    var tbody = C.$('beds').querySelector('tbody');
    tbody.textContent = '';
    facilities.forEach(function (f) {
      var row = C.$('beds-row').content.firstElementChild.cloneNode(true);
      var more = C.$('beds-more').content.firstElementChild.cloneNode(true);
      row.dataset.facility = f.id;
      row.dataset.code = f.p.code;
      more.dataset.facility = f.id;
      row.querySelector('.beds-name').appendChild(C.el('span', {text: f.p.name}));
      row.querySelector('.beds-name').appendChild(C.el('span', {class: 'muted', text: ' ' + f.p.code}));
      var setForm = row.querySelector('.beds-set'), input = setForm.elements.free_beds;
      input.id = 'beds-set-' + f.id;
      setForm.querySelector('label').setAttribute('for', input.id);
      setForm.querySelector('label').textContent = f.p.name + ': ' + C.t('beds_free');
      if (f.p.capacity !== null && f.p.capacity !== undefined) { input.max = f.p.capacity; }
      row.querySelector('.beds-minus').setAttribute('aria-label', f.p.name + ': ' + C.t('beds_minus'));
      row.querySelector('.beds-plus').setAttribute('aria-label', f.p.name + ': ' + C.t('beds_plus'));
      row.querySelector('.beds-minus').addEventListener('click', function () { change(f, row, more, (f.p.free_beds || 0) - 1); });
      row.querySelector('.beds-plus').addEventListener('click', function () { change(f, row, more, (f.p.free_beds || 0) + 1); });
      setForm.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var raw = input.value.trim();
        change(f, row, more, raw === '' ? null : Number(raw));
      });
      var history = more.querySelector('.beds-history');
      history.addEventListener('toggle', function () { if (history.open) { loadHistory(f, more); } });
      wireDetails(f, more);
      fill(f, row, more);
      tbody.appendChild(row);
      tbody.appendChild(more);
    });
  }

  function tapState(f, row) {
    var free = f.p.free_beds;
    row.querySelector('.beds-minus').disabled = !(free > 0);
    row.querySelector('.beds-plus').disabled = f.p.capacity !== null && f.p.capacity !== undefined && free !== null && free >= f.p.capacity;
  }

  function fill(f, row, more) {
    var free = f.p.free_beds;
    row.querySelector('.beds-now').textContent = free === null || free === undefined ? '–' : String(free);
    tapState(f, row);
    row.querySelector('.beds-set').elements.free_beds.value = free === null || free === undefined ? '' : free;
    row.querySelector('.beds-capacity').textContent = f.p.capacity === null || f.p.capacity === undefined ? '–' : f.p.capacity;
    row.querySelector('.beds-updated').textContent = C.when(f.p.free_beds_updated_at);
    var form = more.querySelector('.beds-details-form');
    form.elements.opening_hours.value = hoursText(f.p.opening_hours);
    form.elements.season_from.value = f.p.season_from || '';
    form.elements.season_to.value = f.p.season_to || '';
  }

  function change(f, row, more, value) {
    var form = row.querySelector('.beds-set');
    C.clearErrors(form);
    var done = C.busy(C.t('beds_set'));
    // One change at a time per row: a second tap would carry the version the first one replaces.
    var buttons = row.querySelectorAll('button');
    buttons.forEach(function (b) { b.disabled = true; });
    send('PUT', '/facilities/' + f.id + '/free-beds', {free_beds: value}, f.p.version).then(function (a) {
      buttons.forEach(function (b) { b.disabled = false; });
      tapState(f, row);
      if (a.ok) {
        f.p = a.body.properties;
        fill(f, row, more);
        done(f.p.name + ': ' + C.t('beds_saved') + ' ' + f.p.free_beds, 'ok');
        if (more.querySelector('.beds-history').open) { loadHistory(f, more); }
        return null;
      }
      if (a.status === 401) { done(null); return null; }
      done('');
      if (a.status === 412) {
        C.showErrors(form, [{field: 'free_beds', fault: C.t('beds_stale')}]);
        return reloadOne(f, row, more);
      }
      C.showErrors(form, C.problems(a));
      return null;
    });
  }

  function reloadOne(f, row, more) {
    return C.api('GET', '/facilities/' + f.id).then(function (a) {
      if (a.ok) { f.p = a.body.properties; fill(f, row, more); }
    });
  }

  function loadHistory(f, more) {
    var list = more.querySelector('.beds-history-list');
    return C.api('GET', '/facilities/' + f.id + '/free-beds').then(function (a) {
      list.textContent = '';
      var entries = a.ok ? (Array.isArray(a.body) ? a.body : a.body.history || []) : [];
      if (!a.ok) { list.appendChild(C.el('li', {text: C.problems(a)[0].fault})); return; }
      if (!entries.length) { list.appendChild(C.el('li', {text: C.t('beds_no_history')})); }
      entries.forEach(function (e) {
        list.appendChild(C.el('li', {}, [C.el('strong', {text: e.free_beds === null ? '–' : e.free_beds}),
          ' · ' + C.when(e.at) + (e.by ? ' · ' + String(e.by).replace(/^api:/, '') : '')]));
      });
    });
  }

  function wireDetails(f, more) {
    var form = more.querySelector('.beds-details-form');
    ['opening_hours', 'season_from', 'season_to'].forEach(function (name) {
      var control = form.elements[name];
      control.id = 'beds-' + name + '-' + f.id;
      control.closest('.field').querySelector('label').setAttribute('for', control.id);
    });
    var hint = form.querySelector('.hint');
    hint.id = 'beds-hours-hint-' + f.id;
    form.elements.opening_hours.setAttribute('aria-describedby', hint.id);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      C.clearErrors(form);
      var problems = [], hours = [];
      form.elements.opening_hours.value.split('\n').forEach(function (line, i) {
        if (!line.trim()) { return; }
        var m = LINE.exec(line);
        if (!m || DAYS.indexOf(m[1].toUpperCase()) < 0) {
          problems.push({field: 'opening_hours', fault: (i + 1) + ': "' + line.trim() + '" – ' + C.t('beds_hours_help')});
          return;
        }
        hours.push({byday: m[1].toUpperCase(), opens_at: pad(m[2]), closes_at: pad(m[3])});
      });
      if (problems.length) { C.showErrors(form, problems); return; }
      var props = {opening_hours: hours, season_from: form.elements.season_from.value.trim() || null,
                   season_to: form.elements.season_to.value.trim() || null};
      send('PATCH', '/facilities/' + f.id, {properties: props}, f.p.version).then(function (a) {
        if (a.ok) {
          f.p = a.body.properties;
          var row = C.$('beds').querySelector('tr[data-facility="' + f.id + '"]');
          fill(f, row, more);
          C.say(f.p.name + ': ' + C.t('beds_details_saved'), 'ok');
          return;
        }
        if (a.status === 401) { return; }
        if (a.status === 412) {
          C.showErrors(form, [{field: '', fault: C.t('beds_stale')}]);
          reloadOne(f, C.$('beds').querySelector('tr[data-facility="' + f.id + '"]'), more);
          return;
        }
        C.showErrors(form, C.problems(a));
      });
    });
  }

  C.ready.then(load).then(function () { document.body.dataset.ready = 'true'; });
})();
