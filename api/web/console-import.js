/* Console page "import": upload a file for a layer to POST /imports/{layer} as a dry run (the
   default), show the report (mapped and ignored columns, rows, refused rows with their faults),
   then confirm: the same request with dry_run=false. The upload shows its progress. */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var checked = null;  // the request last checked by a dry run that passed

  function lines(text) { return text.split('\n').map(function (l) { return l.trim(); }).filter(Boolean); }

  function request(form, dryRun) {
    var q = new URLSearchParams();
    q.set('dry_run', dryRun ? 'true' : 'false');
    if (form.elements.crs.value.trim()) { q.set('crs', form.elements.crs.value.trim()); }
    lines(form.elements.map.value).forEach(function (l) { q.append('map', l); });
    lines(form.elements.set.value).forEach(function (l) { q.append('set', l); });
    if (form.elements.upsert.checked) { q.set('upsert', 'true'); }
    if (form.elements.skip_invalid.checked) { q.set('skip_invalid', 'true'); }
    return '/imports/' + encodeURIComponent(form.elements.layer.value) + '?' + q.toString();
  }

  // XMLHttpRequest, not fetch: only it tells how much of the file has gone up. onSent: the
  // whole file is up and the server is reading it (no measure of that: indeterminate).
  function upload(url, file, onProgress, onSent) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest(), data = new FormData();
      var m = document.cookie.match(/(?:^|;\s*)go_csrf=([^;]+)/);
      data.append('file', file, file.name);
      xhr.open('POST', url);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('X-CSRF-Token', m ? decodeURIComponent(m[1]) : '');
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { onProgress(e.loaded / e.total); } };
      xhr.upload.onload = function () { onProgress(1); onSent(); };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = xhr.responseText; }
        // The session ended: the notice with a login link; the form keeps the file and options.
        if (xhr.status === 401) { C.sessionEnded(); }
        resolve({ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body: body});
      };
      xhr.onerror = function () { resolve({ok: false, status: 0, body: null}); };
      xhr.send(data);
    });
  }

  function list(id, items) {
    var ul = C.$(id);
    ul.textContent = '';
    if (!items.length) { ul.appendChild(C.el('li', {text: C.t('console_none')})); }
    items.forEach(function (i) { ul.appendChild(C.el('li', {text: i})); });
  }

  function drawRefused(problems) {
    var tbody = C.$('import-refused').querySelector('tbody');
    tbody.textContent = '';
    problems.forEach(function (p) {
      tbody.appendChild(C.el('tr', {}, [
        C.el('td', {class: 'num', text: p.row + (p.label ? ' (' + p.label + ')' : '')}),
        C.el('td', {text: p.field}), C.el('td', {text: p.fault})
      ]));
    });
    C.$('import-refused-box').hidden = !problems.length;
  }

  function drawReport(report, outcome) {
    var counts = [];
    var keys = report.layer === 'observations'
      ? ['observations', 'sites_created', 'sites_matched', 'visits_written', 'visits_present']
      : ['inserted', 'updated', 'codes_made'];
    keys.forEach(function (k) { if (report[k] !== undefined) { counts.push([C.t('import_' + k), report[k]]); } });
    counts.push([C.t('import_refused'), report.refused_rows || 0]);
    var dl = C.$('import-counts');
    dl.textContent = '';
    counts.forEach(function (c) { dl.appendChild(C.el('dt', {text: c[0]})); dl.appendChild(C.el('dd', {text: c[1]})); });
    var mapped = report.mapped_columns || {};
    list('import-mapped', Object.keys(mapped).map(function (col) { return col + ' → ' + mapped[col]; }));
    list('import-ignored', report.ignored_columns || []);
    drawRefused(report.refused || []);
    C.$('import-outcome').textContent = outcome;
    C.$('import-report').hidden = false;
  }

  function drawRefusal(answer) {
    var problems = C.problems(answer);
    var rows = problems.filter(function (p) { return p.row !== undefined; });
    C.$('import-counts').textContent = '';
    list('import-mapped', []);
    list('import-ignored', []);
    drawRefused(rows);
    C.$('import-outcome').textContent = C.t('import_nothing_stored') + (answer.body && typeof answer.body.detail === 'string' ? ' ' + answer.body.detail : '');
    C.$('import-report').hidden = false;
    return problems.filter(function (p) { return p.row === undefined; });
  }

  function run(dryRun) {
    var form = C.$('import-form'), file = form.elements.file.files[0];
    C.clearErrors(form);
    if (!file) { C.showErrors(form, [{field: 'file', fault: C.t('console_required')}]); return Promise.resolve(); }
    var url = request(form, dryRun);
    var done = C.busy(C.t('import_uploading'), 0, C.$('import-report')), bar = C.$('con-progress');
    bar.max = 1;
    bar.value = 0;
    C.$('import-check').disabled = true;
    C.$('import-confirm').disabled = true;
    function sent() {
      bar.removeAttribute('value');  // indeterminate: how long the check takes is not known
      C.say(C.t(dryRun ? 'import_checking' : 'import_importing'));
    }
    return upload(url, file, function (share) { bar.value = share; }, sent).then(function (a) {
      C.$('import-check').disabled = false;
      if (a.status === 401) {
        // Nothing was checked or stored: the same request may be sent again once logged in.
        C.$('import-confirm').disabled = checked === null;
        done('');
        return;
      }
      if (a.ok) {
        checked = dryRun ? url.replace('dry_run=true', 'dry_run=false') + '#' + file.name + file.size + file.lastModified : null;
        C.$('import-confirm').disabled = !dryRun;
        drawReport(a.body, C.t(dryRun ? 'import_dry_run_note' : 'import_done'));
        done(C.t(dryRun ? 'import_dry_run_note' : 'import_done'), 'ok');
        return;
      }
      checked = null;
      done('');
      var loose = drawRefusal(a);
      if (loose.length) { C.showErrors(form, loose); } else { C.say(C.t('import_nothing_stored'), 'error'); }
    });
  }

  // The confirmed import is the request the dry run checked: a change of file or option
  // asks for a new check first.
  function changed() {
    if (checked === null) { return; }
    var form = C.$('import-form'), file = form.elements.file.files[0];
    var now = file ? request(form, false) + '#' + file.name + file.size + file.lastModified : '';
    if (now !== checked) {
      checked = null;
      C.$('import-confirm').disabled = true;
      C.say(C.t('import_changed'));
    }
  }

  C.ready.then(function () {
    var form = C.$('import-form');
    form.addEventListener('submit', function (ev) { ev.preventDefault(); run(true); });
    C.$('import-confirm').addEventListener('click', function () { if (checked) { run(false); } });
    form.addEventListener('input', changed);
    form.addEventListener('change', changed);
    document.body.dataset.ready = 'true';
  });
})();
