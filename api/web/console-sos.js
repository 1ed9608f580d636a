/* Console page "sos": the SOS bus's nightly duty log (POST /sos-bus/duties), this season's
   duties and the timetable of its stops (GET /sos-bus/stops, PATCH /sos-bus/stops/{id}).
   The server checks every value again and names the field; nothing is stored on a fault. */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var COUNTS = ['uses', 'meals', 'clothes', 'rides_to_warming_centre'];
  var state = {stops: [], routes: []};

  // A list answer may be a plain list, {items|duties|stops: […]} or GeoJSON features.
  function rows(body, key) {
    if (Array.isArray(body)) { return body; }
    if (body && Array.isArray(body[key])) { return body[key]; }
    if (body && Array.isArray(body.items)) { return body.items; }
    if (body && Array.isArray(body.features)) {
      return body.features.map(function (f) { return Object.assign({id: f.id}, f.properties); });
    }
    return [];
  }
  function hhmm(value) { return value ? String(value).slice(0, 5) : ''; }

  // The season runs over the new year: from July to June, so December and March are one season.
  function season() {
    var today = C.today(), year = Number(today.slice(0, 4)), month = Number(today.slice(5, 7));
    var first = month >= 7 ? year : year - 1;
    return {years: [first, first + 1], from: first + '-07-01', to: (first + 1) + '-06-30'};
  }

  function loadDuties() {
    var s = season();
    return Promise.all(s.years.map(function (y) { return C.api('GET', '/sos-bus/duties?year=' + y); })).then(function (answers) {
      var all = [];
      answers.forEach(function (a) { if (a.ok) { all = all.concat(rows(a.body, 'duties')); } });
      var failed = answers.filter(function (a) { return !a.ok; })[0];
      if (failed) { C.say(C.problems(failed).map(function (p) { return p.fault; }).join(' · '), 'error'); }
      all = all.filter(function (d) { return d.duty_date >= s.from && d.duty_date <= s.to; });
      all.sort(function (a, b) { return a.duty_date < b.duty_date ? 1 : -1; });
      drawDuties(all);
    });
  }

  function drawDuties(duties) {
    var tbody = C.$('sos-duties').querySelector('tbody');
    tbody.textContent = '';
    duties.forEach(function (d) {
      var route = d.route_name || d.route || '';
      tbody.appendChild(C.el('tr', {'data-date': d.duty_date}, [
        C.el('td', {text: C.day(d.duty_date + 'T12:00:00Z')}),
        C.el('td', {text: route}),
        C.el('td', {class: 'num', text: d.uses}),
        C.el('td', {class: 'num', text: d.meals}),
        C.el('td', {class: 'num', text: d.clothes}),
        C.el('td', {class: 'num', text: d.rides_to_warming_centre}),
        C.el('td', {text: d.notes || ''})
      ]));
    });
    C.$('sos-no-duties').hidden = duties.length > 0;
  }

  function loadStops() {
    return C.api('GET', '/sos-bus/stops').then(function (a) {
      if (!a.ok) { C.say(C.problems(a).map(function (p) { return p.fault; }).join(' · '), 'error'); return; }
      state.stops = rows(a.body, 'stops');
      var names = [];
      state.stops.forEach(function (s) {
        var name = s.route_name || s.route;
        if (name && names.indexOf(name) < 0) { names.push(name); }
      });
      state.routes = names;
      drawRoutes();
      drawStops();
    });
  }

  function drawRoutes() {
    var select = C.$('sos-route');
    select.textContent = '';
    state.routes.forEach(function (name) { select.appendChild(C.el('option', {value: name, text: name})); });
    C.$('sos-route-field').hidden = state.routes.length < 2;
  }

  function stopInput(stop, name, attrs) {
    var id = 'sos-stop-' + stop.id + '-' + name;
    var label = {arrive_time: 'sos_arrive', depart_time: 'sos_depart', season_from: 'sos_season_from', season_to: 'sos_season_to'}[name];
    var value = name.slice(-5) === '_time' ? hhmm(stop[name]) : (stop[name] || '');
    var input = C.el('input', Object.assign({id: id, name: name, value: value, 'aria-label': stop.name + ': ' + C.t(label)}, attrs));
    return C.el('td', {}, [input, C.el('p', {class: 'field-error', 'data-error-for': name})]);
  }

  function drawStops() {
    var tbody = C.$('sos-stops').querySelector('tbody');
    tbody.textContent = '';
    state.stops.slice().sort(function (a, b) {
      return String(a.route_name || a.route || '').localeCompare(String(b.route_name || b.route || '')) || a.seq - b.seq;
    }).forEach(function (stop) {
      var formId = 'sos-stop-form-' + stop.id;
      var form = C.el('form', {id: formId, class: 'sos-stop-form', novalidate: true}, [
        C.el('p', {class: 'field-error', 'data-error-for': ''})
      ]);
      var time = {type: 'time', form: formId, required: true};
      var md = {form: formId, maxlength: 5, pattern: '[0-9]{2}-[0-9]{2}', placeholder: 'MM-DD', inputmode: 'numeric'};
      var row = C.el('tr', {'data-stop': stop.id}, [
        C.el('td', {class: 'num', text: stop.seq}),
        C.el('th', {scope: 'row', text: stop.name}),
        stopInput(stop, 'arrive_time', time),
        stopInput(stop, 'depart_time', time),
        stopInput(stop, 'season_from', md),
        stopInput(stop, 'season_to', md),
        C.el('td', {}, [form, C.el('button', {type: 'submit', form: formId, text: C.t('save'),
                                               'aria-label': stop.name + ': ' + C.t('sos_save_stop')})])
      ]);
      form.addEventListener('submit', function (ev) { ev.preventDefault(); saveStop(stop, row, form); });
      tbody.appendChild(row);
    });
  }

  // Only what changed travels; the errors of a row are shown in that row's cells.
  function saveStop(stop, row, form) {
    var change = {};
    ['arrive_time', 'depart_time', 'season_from', 'season_to'].forEach(function (name) {
      var now = row.querySelector('[name="' + name + '"]').value.trim();
      var before = name.slice(-5) === '_time' ? hhmm(stop[name]) : (stop[name] || '');
      if (now !== before) { change[name] = now === '' ? null : now; }
    });
    // The season is one thing: both ends travel together (both empty: the route's season).
    if ('season_from' in change || 'season_to' in change) {
      ['season_from', 'season_to'].forEach(function (name) {
        change[name] = row.querySelector('[name="' + name + '"]').value.trim() || null;
      });
    }
    clearRow(row);
    if (!Object.keys(change).length) { return; }
    C.api('PATCH', '/sos-bus/stops/' + encodeURIComponent(stop.id), change).then(function (a) {
      if (a.ok) {
        Object.assign(stop, a.body && a.body.properties ? a.body.properties : (a.body || change));
        C.say(C.t('sos_stop_saved'), 'ok');
        return;
      }
      showRowProblems(row, form, C.problems(a));
    });
  }
  function clearRow(row) {
    row.querySelectorAll('.field-error').forEach(function (p) { p.textContent = ''; });
    row.querySelectorAll('[aria-invalid]').forEach(function (c) { c.removeAttribute('aria-invalid'); c.removeAttribute('aria-describedby'); });
  }
  function showRowProblems(row, form, problems) {
    problems.forEach(function (p, i) {
      var name = String(p.field || '').replace(/^(body|properties)\./, '').split('.')[0];
      var input = name ? row.querySelector('[name="' + CSS.escape(name) + '"]') : null;
      var place = input ? input.parentNode.querySelector('.field-error') : form.querySelector('.field-error');
      place.id = place.id || row.dataset.stop + '-err-' + (name || 'form') + '-' + i;
      place.textContent = p.fault;
      if (input) { input.setAttribute('aria-invalid', 'true'); input.setAttribute('aria-describedby', place.id); input.focus(); }
    });
    C.say(C.t('console_fix_fields'), 'error');
  }

  function dutyBody(form) {
    var body = {duty_date: form.elements.duty_date.value || null,
                notes: form.elements.notes.value.trim() || null};
    COUNTS.forEach(function (name) {
      var raw = form.elements[name].value.trim();
      body[name] = raw === '' ? 0 : Number(raw);
    });
    if (state.routes.length > 1) { body.route = form.elements.route.value; }
    return body;
  }

  function onDuty(ev) {
    ev.preventDefault();
    var form = C.$('sos-duty');
    var done = C.busy(C.t('sos_save'));
    C.clearErrors(form);
    C.api('POST', '/sos-bus/duties', dutyBody(form)).then(function (a) {
      if (a.ok) {
        done(C.t('sos_saved'), 'ok');
        form.reset();
        form.elements.duty_date.value = C.today();
        return loadDuties();
      }
      done('');
      var problems = a.status === 409 ? [{field: 'duty_date', fault: C.t('sos_duplicate')}] : C.problems(a);
      C.showErrors(form, problems);
      return null;
    });
  }

  C.ready.then(function () {
    // The SOS bus log and timetable are the coordinators' ("sos_bus": coordinator): another
    // role gets a notice and no calls (each refused one would be a "denied" audit row).
    if (C.role !== 'coordinator') {
      C.$('sos-denied').hidden = false;
      ['sos-duty-section', 'sos-duties-section', 'sos-stops-section'].forEach(function (id) { C.$(id).hidden = true; });
      return null;
    }
    var form = C.$('sos-duty');
    form.elements.duty_date.value = C.today();
    form.addEventListener('submit', onDuty);
    return Promise.all([loadDuties(), loadStops()]);
  }).then(function () { document.body.dataset.ready = 'true'; });
})();
