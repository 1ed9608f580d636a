/* The console's patrols page (issue 12): patrols planned / running / done (GET /patrols), each
   with its progress (GET /patrols/{id}/progress: planned stops vs visits logged), its status,
   agencies and notes (PATCH /patrols/{id}), members incl. partner accounts
   (PUT /patrols/{id}/members) and the actual GPX track (PUT /patrols/{id}/track). */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var NAME = /^[a-z0-9][a-z0-9._-]{2,63}$/;
  var AGENCIES = ['mops', 'straz_miejska', 'policja', 'ngo', 'ratownictwo', 'other'];
  // The API's transitions (layers/patrols.py), mirrored to offer only possible changes.
  var NEXT = {planned: ['in_progress', 'cancelled'], in_progress: ['done', 'cancelled'], done: [], cancelled: []};
  var GROUP = {planned: 'patrols-planned', in_progress: 'patrols-running', done: 'patrols-done', cancelled: 'patrols-done'};
  var state = {open: {}};

  function statusLabel(s) { return C.t('patrols_status_' + s); }

  // Europe/Warsaw's offset on a day, e.g. "+01:00" (the API wants times with an offset).
  function warsawOffset(day) {
    var text = new Date(day + 'T12:00:00Z').toLocaleString('en-US', {timeZone: 'Europe/Warsaw', timeZoneName: 'shortOffset'});
    var m = text.match(/GMT([+-])(\d{1,2})(?::(\d{2}))?/);
    if (!m) { return '+00:00'; }
    return m[1] + ('0' + m[2]).slice(-2) + ':' + (m[3] || '00');
  }
  function nextDay(day) {
    var d = new Date(day + 'T12:00:00Z');
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  // -- one patrol --------------------------------------------------------------------------
  function field(id, labelText, control, errorFor, hint) {
    return C.el('div', {class: 'field'}, [
      C.el('label', {for: id, text: labelText}), control,
      hint ? C.el('p', {class: 'hint', id: id + '-hint', text: hint}) : null,
      C.el('p', {class: 'field-error', 'data-error-for': errorFor})
    ]);
  }

  function statusForm(p, i) {
    var current = p.properties.status;
    var select = C.el('select', {id: 'st-' + i, name: 'status'},
      [current].concat(NEXT[current] || []).map(function (s) {
        return C.el('option', {value: s, text: s === current ? C.t('patrols_status_now', {status: statusLabel(s)}) : statusLabel(s)});
      }));
    var agencies = p.properties.agencies || [];
    var boxes = C.el('fieldset', {'data-field': 'agencies'}, [C.el('legend', {text: C.t('patrols_agencies')})].concat(
      AGENCIES.map(function (a) {
        return C.el('label', {class: 'check'}, [
          C.el('input', {type: 'checkbox', name: 'agencies', value: a, checked: agencies.indexOf(a) >= 0}),
          ' ' + C.t('patrols_agency_' + a)
        ]);
      })).concat([C.el('p', {class: 'field-error', 'data-error-for': 'agencies'})]));
    var notes = C.el('textarea', {id: 'notes-' + i, name: 'notes', rows: 2, maxlength: 4000});
    notes.value = p.properties.notes || '';
    var form = C.el('form', {id: 'status-form-' + i, class: 'status-form', novalidate: true}, [
      C.el('h4', {text: C.t('patrols_change')}),
      C.el('div', {class: 'form-grid'}, [field('st-' + i, C.t('patrols_status'), select, 'status'),
                                          field('notes-' + i, C.t('patrols_notes'), notes, 'notes')]),
      boxes,
      C.el('p', {class: 'field-error', 'data-error-for': ''}),
      C.el('div', {class: 'actions'}, [C.el('button', {type: 'submit', class: 'save-status', text: C.t('patrols_save')})])
    ]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = {};
      if (select.value !== current) { body.status = select.value; }
      var chosen = Array.prototype.map.call(form.querySelectorAll('input[name=agencies]:checked'), function (b) { return b.value; });
      if (chosen.slice().sort().join() !== agencies.slice().sort().join()) { body.agencies = chosen; }
      var text = notes.value.trim();
      if (text !== (p.properties.notes || '')) { body.notes = text || null; }
      C.clearErrors(form);
      if (!Object.keys(body).length) { C.showErrors(form, [{field: '', fault: C.t('patrols_no_change')}]); return; }
      C.submit(form, 'PATCH', '/patrols/' + p.id, body).then(function (out) {
        if (out) { reload(p.id, C.t('patrols_saved', {code: p.properties.code})); }
      });
    });
    return form;
  }

  function membersForm(p, i, members) {
    var input = C.el('input', {id: 'members-' + i, name: 'members', autocomplete: 'off', 'aria-describedby': 'members-' + i + '-hint'});
    input.value = (members || []).join(', ');
    var form = C.el('form', {id: 'members-form-' + i, class: 'members-form', novalidate: true}, [
      C.el('h4', {text: C.t('patrols_members')}),
      field('members-' + i, C.t('patrols_members_label'), input, 'members', C.t('patrols_members_hint')),
      C.el('p', {class: 'field-error', 'data-error-for': ''}),
      C.el('div', {class: 'actions'}, [C.el('button', {type: 'submit', class: 'save-members', text: C.t('patrols_save_members')})])
    ]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      C.clearErrors(form);
      var names = input.value.split(/[\s,;]+/).map(function (s) { return s.trim(); }).filter(Boolean);
      var bad = names.filter(function (n) { return !NAME.test(n); });
      if (bad.length) { C.showErrors(form, [{field: 'members', fault: C.t('patrols_bad_account', {name: bad.join(', ')})}]); return; }
      C.submit(form, 'PUT', '/patrols/' + p.id + '/members', {members: names}).then(function (out) {
        if (out) { reload(p.id, C.t('patrols_members_saved', {code: p.properties.code})); }
      });
    });
    return form;
  }

  function trackForm(p, i) {
    var input = C.el('input', {id: 'track-' + i, name: 'track', type: 'file', accept: '.gpx,application/gpx+xml,text/xml',
                               'aria-describedby': 'track-' + i + '-hint'});
    var form = C.el('form', {id: 'track-form-' + i, class: 'track-form', novalidate: true}, [
      C.el('h4', {text: C.t('patrols_track')}),
      field('track-' + i, C.t('patrols_track_file'), input, 'track', C.t('patrols_track_hint')),
      C.el('p', {class: 'field-error', 'data-error-for': ''}),
      C.el('div', {class: 'actions'}, [C.el('button', {type: 'submit', class: 'upload-track', text: C.t('patrols_upload')})])
    ]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      C.clearErrors(form);
      var file = input.files && input.files[0];
      if (!file) { C.showErrors(form, [{field: 'track', fault: C.t('patrols_choose_file')}]); return; }
      if (file.size > 20 * 1024 * 1024) { C.showErrors(form, [{field: 'track', fault: C.t('patrols_file_too_big')}]); return; }
      var done = C.busy(C.t('patrols_uploading'), 0, form);
      file.text().then(function (text) {
        return C.send(form, 'PUT', '/patrols/' + p.id + '/track', undefined, {raw: text, type: 'application/gpx+xml'});
      }).then(function (answer) {
        // Refused: the status line already says why (faults at the field, 409, offline, session).
        if (!answer.ok) { done(null); return; }
        done('');
        reload(p.id, C.t('patrols_track_saved', {code: p.properties.code}));
      });
    });
    return form;
  }

  function progressPart(prog) {
    if (!prog) { return C.el('p', {class: 'muted', text: C.t('patrols_no_progress')}); }
    var rows = (prog.stops || []).map(function (s) {
      return C.el('tr', {'data-seq': s.seq, class: s.visited ? 'visited' : ''}, [
        C.el('td', {class: 'num', text: s.seq}), C.el('td', {text: s.code || '–'}), C.el('td', {text: s.name || ''}),
        C.el('td', {text: C.time(s.eta)}),
        C.el('td', {text: s.visited ? '✓ ' + C.time(s.visited_at) : '–'})
      ]);
    });
    return C.el('div', {}, [
      C.el('p', {class: 'progress-line'}, [
        C.el('progress', {value: prog.visited, max: Math.max(prog.total, 1), 'aria-label': C.t('patrols_visited_label')}),
        ' ',
        C.el('strong', {class: 'visited-count', text: C.t('patrols_x_of_n', {x: prog.visited, n: prog.total})}),
        ' · ' + C.t('patrols_contacts', {n: prog.contacts}) + ' · ',
        C.el('span', {class: 'has-track', text: prog.has_track ? C.t('patrols_track_yes') : C.t('patrols_track_no')})
      ]),
      C.el('details', {class: 'stops'}, [
        C.el('summary', {text: C.t('patrols_stops', {n: prog.total})}),
        C.el('div', {class: 'table-wrap'}, [C.el('table', {}, [
          C.el('caption', {class: 'visually-hidden', text: C.t('patrols_stops', {n: prog.total})}),
          C.el('thead', {}, [C.el('tr', {}, ['#', C.t('patrols_code'), C.t('patrols_site'), C.t('patrols_eta'), C.t('patrols_visited')]
            .map(function (h) { return C.el('th', {scope: 'col', text: h}); }))]),
          C.el('tbody', {}, rows)
        ])])
      ])
    ]);
  }

  function card(p, i, prog, members) {
    var pr = p.properties;
    var li = C.el('li', {'data-patrol': p.id, 'data-code': pr.code, 'data-status': pr.status, class: 'patrol'}, [
      C.el('h3', {}, [pr.code + ' · ' + C.t('patrols_kind_' + pr.kind) + ' ',
                      C.el('span', {class: 'badge ' + pr.status, text: statusLabel(pr.status)})]),
      C.el('p', {class: 'muted', text: C.when(pr.planned_start) + ' – ' + C.when(pr.planned_end) +
        ((pr.agencies || []).length ? ' · ' + pr.agencies.map(function (a) { return C.t('patrols_agency_' + a); }).join(', ') : '') +
        ' · ' + C.t('patrols_members') + ': ' + ((members || []).join(', ') || C.t('console_none'))}),
      progressPart(prog)
    ]);
    var manage = C.el('details', {class: 'manage', open: !!state.open[p.id]}, [
      C.el('summary', {text: C.t('patrols_manage', {code: pr.code})}),
      C.el('div', {class: 'two'}, [statusForm(p, i), C.el('div', {}, [membersForm(p, i, members), trackForm(p, i)])])
    ]);
    manage.addEventListener('toggle', function () { state.open[p.id] = manage.open; });
    li.appendChild(manage);
    return li;
  }

  // The members of a patrol, where an API says them (GET /patrols/{id}/members or the progress).
  function membersOf(id, prog) {
    return C.api('GET', '/patrols/' + id + '/members').then(function (answer) {
      var b = answer.ok ? answer.body : null;
      var list = Array.isArray(b) ? b : (b && Array.isArray(b.members) ? b.members : (prog && prog.members) || []);
      return list.map(function (m) { return typeof m === 'string' ? m : m.name; });
    });
  }

  // -- the list ----------------------------------------------------------------------------
  function query(form) {
    var day = form.elements.day.value, status = form.elements.status.value, q = ['limit=100'];
    if (day) {
      q.push('since=' + encodeURIComponent(day + 'T00:00:00' + warsawOffset(day)));
      var next = nextDay(day);
      q.push('until=' + encodeURIComponent(next + 'T00:00:00' + warsawOffset(next)));
    }
    if (status) { q.push('status=' + status); }
    return '/patrols?' + q.join('&');
  }

  // `message`: what the last action did, said again once the list is drawn.
  function load(message) {
    var form = C.$('patrols-filter');
    C.clearErrors(form);
    var done = C.busy(C.t('console_loading'), 0);
    return C.api('GET', query(form)).then(function (answer) {
      if (!answer.ok) {
        done(null);
        if (answer.status !== 401) { C.showErrors(form, C.problems(answer), answer); }
        return;
      }
      var list = (answer.body.features || []).slice().sort(function (a, b) {
        return a.properties.planned_start < b.properties.planned_start ? -1 : 1;
      });
      return Promise.all(list.map(function (p) {
        return C.api('GET', '/patrols/' + p.id + '/progress').then(function (a) {
          var prog = a.ok ? a.body : null;
          return membersOf(p.id, prog).then(function (members) { return {p: p, prog: prog, members: members}; });
        });
      })).then(function (rows) {
        ['patrols-planned', 'patrols-running', 'patrols-done'].forEach(function (id) { C.$(id).innerHTML = ''; });
        rows.forEach(function (r, i) {
          var status = (r.prog && r.prog.status) || r.p.properties.status;
          r.p.properties.status = status;
          C.$(GROUP[status] || 'patrols-done').appendChild(card(r.p, i, r.prog, r.members));
        });
        ['patrols-planned', 'patrols-running', 'patrols-done'].forEach(function (id) {
          var ul = C.$(id);
          if (!ul.children.length) { ul.appendChild(C.el('li', {class: 'empty muted', text: ul.dataset.empty})); }
        });
        C.$('patrols-count').textContent = C.t('patrols_count', {n: rows.length});
        done(message || '', message ? 'ok' : '');
      });
    });
  }

  function reload(id, message) {
    state.open[id] = true;
    return load(message);
  }

  C.ready.then(function () {
    var form = C.$('patrols-filter');
    var asked = new URLSearchParams(location.search).get('day');
    form.elements.day.value = /^\d{4}-\d{2}-\d{2}$/.test(asked || '') ? asked : C.today();
    form.addEventListener('submit', function (ev) { ev.preventDefault(); load(''); });
    C.$('patrols-all-days').addEventListener('click', function () { form.elements.day.value = ''; load(''); });
    return load('');
  }).then(function () {
    document.body.dataset.ready = 'true';
  }, function (err) {
    C.say(String(err), 'error');
    document.body.dataset.ready = 'true';
  });
})();
