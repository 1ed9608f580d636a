/* Console page "review": proposed site changes (offline conflicts from the field app) and
   public alerts. Changes: accept or reject with a reason (POST /site-changes/{id}/accept|reject,
   the reason goes into the API's audit record); alerts: a visit on tonight's nearest route or
   closed with an outcome (POST /alerts/{id}/decision). */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var sites = {};

  function fact(label, value) {
    return [C.el('dt', {text: label}), C.el('dd', {text: value === null || value === undefined || value === '' ? '–' : value})];
  }
  function dl(pairs) {
    var out = C.el('dl', {class: 'facts'});
    pairs.forEach(function (p) { fact(p[0], p[1]).forEach(function (n) { out.appendChild(n); }); });
    return out;
  }
  function show(value) {
    if (Array.isArray(value)) { return value.join(', '); }
    if (value && typeof value === 'object') { return JSON.stringify(value); }
    return value;
  }

  // The site's code and name for the heading (one audited read per site shown).
  function siteLabel(id) {
    if (sites[id]) { return Promise.resolve(sites[id]); }
    return C.api('GET', '/sites/' + id).then(function (a) {
      sites[id] = a.ok && a.body.properties ? a.body.properties.code + ' · ' + a.body.properties.name : id;
      return sites[id];
    });
  }

  function loadChanges() {
    return C.api('GET', '/site-changes').then(function (a) {
      var list = C.$('review-changes');
      list.textContent = '';
      if (!a.ok) { C.say(C.problems(a)[0].fault, 'error'); return null; }
      C.$('review-changes-none').hidden = a.body.length > 0;
      return Promise.all(a.body.map(function (c) {
        return siteLabel(c.site_id).then(function (label) { list.appendChild(changeCard(c, label)); });
      }));
    });
  }

  function changeCard(c, label) {
    var id = 'change-' + c.id;
    var props = Object.keys(c.properties).map(function (k) { return [C.t(k), show(c.properties[k])]; });
    var form = C.el('form', {class: 'review-decide', novalidate: true, 'aria-labelledby': id + '-h'}, [
      C.el('div', {class: 'field'}, [
        C.el('label', {for: id + '-reason', text: C.t('review_reason')}),
        C.el('input', {id: id + '-reason', name: 'reason', maxlength: 500, autocomplete: 'off'}),
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
      C.submit(form, 'POST', '/site-changes/' + c.id + '/' + action, reason ? {reason: reason} : undefined).then(function (done) {
        if (!done) { return; }
        C.say(C.t(action === 'accept' ? 'review_accepted' : 'review_rejected') + ' ' + label, 'ok');
        loadChanges();
      });
    });
    return C.el('li', {'data-change': c.id, class: 'card'}, [
      C.el('h3', {id: id + '-h', text: label}),
      dl([[C.t('review_by'), String(c.created_by).replace(/^api:/, '')], [C.t('review_at'), C.when(c.created_at)]]),
      C.el('h4', {text: C.t('review_proposed')}),
      dl(props),
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
      C.el('h3', {id: id + '-h', text: alert.ref + ' · ' + alert.status}),
      dl([[C.t('review_alert_seen'), C.when(alert.seen_at)], [C.t('review_alert_where'), where],
          [C.t('review_alert_what'), alert.description], [C.t('review_alert_near'), near]]),
      form
    ]);
  }

  C.ready.then(function () {
    return Promise.all([loadChanges(), loadAlerts()]);
  }).then(function () { document.body.dataset.ready = 'true'; });
})();
