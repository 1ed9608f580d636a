/* Console page "admin": accounts (GET/POST /admin/users, PATCH /admin/users/{name} for the
   role or active, POST /admin/users/{name}/revoke), the members of joint patrols
   (PUT /patrols/{id}/members) and who touched a site (GET /admin/sites/{id}/access). */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var ROLES = ['streetworker', 'coordinator', 'partner', 'ngo', 'admin'];
  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  var patrols = [];
  // What the signed-in role may call (geo_outreach/core/policy.py): no call is made that the
  // role cannot make, since each refused one leaves a "denied" row in the audit log.
  var MAY = {
    accounts: C.role === 'admin',  // ("accounts", …), ("audit", "read"): admin
    listPatrols: ['streetworker', 'coordinator', 'partner'].indexOf(C.role) >= 0,  // ("patrols", "read")
    members: C.role === 'admin' || C.role === 'coordinator'  // ("patrol_members", "update")
  };

  function loadUsers() {
    if (!MAY.accounts) { return Promise.resolve(); }
    return C.api('GET', '/admin/users').then(function (a) {
      var tbody = C.$('admin-users').querySelector('tbody');
      tbody.textContent = '';
      if (!a.ok) { C.say(C.problems(a)[0].fault, 'error'); return; }
      a.body.forEach(function (u) { tbody.appendChild(userRow(u)); });
    });
  }

  function userRow(u) {
    var id = 'user-' + u.name.replace(/[^\w-]/g, '_');
    var form = C.el('form', {id: id + '-form', class: 'admin-user', novalidate: true, 'aria-label': u.name}, [
      C.el('p', {class: 'field-error', 'data-error-for': ''})
    ]);
    var role = C.el('select', {id: id + '-role', name: 'role', form: form.id, 'aria-label': u.name + ': ' + C.t('admin_role')},
      ROLES.map(function (r) { return C.el('option', {value: r, text: C.t('admin_role_' + r), selected: r === u.role}); }));
    var roleError = C.el('p', {class: 'field-error', 'data-error-for': 'role'});
    function act(body, label) {
      var b = C.el('button', {type: 'button', form: form.id, text: C.t(label), 'data-action': label,
        'aria-label': u.name + ': ' + C.t(label)});
      b.run = function () { change(u, form, row, body(), label); };
      return b;
    }
    var active = act(function () { return {active: !u.active}; }, u.active ? 'admin_deactivate' : 'admin_activate');
    var revokeButton = C.el('button', {type: 'button', class: 'danger', form: form.id, text: C.t('admin_revoke'), 'data-action': 'admin_revoke',
      'aria-label': u.name + ': ' + C.t('admin_revoke')});
    var buttons = [
      act(function () { return {role: role.value}; }, 'admin_set_role'),
      u.active ? confirmFirst(u, active, 'admin_deactivate') : active,
      confirmFirst(u, revokeButton, 'admin_revoke', function () { revoke(u, form); })
    ];
    // The row's controls and error places sit in its cells; the form is in the last one.
    form.appendChild(roleError);
    var row = C.el('tr', {'data-user': u.name}, [
      C.el('th', {scope: 'row', text: u.name}),
      C.el('td', {}, [role]),
      C.el('td', {text: C.t(u.active ? 'admin_yes' : 'admin_no')}),
      C.el('td', {text: C.day(u.created_at)}),
      C.el('td', {}, [C.el('div', {class: 'actions'}, buttons), form])
    ]);
    buttons.forEach(function (b) { if (b.run && !b.dataset.confirm) { b.addEventListener('click', b.run); } });
    return row;
  }

  // Deactivating and revoking end the account's sessions at once: the first tap puts a
  // "Confirm …" and a "Cancel" button in the button's place (focus on Confirm); only Confirm acts.
  function confirmFirst(u, button, label, run) {
    run = run || button.run;
    button.dataset.confirm = 'ask';
    button.addEventListener('click', function () {
      var box = C.el('span', {class: 'admin-confirm', role: 'group', 'aria-label': u.name + ': ' + C.t(label)});
      function back(focus) {
        box.replaceWith(button);
        if (focus) { button.focus(); }
      }
      var yes = C.el('button', {type: 'button', class: 'danger', 'data-confirm': label,
        text: C.t('admin_confirm', {action: C.t(label)}), 'aria-label': u.name + ': ' + C.t('admin_confirm', {action: C.t(label)}),
        onclick: function () { back(true); run(); }});
      var no = C.el('button', {type: 'button', 'data-cancel': label, text: C.t('admin_cancel'),
        'aria-label': u.name + ': ' + C.t('admin_cancel'), onclick: function () { back(true); C.say(''); }});
      box.appendChild(yes);
      box.appendChild(no);
      button.replaceWith(box);
      yes.focus();
      C.say(C.t('admin_confirm_ask', {action: C.t(label), name: u.name}));
    });
    return button;
  }

  function change(u, form, row, body, label) {
    C.clearErrors(form);
    row.querySelectorAll('[aria-invalid]').forEach(function (c) { c.removeAttribute('aria-invalid'); });
    C.api('PATCH', '/admin/users/' + encodeURIComponent(u.name), body).then(function (a) {
      if (a.ok) {
        C.say(u.name + ': ' + C.t('admin_updated') + (a.body.ended ? ' ' + C.t('admin_revoked') + ': ' + a.body.ended : ''), 'ok');
        return loadUsers();
      }
      var problems = C.problems(a);
      C.showErrors(form, problems);
      if (problems.some(function (p) { return p.field === 'role'; })) {
        var select = row.querySelector('select[name="role"]');
        select.setAttribute('aria-invalid', 'true');
        select.setAttribute('aria-describedby', form.querySelector('[data-error-for="role"]').id);
      }
      return null;
    });
  }

  function revoke(u, form) {
    C.submit(form, 'POST', '/admin/users/' + encodeURIComponent(u.name) + '/revoke').then(function (done) {
      if (done) { C.say(u.name + ': ' + C.t('admin_revoked') + ': ' + done.ended, 'ok'); }
    });
  }

  function onCreate(ev) {
    ev.preventDefault();
    var form = C.$('admin-create');
    var body = {name: form.elements.name.value.trim(), role: form.elements.role.value, password: form.elements.password.value};
    var problems = [];
    if (!body.name) { problems.push({field: 'name', fault: C.t('console_required')}); }
    if (!body.password) { problems.push({field: 'password', fault: C.t('console_required')}); }
    C.clearErrors(form);
    if (problems.length) { C.showErrors(form, problems); return; }
    C.api('POST', '/admin/users', body).then(function (a) {
      if (a.ok) {
        form.reset();
        C.say(body.name + ': ' + C.t('admin_created'), 'ok');
        return loadUsers();
      }
      // A taken name is a 409 whose text starts with the field ("name: an account … exists").
      var found = C.problems(a).map(function (p) {
        var m = a.status === 409 && /^(\w+): (.*)$/.exec(p.fault);
        return m ? {field: m[1], fault: m[2]} : p;
      });
      C.showErrors(form, found);
      return null;
    });
  }

  // Patrols (coordinators may list them; an admin types the patrol's id).
  function loadPatrols() {
    if (!MAY.listPatrols) { return Promise.resolve(); }
    return C.api('GET', '/patrols?limit=200').then(function (a) {
      var list = C.$('admin-patrols');
      list.textContent = '';
      patrols = a.ok && a.body.features ? a.body.features : [];
      patrols.forEach(function (f) {
        var p = f.properties || {};
        list.appendChild(C.el('option', {value: p.code || f.id, label: (p.code || '') + ' · ' + (p.kind || '') + ' · ' + C.when(p.planned_start)}));
      });
    });
  }
  function patrolId(value) {
    if (UUID.test(value)) { return value; }
    var found = patrols.filter(function (f) { return (f.properties || {}).code === value; })[0];
    return found ? found.id : null;
  }

  function onPatrolChange() {
    var form = C.$('admin-members'), id = patrolId(form.elements.patrol.value.trim());
    if (!id) { return; }
    var typed = form.elements.members;
    typed.value = '';
    C.api('GET', '/patrols/' + id + '/members').then(function (a) {
      // What the user typed meanwhile wins over the stored team.
      if (a.ok && !typed.value) { typed.value = a.body.members.map(function (m) { return m.name; }).join(', '); }
    });
  }

  function onMembers(ev) {
    ev.preventDefault();
    var form = C.$('admin-members');
    var value = form.elements.patrol.value.trim(), id = patrolId(value);
    C.clearErrors(form);
    if (!id) { C.showErrors(form, [{field: 'patrol', fault: C.t(value ? 'admin_patrol_unknown' : 'console_required')}]); return; }
    var members = form.elements.members.value.split(/[\s,;]+/).filter(Boolean);
    C.submit(form, 'PUT', '/patrols/' + id + '/members', {members: members}).then(function (done) {
      if (!done) { return; }
      form.elements.members.value = done.members.map(function (m) { return m.name; }).join(', ');
      C.say(value + ': ' + C.t('admin_members_saved'), 'ok');
    });
  }

  function onAccess(ev) {
    ev.preventDefault();
    var form = C.$('admin-access'), site = form.elements.site.value.trim();
    C.clearErrors(form);
    if (!site) { C.showErrors(form, [{field: 'site', fault: C.t('console_required')}]); return; }
    var url = UUID.test(site) ? '/admin/sites/' + site + '/access' : '/admin/sites/access?code=' + encodeURIComponent(site);
    var done = C.busy(C.t('console_loading'));
    C.api('GET', url).then(function (a) {
      done('');
      var table = C.$('admin-access-log'), tbody = table.querySelector('tbody');
      tbody.textContent = '';
      if (!a.ok) {
        table.hidden = true;
        C.showErrors(form, C.problems(a).map(function (p) { return {field: 'site', fault: p.fault}; }));
        return;
      }
      a.body.entries.forEach(function (e) {
        tbody.appendChild(C.el('tr', {}, [
          C.el('td', {text: C.day(e.at) + ' ' + C.time(e.at)}), C.el('td', {text: e.actor}), C.el('td', {text: e.role}),
          C.el('td', {text: e.action}), C.el('td', {text: e.outcome}), C.el('td', {text: e.endpoint || ''})
        ]));
      });
      table.hidden = !a.body.entries.length;
      C.$('admin-access-none').hidden = a.body.entries.length > 0;
    });
  }

  C.ready.then(function () {
    // Sections the role may not use are left out (their calls would only be refused).
    [['admin-users-section', MAY.accounts], ['admin-access-section', MAY.accounts],
     ['admin-members-section', MAY.members]].forEach(function (s) { C.$(s[0]).hidden = !s[1]; });
    C.$('admin-denied').hidden = MAY.accounts;
    C.$('admin-create').addEventListener('submit', onCreate);
    C.$('admin-members').addEventListener('submit', onMembers);
    C.$('admin-patrol').addEventListener('change', onPatrolChange);
    C.$('admin-access').addEventListener('submit', onAccess);
    return Promise.all([loadUsers(), loadPatrols()]);
  }).then(function () { document.body.dataset.ready = 'true'; });
})();
