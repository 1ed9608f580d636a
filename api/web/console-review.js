/* Console page "review": proposed site changes (offline conflicts from the field app) and
   public alerts. Changes: accept or reject with a reason (POST /site-changes/{id}/accept|reject,
   the reason goes into the API's audit record); alerts: a visit on tonight's nearest route or
   closed with an outcome (POST /alerts/{id}/decision). */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var sites = {};
  // Policy: site changes and alerts are decided by coordinators only; no call another role
  // cannot make (a refused call leaves a "denied" row in the audit log).
  var MAY_REVIEW = C.role === 'coordinator';
  // A change's properties (SitePropsPatch) and the texts that name them.
  var PROPS = {code: 'code', name: 'name', category: 'category', status: 'status',
               estimated_people: 'estimated_people', hazards: 'hazards', access_notes: 'access_notes'};

  function fact(label, value) {
    return [C.el('dt', {text: label}), C.el('dd', {text: value === null || value === undefined || value === '' ? '–' : value})];
  }
  function dl(pairs) {
    var out = C.el('dl', {class: 'facts'});
    pairs.forEach(function (p) { fact(p[0], p[1]).forEach(function (n) { out.appendChild(n); }); });
    return out;
  }
  // A code of a vocabulary in words (the catalogue's label), else the code itself.
  function word(key, code) { return C.texts[key] ? C.t(key) : String(code); }
  function show(name, value) {
    if (value === null || value === undefined || value === '') { return '–'; }
    if (name === 'status' || name === 'category') { return word('review_' + name + '_' + value, value); }
    if (name === 'hazards' && Array.isArray(value)) {
      return value.length ? value.map(function (h) { return word('review_hazard_' + h, h); }).join(', ') : C.t('console_none');
    }
    if (Array.isArray(value)) { return value.join(', '); }
    if (typeof value === 'object') { return JSON.stringify(value); }
    return String(value);
  }

  // The site as it is now: code and name for the heading, its properties for "now → proposed"
  // (one audited read per site shown).
  function siteNow(id) {
    if (sites[id]) { return Promise.resolve(sites[id]); }
    return C.api('GET', '/sites/' + id).then(function (a) {
      var p = a.ok && a.body.properties ? a.body.properties : null;
      sites[id] = {label: p ? p.code + ' · ' + p.name : id, props: p};
      return sites[id];
    });
  }

  function loadChanges() {
    return C.api('GET', '/site-changes').then(function (a) {
      var list = C.$('review-changes');
      list.textContent = '';
      sites = {};  // read again: an accepted change has just moved the site on
      if (!a.ok) { C.say(C.problems(a)[0].fault, 'error'); return null; }
      C.$('review-changes-none').hidden = a.body.length > 0;
      return Promise.all(a.body.map(function (c) {
        return siteNow(c.site_id).then(function (site) { list.appendChild(changeCard(c, site)); });
      }));
    });
  }

  // What the change asks for beside what the site shows now, one row per property.
  function compare(c, site, id) {
    var rows = Object.keys(c.properties).map(function (k) {
      var now = site.props ? show(k, site.props[k]) : '–';
      return C.el('tr', {'data-prop': k}, [
        C.el('th', {scope: 'row', text: PROPS[k] ? C.t(PROPS[k]) : k}),
        C.el('td', {class: 'review-now', text: now}),
        C.el('td', {class: 'review-new', text: show(k, c.properties[k])})
      ]);
    });
    return C.el('div', {class: 'table-wrap'}, [C.el('table', {class: 'data review-compare', 'aria-labelledby': id + '-p'}, [
      C.el('thead', {}, [C.el('tr', {}, [
        C.el('th', {scope: 'col', text: C.t('review_property')}),
        C.el('th', {scope: 'col', text: C.t('review_now')}),
        C.el('th', {scope: 'col', text: C.t('review_proposed_value')})
      ])]),
      C.el('tbody', {}, rows)
    ])]);
  }

  function changeCard(c, site) {
    var id = 'change-' + c.id, label = site.label;
    var form = C.el('form', {class: 'review-decide', novalidate: true, 'aria-labelledby': id + '-h'}, [
      C.el('div', {class: 'field'}, [
        C.el('label', {for: id + '-reason', text: C.t('review_reason')}),
        C.el('input', {id: id + '-reason', name: 'reason', maxlength: 500, autocomplete: 'off', 'aria-describedby': id + '-hint'}),
        C.el('p', {class: 'hint', id: id + '-hint', text: C.t('review_reason_hint')}),
        C.el('p', {class: 'field-error', 'data-error-for': 'reason'})
      ]),
      C.el('p', {class: 'field-error', 'data-error-for': ''}),
      C.el('div', {class: 'actions'}, [
        C.el('button', {type: 'submit', class: 'review-accept', value: 'accept', text: C.t('review_accept')}),
        C.el('button', {type: 'submit', class: 'review-reject', value: 'reject', text: C.t('review_reject')})
      ])
    ]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var action = ev.submitter && ev.submitter.value === 'reject' ? 'reject' : 'accept';
      var reason = form.elements.reason.value.trim();
      // As the server: a rejection needs a reason (≤ 500 characters), an acceptance may give one.
      C.clearErrors(form);
      var fault = action === 'reject' && !reason ? C.t('review_reason_required')
        : reason.length > 500 ? C.t('review_reason_long') : null;
      if (fault) { C.showErrors(form, [{field: 'reason', fault: fault}]); return; }
      C.submit(form, 'POST', '/site-changes/' + c.id + '/' + action, reason ? {reason: reason} : undefined).then(function (done) {
        if (!done) { return; }
        C.say(C.t(action === 'accept' ? 'review_accepted' : 'review_rejected') + ' ' + label, 'ok');
        loadChanges();
      });
    });
    return C.el('li', {'data-change': c.id, class: 'card'}, [
      C.el('h3', {id: id + '-h', text: label}),
      dl([[C.t('review_by'), String(c.created_by).replace(/^api:/, '')], [C.t('review_at'), C.when(c.created_at)]]),
      C.el('h4', {id: id + '-p', text: C.t('review_proposed')}),
      compare(c, site, id),
      form
    ]);
  }

  function loadAlerts() {
    return C.api('GET', '/alerts').then(function (a) {
      var list = C.$('review-alerts');
      list.textContent = '';
      if (!a.ok) { C.say(C.problems(a)[0].fault, 'error'); return; }
      C.$('review-alerts-none').hidden = a.body.length > 0;
      a.body.forEach(function (alert) { list.appendChild(alertCard(alert)); });
    });
  }

  function alertCard(alert) {
    var id = 'alert-' + alert.id;
    var where = alert.address || (alert.position ? alert.position[1] + ', ' + alert.position[0] : '');
    var near = ((alert.matches || {}).sites || []).map(function (s) {
      return (s.code || '') + (s.name ? ' · ' + s.name : '') + (s.distance_m !== undefined ? ' (' + Math.round(s.distance_m) + ' m)' : '');
    }).join('; ');
    var outcome = C.el('select', {id: id + '-outcome', name: 'outcome'}, ['person_found', 'not_found', 'no_action'].map(function (o) {
      return C.el('option', {value: o, text: C.t('review_outcome_' + o)});
    }));
    var form = C.el('form', {class: 'review-alert', novalidate: true, 'aria-labelledby': id + '-h'}, [
      C.el('div', {class: 'field'}, [
        C.el('label', {for: id + '-outcome', text: C.t('review_outcome')}), outcome,
        C.el('p', {class: 'field-error', 'data-error-for': 'outcome'})
      ]),
      C.el('p', {class: 'field-error', 'data-error-for': ''}),
      C.el('div', {class: 'actions'}, [
        C.el('button', {type: 'submit', value: 'visit_request', text: C.t('review_visit_request')}),
        C.el('button', {type: 'submit', value: 'close', text: C.t('review_close_alert')})
      ])
    ]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var action = ev.submitter && ev.submitter.value === 'close' ? 'close' : 'visit_request';
      var body = action === 'close' ? {action: 'close', outcome: outcome.value} : {action: 'visit_request'};
      C.submit(form, 'POST', '/alerts/' + alert.id + '/decision', body).then(function (done) {
        if (!done) { return; }
        C.say(C.t('review_decided') + ' ' + alert.ref, 'ok');
        loadAlerts();
      });
    });
    return C.el('li', {'data-alert': alert.id, class: 'card'}, [
      C.el('h3', {id: id + '-h', text: alert.ref + ' · ' + word('review_alert_status_' + alert.status, alert.status)}),
      dl([[C.t('review_alert_seen'), C.when(alert.seen_at)], [C.t('review_alert_where'), where],
          [C.t('review_alert_what'), alert.description], [C.t('review_alert_near'), near]]),
      form
    ]);
  }

  C.ready.then(function () {
    if (!MAY_REVIEW) {
      ['review-changes-none', 'review-alerts-none'].forEach(function (n) {
        C.$(n).textContent = C.t('console_forbidden');
        C.$(n).hidden = false;
      });
      return null;
    }
    return Promise.all([loadChanges(), loadAlerts()]);
  }).then(function () { document.body.dataset.ready = 'true'; });
})();
