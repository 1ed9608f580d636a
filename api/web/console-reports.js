/* Console page "reports": a year and an audience (internal, or partner: the disclosure rules
   applied by the server) → GET /reports/{year}.json drawn as tables, with links to the report
   page (/reports/{year}.html) and to the JSON as a download. */
(function () {
  'use strict';
  var C = window.Console;
  C.pageScript = true;
  var hidden = '–';  // a cell without a value: no data (internal) or suppressed (partner)
  var MIN_YEAR = 2000;  // geo_outreach/reports/tables.py: MIN_YEAR … next year
  // A partner reads only the partner version ("partner_reports"; the internal one is 403 for it).
  var PARTNER_ONLY = C.role === 'partner';

  function cell(value) {
    if (value === null || value === undefined) { return hidden; }
    if (typeof value === 'number') { return value.toLocaleString(C.lang === 'en' ? 'en-GB' : C.lang === 'uk' ? 'uk-UA' : 'pl-PL'); }
    if (typeof value === 'object') { return JSON.stringify(value); }
    return String(value);
  }

  // A partner table ({rows, columns, cells, row_totals, column_totals, grand_total}; a hidden
  // cell is null) in the internal tables' shape.
  function fromPartner(table) {
    var rows = table.rows.map(function (label, i) {
      return {label: label, values: table.cells[i].concat([table.row_totals[i]])};
    });
    rows.push({label: C.t('reports_total'), total: true, values: table.column_totals.concat([table.grand_total])});
    return {key: table.key, title: table.title, header: [table.rows_are || ''].concat(table.columns, [C.t('reports_total')]),
            rows: rows, note: ''};
  }

  // One report table: {key, title, header, rows: [{label, values, total}], note}.
  function drawTable(table, n) {
    if (table.cells) { table = fromPartner(table); }
    var id = 'report-t-' + n;
    var head = (table.header || []).map(function (h, i) { return C.el('th', {scope: 'col', text: i === 0 && h === '' ? ' ' : h}); });
    var rows = (table.rows || []).map(function (r) {
      var label = Array.isArray(r) ? r[0] : (r.label !== undefined ? r.label : r.code);
      var values = Array.isArray(r) ? r.slice(1) : (r.values || []);
      return C.el('tr', {class: r.total ? 'total' : null, 'data-code': Array.isArray(r) ? null : r.code}, [C.el('th', {scope: 'row', text: cell(label)})].concat(
        values.map(function (v) { return C.el('td', {class: 'num', text: cell(v)}); })));
    });
    return C.el('section', {class: 'report-table', 'data-key': table.key || null, 'aria-labelledby': id}, [
      C.el('h2', {id: id, text: table.title || table.key || ''}),
      C.el('div', {class: 'table-wrap', tabindex: 0, role: 'region', 'aria-labelledby': id}, [
        C.el('table', {class: 'data'}, [C.el('thead', {}, [C.el('tr', {}, head)]), C.el('tbody', {}, rows)])
      ]),
      table.note ? C.el('p', {class: 'hint', text: table.note}) : null
    ]);
  }

  function draw(body) {
    var out = C.$('reports-out');
    out.textContent = '';
    var tables = body && Array.isArray(body.tables) ? body.tables : [];
    if (!tables.length) { out.appendChild(C.el('p', {text: C.t('reports_empty')})); return; }
    tables.forEach(function (t, i) { out.appendChild(drawTable(t, i)); });
  }

  function onShow(ev) {
    if (ev) { ev.preventDefault(); }
    var form = C.$('reports-form');
    var year = form.elements.year.value.trim();
    var audience = PARTNER_ONLY ? 'partner' : form.querySelector('input[name="audience"]:checked').value;
    var query = '?audience=' + audience + '&lang=' + C.lang;
    var last = Number(C.today().slice(0, 4)) + 1;
    hidden = audience === 'partner' ? 'x' : '–';
    C.clearErrors(form);
    if (!/^\d{4}$/.test(year) || Number(year) < MIN_YEAR || Number(year) > last) {
      C.showErrors(form, [{field: 'year', fault: C.t('reports_year_range', {from: MIN_YEAR, to: last})}]);
      return null;
    }
    var json = '/reports/' + year + '.json' + query;
    C.$('reports-page').href = '/reports/' + year + '.html' + query;
    C.$('reports-json').href = json;
    C.$('reports-json').setAttribute('download', 'report-' + year + '-' + audience + '.json');
    var done = C.busy(C.t('reports_loading'));
    return C.api('GET', json).then(function (a) {
      if (!a.ok) {
        done('');
        C.$('reports-links').hidden = true;
        C.$('reports-out').textContent = '';
        C.showErrors(form, C.problems(a));
        return;
      }
      draw(a.body);
      C.$('reports-links').hidden = false;
      C.$('reports-hidden').hidden = audience !== 'partner';
      done(C.t('console_page_reports') + ' ' + year, 'ok');
    });
  }

  C.ready.then(function () {
    var form = C.$('reports-form');
    var asked = new URLSearchParams(location.search);
    form.elements.year.value = asked.get('year') || C.today().slice(0, 4);
    form.elements.year.min = MIN_YEAR;
    form.elements.year.max = Number(C.today().slice(0, 4)) + 1;
    if (asked.get('audience') === 'partner' || PARTNER_ONLY) { form.querySelector('input[value="partner"]').checked = true; }
    // A partner has no choice to make: the audience is left out and the page says which it is.
    if (PARTNER_ONLY) { form.querySelector('input[value="internal"]').closest('label').remove(); }
    C.$('reports-audience').hidden = PARTNER_ONLY;
    C.$('reports-partner-only').hidden = !PARTNER_ONLY;
    form.addEventListener('submit', onShow);
    document.body.dataset.ready = 'true';
  });
})();
