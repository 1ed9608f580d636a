/* The console's plan page (issue 12): plan a night (POST /plans), see it (map, teams, sites
   left out), adjust and re-solve (POST /plans/{id}/resolve), compare two plans
   (GET /plans/compare), publish (POST /plans/{id}/publish) → route sheet and GPX per team. */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var MAX_TEAMS = 10;
  var NAME = /^[a-z0-9][a-z0-9._-]{2,63}$/;
  // What the user chose per site of the shown plan, carried to the re-solved one:
  // {site_id: {action: 'require'|'exclude'|'lock', team: n, code, name}}.
  var state = {plan: null, adjust: {}, accounts: []};

  // -- crews: one fieldset per team (name, members) ----------------------------------------
  function crewValues(box) {
    return Array.prototype.map.call(box.querySelectorAll('fieldset'), function (fs) {
      return {name: fs.querySelector('[data-part=name]').value.trim(),
              members: fs.querySelector('[data-part=members]').value};
    });
  }
  function drawCrews(box, n, given) {
    var before = given || crewValues(box);
    box.innerHTML = '';
    var prefix = box.id;
    for (var i = 0; i < n; i++) {
      var was = before[i] || {name: C.t('plan_team_n', {n: i + 1}), members: ''};
      var members = Array.isArray(was.members) ? was.members.join(', ') : was.members;
      var nameId = prefix + '-' + i + '-name', memId = prefix + '-' + i + '-members', hintId = prefix + '-' + i + '-hint';
      box.appendChild(C.el('fieldset', {class: 'crew', 'data-team': i + 1}, [
        C.el('legend', {text: C.t('plan_team_n', {n: i + 1})}),
        C.el('div', {class: 'form-grid'}, [
          C.el('div', {class: 'field'}, [
            C.el('label', {for: nameId, text: C.t('plan_crew_name')}),
            C.el('input', {id: nameId, name: 'crews.' + i + '.name', 'data-part': 'name', maxlength: 100, value: was.name}),
            C.el('p', {class: 'field-error', 'data-error-for': 'crews.' + i + '.name'})
          ]),
          C.el('div', {class: 'field'}, [
            C.el('label', {for: memId, text: C.t('plan_members')}),
            C.el('input', {id: memId, name: 'crews.' + i + '.members', 'data-part': 'members', value: members,
                           autocomplete: 'off', list: state.accounts.length ? 'plan-accounts' : null, 'aria-describedby': hintId}),
            C.el('p', {class: 'hint', id: hintId, text: C.t('plan_members_hint')}),
            C.el('p', {class: 'field-error', 'data-error-for': 'crews.' + i + '.members'})
          ])
        ])
      ]));
    }
  }
  function splitNames(text) {
    return String(text || '').split(/[\s,;]+/).map(function (s) { return s.trim(); }).filter(Boolean);
  }
  // The crews as the API wants them, with faults for names that cannot be account names.
  function readCrews(box, problems) {
    return crewValues(box).map(function (c, i) {
      var members = splitNames(c.members);
      if (!c.name) { problems.push({field: 'crews.' + i + '.name', fault: C.t('console_required')}); }
      members.forEach(function (m) {
        if (!NAME.test(m)) { problems.push({field: 'crews.' + i + '.members', fault: C.t('plan_bad_account', {name: m})}); }
      });
      return {name: c.name, members: members};
    });
  }
  function teamCount(input, problems) {
    var n = Number(input.value);
    if (!Number.isInteger(n) || n < 1 || n > MAX_TEAMS) {
      problems.push({field: 'teams', fault: C.t('plan_teams_range', {max: MAX_TEAMS})});
      return null;
    }
    return n;
  }

  // -- the window: start and end times, the end on the same day or the next morning -------
  function minutes(hhmm) { var p = String(hhmm).split(':'); return Number(p[0]) * 60 + Number(p[1]); }
  function endHint() {
    var f = C.$('plan-form'), day = f.elements.day.value, end = f.elements.end.value;
    if (!day || !end) { C.$('plan-end-hint').textContent = ''; return; }
    var d = new Date(day + 'T12:00:00Z');
    if (f.elements.end_day.value === 'next') { d.setUTCDate(d.getUTCDate() + 1); }
    C.$('plan-end-hint').textContent = C.t('plan_ends_on', {day: d.toISOString().slice(0, 10), time: end});
  }
  function autoEndDay() {
    var f = C.$('plan-form');
    if (f.elements.start.value && f.elements.end.value) {
      f.elements.end_day.value = minutes(f.elements.end.value) <= minutes(f.elements.start.value) ? 'next' : 'same';
    }
    endHint();
  }

  // The request, and the faults the browser can see (the server checks all of it again).
  function planRequest(f) {
    var problems = [], el = f.elements;
    var body = {mode: el.mode.value, day: el.day.value, start: el.start.value, end: el.end.value,
                seconds: Number(el.seconds.value || 2)};
    if (!body.day) { problems.push({field: 'day', fault: C.t('console_required')}); }
    if (!body.start) { problems.push({field: 'start', fault: C.t('console_required')}); }
    if (!body.end) { problems.push({field: 'end', fault: C.t('console_required')}); }
    if (body.start && body.end) {
      var s = minutes(body.start), e = minutes(body.end), next = el.end_day.value === 'next';
      if (!next && e <= s) { problems.push({field: 'end', fault: C.t('plan_end_before_start')}); }
      if (next && e >= s) { problems.push({field: 'end', fault: C.t('plan_too_long')}); }
    }
    var teams = teamCount(el.teams, problems);
    if (teams) { body.teams = teams; }
    body.crews = readCrews(C.$('plan-crews'), problems);
    if (el.temperature.value !== '') { body.temperature = Number(el.temperature.value); }
    if (body.mode === 'akcja-zima' && body.temperature === undefined) {
      problems.push({field: 'temperature', fault: C.t('plan_temperature_needed')});
    }
    var district = el.district.value.trim();
    if (district) { body.district = district; }
    if (body.mode === 'inspection' && !district) { problems.push({field: 'district', fault: C.t('console_required')}); }
    var lat = el.depot_lat.value, lon = el.depot_lon.value;
    if (lat !== '' || lon !== '') {
      if (lat === '' || lon === '') { problems.push({field: 'depot', fault: C.t('plan_depot_both')}); }
      body.depot = [Number(lon), Number(lat)];
    }
    return {body: body, problems: problems};
  }

  // -- showing a plan ----------------------------------------------------------------------
  function reasonLabel(code) { return C.t('plan_reason_' + code); }
  function km(v) { return v === null || v === undefined ? '–' : Number(v).toFixed(1); }
  function short(id) { return String(id || '').slice(0, 8); }
  function stopsOf(plan) {
    return ((plan.plan && plan.plan.features) || []).filter(function (f) { return f.properties.kind === 'stop'; })
      .map(function (f) { return f.properties; });
  }

  function drawTeams(summary) {
    var tbody = C.$('plan-teams-table').querySelector('tbody');
    tbody.innerHTML = '';
    (summary.teams || []).forEach(function (tm) {
      tbody.appendChild(C.el('tr', {'data-team': tm.team}, [
        C.el('th', {scope: 'row', text: tm.team + '. ' + (tm.name || '')}),
        C.el('td', {text: (tm.members || []).join(', ') || C.t('console_none')}),
        C.el('td', {class: 'num', text: tm.sites}),
        C.el('td', {class: 'num', text: km(tm.km)}),
        C.el('td', {class: 'num', text: tm.minutes}),
        C.el('td', {text: C.time(tm.depart)}),
        C.el('td', {text: C.time(tm.back)})
      ]));
    });
    C.$('plan-totals').textContent = C.t('plan_totals', {
      sites: summary.sites_covered, km: km(summary.km),
      first: summary.vulnerable_first_half, total: summary.vulnerable_total});
    var left = C.$('plan-left-out').querySelector('tbody');
    left.innerHTML = '';
    (summary.left_out || []).forEach(function (s) {
      left.appendChild(C.el('tr', {'data-site': s.site_id}, [
        C.el('td', {text: s.code}), C.el('td', {text: s.name}), C.el('td', {text: reasonLabel(s.reason)})
      ]));
    });
    if (!(summary.left_out || []).length) {
      left.appendChild(C.el('tr', {}, [C.el('td', {colspan: 3, text: C.t('plan_none_left_out')})]));
    }
  }

  // Every site of the plan with what may be done to it; a site the user excluded is no longer
  // in the plan, so it is kept from the adjustments and shown too.
  function drawSites(plan) {
    var teams = (plan.summary.teams || []).length;
    var rows = [], seen = {};
    stopsOf(plan).forEach(function (s) {
      if (!s.site_id) { return; }
      seen[s.site_id] = true;
      rows.push({id: s.site_id, code: s.code, name: s.name, now: C.t('plan_on_team', {team: s.team, seq: s.seq})});
    });
    (plan.summary.left_out || []).forEach(function (s) {
      if (!s.site_id || seen[s.site_id]) { return; }
      seen[s.site_id] = true;
      rows.push({id: s.site_id, code: s.code, name: s.name, now: C.t('plan_left_out_as', {reason: reasonLabel(s.reason)})});
    });
    Object.keys(state.adjust).forEach(function (id) {
      if (seen[id]) { return; }
      var a = state.adjust[id];
      rows.push({id: id, code: a.code, name: a.name, now: C.t('plan_not_in_plan')});
    });
    var tbody = C.$('plan-sites').querySelector('tbody');
    tbody.innerHTML = '';
    rows.forEach(function (r, i) {
      var selectId = 'site-action-' + i;
      var options = [['', C.t('plan_action_keep')], ['require', C.t('plan_action_require')], ['exclude', C.t('plan_action_exclude')]];
      for (var n = 1; n <= teams; n++) { options.push(['lock:' + n, C.t('plan_action_lock', {team: n})]); }
      var select = C.el('select', {id: selectId, 'data-site': r.id, 'data-code': r.code, 'data-name': r.name, 'aria-label': C.t('plan_action_for', {code: r.code})},
        options.map(function (o) { return C.el('option', {value: o[0], text: o[1]}); }));
      var a = state.adjust[r.id];
      if (a) { select.value = a.action === 'lock' ? 'lock:' + a.team : a.action; }
      select.addEventListener('change', filterSites);
      tbody.appendChild(C.el('tr', {'data-code': r.code}, [
        C.el('td', {text: r.code}), C.el('td', {text: r.name}), C.el('td', {text: r.now}), C.el('td', {}, [select])
      ]));
    });
    filterSites();
  }

  // Only the sites whose code or name holds the typed text (and those with a change chosen).
  function filterSites() {
    var q = C.$('plan-site-filter').value.trim().toLowerCase();
    C.$('plan-sites').querySelectorAll('tbody tr').forEach(function (tr) {
      var chosen = tr.querySelector('select').value !== '';
      tr.hidden = !!q && !chosen && tr.textContent.toLowerCase().indexOf(q) < 0;
    });
  }

  // What publishing replaced: the earlier published version's patrols it cancelled.
  function replacedText(replaced) {
    if (!replaced || !replaced.length) { return ''; }
    var plans = replaced.map(function (p) { return short(p.plan_id); }).filter(function (id, i, all) { return all.indexOf(id) === i; });
    return C.t('plan_replaced', {plan: plans.join(', '), codes: replaced.map(function (p) { return p.code; }).join(', ')});
  }

  function drawPublished(plan, patrols, replaced) {
    C.$('plan-publish').disabled = !!plan.published;
    C.$('plan-published').hidden = !plan.published;
    var note = C.$('plan-replaced');
    note.textContent = replacedText(replaced);
    note.hidden = !note.textContent;
    if (!plan.published) { return; }
    C.$('plan-published-text').textContent = patrols ? C.t('plan_published_n', {n: patrols.length}) : C.t('plan_is_published');
    var sheet = C.$('plan-sheet');
    sheet.href = '/plans/' + plan.id + '/sheet.html?lang=' + C.lang;
    var ul = C.$('plan-gpx');
    ul.innerHTML = '';
    var teams = patrols || (plan.summary.teams || []).map(function (tm) { return {team: tm.team, name: tm.name, members: tm.members}; });
    teams.forEach(function (p) {
      ul.appendChild(C.el('li', {'data-team': p.team}, [
        C.el('strong', {text: p.team + '. ' + (p.name || '') + (p.code ? ' (' + p.code + ')' : '')}),
        ' · ' + ((p.members || []).join(', ') || C.t('console_none')) + ' · ',
        C.el('a', {href: '/plans/' + plan.id + '/teams/' + p.team + '.gpx', download: '', class: 'gpx-link',
                   text: C.t('plan_gpx_of', {team: p.team})})
      ]));
    });
  }

  function showPlan(plan) {
    state.plan = plan;
    C.$('plan-result').hidden = false;
    var meta = C.t('plan_meta', {id: short(plan.id), when: C.when(plan.created_at || new Date().toISOString())});
    if (plan.parent_id) { meta += ' · ' + C.t('plan_from', {id: short(plan.parent_id)}); }
    if (plan.extra_teams_needed) { meta += ' · ' + C.t('plan_extra_teams', {n: plan.extra_teams_needed}); }
    C.$('plan-meta').textContent = meta;
    C.$('plan-result').dataset.plan = plan.id;
    var frame = C.$('plan-map'), src = '/plans/' + plan.id + '/map.html?lang=' + C.lang;
    if (frame.getAttribute('src') !== src) { frame.setAttribute('src', src); }
    drawTeams(plan.summary || {});
    drawSites(plan);
    C.$('resolve-teams').value = (plan.summary.teams || []).length || 1;
    drawCrews(C.$('resolve-crews'), (plan.summary.teams || []).length, plan.summary.teams || []);
    drawPublished(plan, null);
    var u = new URL(location.href);
    u.searchParams.set('plan', plan.id);
    history.replaceState(null, '', u.pathname + u.search);
  }

  // -- actions -----------------------------------------------------------------------------
  // `adjust`: the per-site choices sent with it, kept for the plan that comes back.
  function solve(form, url, body, label, adjust) {
    var button = form.querySelector('button[type=submit]');
    button.disabled = true;
    var done = C.busy(label, Number(body.seconds || 2) + 8, C.$('plan-result'));
    return C.send(form, 'POST', url, body).then(function (answer) {
      button.disabled = false;
      // Refused: the status line already says why (faults, busy planner, offline, session).
      if (!answer.ok) { done(null); return null; }
      var plan = answer.body;
      done(C.t('plan_ready', {sites: plan.summary.sites_covered}), 'ok');
      state.adjust = adjust;
      showPlan(plan);
      C.$('plan-result-title').scrollIntoView({block: 'start'});
      return loadRecent().then(function () {
        if (plan.parent_id) { C.$('compare-a').value = plan.parent_id; C.$('compare-b').value = plan.id; }
        return plan;
      });
    });
  }

  function onPlan(ev) {
    ev.preventDefault();
    var f = C.$('plan-form');
    C.clearErrors(f);
    var made = planRequest(f);
    if (made.problems.length) { C.showErrors(f, made.problems); return; }
    solve(f, '/plans', made.body, C.t('plan_solving'), {});
  }

  function onResolve(ev) {
    ev.preventDefault();
    var f = C.$('resolve-form'), problems = [];
    C.clearErrors(f);
    var adjust = {}, body = {require: [], exclude: [], lock: {}};
    f.querySelectorAll('select[data-site]').forEach(function (s) {
      var v = s.value, id = s.dataset.site;
      if (!v) { return; }
      var a = {action: v.split(':')[0], code: s.dataset.code, name: s.dataset.name};
      if (a.action === 'lock') { a.team = Number(v.split(':')[1]); body.lock[id] = a.team; }
      if (a.action === 'require') { body.require.push(id); }
      if (a.action === 'exclude') { body.exclude.push(id); }
      adjust[id] = a;
    });
    var teams = teamCount(f.elements.teams, problems);
    if (teams) {
      body.teams = teams;
      Object.keys(body.lock).forEach(function (id) {
        if (body.lock[id] > teams) { problems.push({field: 'lock', fault: C.t('plan_lock_beyond', {code: adjust[id].code, team: body.lock[id]})}); }
      });
    }
    body.crews = readCrews(C.$('resolve-crews'), problems);
    if (problems.length) { C.showErrors(f, problems); return; }
    var from = state.plan.id;
    solve(f, '/plans/' + from + '/resolve', body, C.t('plan_resolving'), adjust);
  }

  // Once: the button is off while the request runs and for a published plan.
  function onPublish(ev) {
    ev.preventDefault();
    var f = C.$('publish-form'), plan = state.plan, button = C.$('plan-publish');
    if (button.disabled || plan.published) { return; }
    button.disabled = true;
    var done = C.busy(C.t('plan_publishing'), 0, f);
    C.send(f, 'POST', '/plans/' + plan.id + '/publish').then(function (answer) {
      if (!answer.ok) { button.disabled = !!plan.published; done(null); return; }
      var out = answer.body;
      plan.published = true;
      var replaced = replacedText(out.replaced);
      done(C.t('plan_published_n', {n: out.patrols.length}) + (replaced ? ' ' + replaced : ''), 'ok');
      drawPublished(plan, out.patrols, out.replaced);
      loadRecent();
    });
  }

  function onCompare(ev) {
    ev.preventDefault();
    var f = C.$('compare-form'), a = f.elements.a.value, b = f.elements.b.value;
    C.clearErrors(f);
    if (!a || !b || a === b) { C.showErrors(f, [{field: 'b', fault: C.t('plan_compare_two')}]); return; }
    C.submit(f, 'GET', '/plans/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b)).then(function (out) {
      if (!out) { return; }
      var table = C.$('compare-table'), tbody = table.querySelector('tbody');
      C.$('compare-a-head').textContent = 'A · ' + short(a);
      C.$('compare-b-head').textContent = 'B · ' + short(b);
      function minutesOf(s) { return (s.teams || []).reduce(function (sum, tm) { return sum + (tm.minutes || 0); }, 0); }
      var rows = [
        ['plan_teams', function (s) { return (s.teams || []).length; }],
        ['plan_sites_covered', function (s) { return s.sites_covered; }],
        ['plan_km', function (s) { return km(s.km); }],
        ['plan_minutes', minutesOf],
        ['plan_vulnerable_first', function (s) { return C.t('plan_x_of_y', {x: s.vulnerable_first_half, y: s.vulnerable_total}); }],
        ['plan_left_out', function (s) { return (s.left_out || []).length; }]
      ];
      tbody.innerHTML = '';
      rows.forEach(function (r) {
        tbody.appendChild(C.el('tr', {'data-measure': r[0]}, [
          C.el('th', {scope: 'row', text: C.t(r[0])}),
          C.el('td', {class: 'num', text: r[1](out.a)}), C.el('td', {class: 'num', text: r[1](out.b)})
        ]));
      });
      table.hidden = false;
    });
  }

  function openPlan(id) {
    var done = C.busy(C.t('console_loading'), 0);
    return C.api('GET', '/plans/' + encodeURIComponent(id)).then(function (answer) {
      if (!answer.ok) { done(answer.status === 401 ? '' : C.problems(answer)[0].fault, 'error'); return; }
      done('');
      state.adjust = {};
      showPlan(answer.body);
      C.$('plan-result').scrollIntoView({block: 'start'});
    });
  }

  function loadRecent() {
    return C.api('GET', '/plans').then(function (answer) {
      var list = answer.ok && Array.isArray(answer.body) ? answer.body : [];
      var tbody = C.$('plan-recent').querySelector('tbody');
      tbody.innerHTML = '';
      list.forEach(function (p) {
        var s = p.summary || {};
        tbody.appendChild(C.el('tr', {'data-plan': p.id}, [
          C.el('td', {text: C.when(p.created_at) + (p.parent_id ? ' ↳ ' + short(p.parent_id) : '')}),
          C.el('td', {text: C.t('plan_mode_' + String(p.mode).replace('-', '_'))}),
          C.el('td', {text: p.day}),
          C.el('td', {class: 'num', text: s.sites_covered}),
          C.el('td', {class: 'num', text: km(s.km)}),
          C.el('td', {text: p.replaced_by ? C.t('plan_state_replaced', {id: short(p.replaced_by)}) : (p.published ? C.t('plan_state_published') : C.t('plan_state_draft'))}),
          C.el('td', {}, [C.el('button', {type: 'button', class: 'open-plan', text: C.t('plan_open_n', {id: short(p.id)}),
                                          onclick: function () { openPlan(p.id); }})])
        ]));
      });
      if (!list.length) {
        tbody.appendChild(C.el('tr', {}, [C.el('td', {colspan: 7, text: C.t('plan_no_plans')})]));
      }
      ['compare-a', 'compare-b'].forEach(function (sid) {
        var select = C.$(sid), was = select.value;
        select.innerHTML = '';
        list.forEach(function (p) {
          select.appendChild(C.el('option', {value: p.id, text: short(p.id) + ' · ' + C.when(p.created_at) + ' · ' +
            C.t('plan_x_sites', {n: (p.summary || {}).sites_covered})}));
        });
        if (was) { select.value = was; }
      });
      if (list.length > 1 && !C.$('compare-b').dataset.touched) {
        C.$('compare-a').value = C.$('compare-a').value || list[1].id;
      }
    });
  }

  // The accounts a crew may name (GET /plans/crew-accounts: active streetworkers and
  // coordinators; partners marked, for joint plans only) for the members' fields.
  function loadAccounts() {
    return C.api('GET', '/plans/crew-accounts').then(function (answer) {
      if (!answer.ok || !Array.isArray(answer.body)) { return; }
      state.accounts = answer.body;
      var list = C.el('datalist', {id: 'plan-accounts'}, state.accounts.map(function (u) {
        var label = C.t('console_role_' + u.role) + (u.joint_only ? ', ' + C.t('plan_joint_only') : '');
        return C.el('option', {value: u.name, label: u.name + ' (' + label + ')'});
      }));
      document.body.appendChild(list);
    });
  }
  function loadDistricts() {
    return C.api('GET', '/areas?kind=district&limit=200').then(function (answer) {
      if (!answer.ok || !answer.body || !answer.body.features) { return; }
      var names = answer.body.features.map(function (f) { return f.properties.name; }).filter(Boolean).sort();
      var list = C.$('plan-districts');
      names.forEach(function (n) { list.appendChild(C.el('option', {value: n})); });
    });
  }

  C.ready.then(function () {
    var f = C.$('plan-form');
    f.elements.day.value = C.today();
    f.addEventListener('submit', onPlan);
    f.elements.start.addEventListener('change', autoEndDay);
    f.elements.end.addEventListener('change', autoEndDay);
    f.elements.end_day.addEventListener('change', endHint);
    f.elements.day.addEventListener('change', endHint);
    f.elements.teams.addEventListener('input', function () {
      var n = Number(f.elements.teams.value);
      if (Number.isInteger(n) && n >= 1 && n <= MAX_TEAMS) { drawCrews(C.$('plan-crews'), n); }
    });
    var rf = C.$('resolve-form');
    rf.addEventListener('submit', onResolve);
    rf.elements.teams.addEventListener('input', function () {
      var n = Number(rf.elements.teams.value);
      if (Number.isInteger(n) && n >= 1 && n <= MAX_TEAMS) { drawCrews(C.$('resolve-crews'), n); }
    });
    C.$('publish-form').addEventListener('submit', onPublish);
    C.$('compare-form').addEventListener('submit', onCompare);
    C.$('plan-site-filter').addEventListener('input', filterSites);
    C.$('compare-b').addEventListener('change', function () { C.$('compare-b').dataset.touched = '1'; });
    endHint();
    return Promise.all([loadAccounts(), loadDistricts()]).then(function () {
      drawCrews(C.$('plan-crews'), Number(f.elements.teams.value) || 1);
      return loadRecent();
    }).then(function () {
      var asked = new URLSearchParams(location.search).get('plan');
      return asked ? openPlan(asked) : null;
    });
  }).then(function () {
    document.body.dataset.ready = 'true';
  }, function (err) {
    C.say(String(err), 'error');
    document.body.dataset.ready = 'true';
  });
})();
