
(function () {
  'use strict';
  var ESC = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  function mx(lon) { return (lon + 180) / 360; }
  function my(lat) {
    var s = Math.sin(lat * Math.PI / 180);
    return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }
  function unx(x) { return x * 360 - 180; }
  function uny(y) { return 360 / Math.PI * Math.atan(Math.exp((0.5 - y) * 2 * Math.PI)) - 90; }
  function fold(s) {
    return String(s).toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '')
      .replace(/ł/g, 'l');
  }

  // Columns of a site row (see maps/live.py).
  var LON = 0, LAT = 1, CODE = 2, NAME = 3, CAT = 4, STATUS = 5, PEOPLE = 6, HAZ = 7,
      DAYS = 8, LAST = 9, DISTRICT = 10, VISITS = 11;

  // One shared, read-only list per bit set: most sites share a handful of them.
  var BITS = {};
  function bits(mask) {
    var out = BITS[mask];
    if (out) { return out; }
    out = [];
    for (var k = 0, m = mask; m; k++, m >>>= 1) { if (m & 1) { out.push(k); } }
    return (BITS[mask] = out);
  }

  // A payload packed as columns (maps/live.py `site_columns`) back to the rows every reader
  // uses; a payload that already has rows is left as it is. Decodes in place, returns it.
  function decode(d) {
    if (!d || d.rows) { return d; }
    var n = d.code.length, rows = new Array(n), now = d.now, v = 0;
    for (var i = 0; i < n; i++) {
      var ago = d.last[i], visits = new Array(d.visits[i]);
      for (var k = 0; k < visits.length; k++, v++) {
        visits[k] = [now - d.visitAgo[v], d.visitMet[v], bits(d.visitHelp[v])];
      }
      rows[i] = [
        (d.origin[0] + d.x[i]) / 1e6, (d.origin[1] + d.y[i]) / 1e6, d.code[i], d.name[i],
        d.cat[i], d.status[i], d.people[i], bits(d.haz[i]),
        ago === null ? -1 : Math.floor(ago / 86400), ago === null ? null : now - ago,
        d.district[i] - 1, visits
      ];
    }
    d.rows = rows;
    return d;
  }

  L.GoSiteLayer = L.Layer.extend({
    options: {cellPx: 60, clusterUntilZoom: 16, openZoom: 18},

    initialize: function (data, options) {
      L.setOptions(this, options);
      this._d = decode(data);
      var n = data.rows.length;
      this._x = new Float64Array(n);
      this._y = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        this._x[i] = mx(data.rows[i][LON]);
        this._y[i] = my(data.rows[i][LAT]);
      }
      this._markers = {};
      this.stats = {clusters: 0, points: 0, inView: 0, clustered: 0, total: n, bounds: null};
    },

    onAdd: function (map) {
      this._map = map;
      this._renderer = L.canvas({padding: 0.1});
      this._group = L.layerGroup().addTo(map);
      map.on('moveend', this._update, this);
      this._update();
    },

    onRemove: function (map) {
      map.off('moveend', this._update, this);
      map.removeLayer(this._group);
      this._group = null;
    },

    _ageColour: function (days) {
      var ages = this._d.ageColours;
      for (var i = 0; i < ages.length; i++) {
        if (ages[i][0] === null || (days >= 0 && days <= ages[i][0])) { return ages[i][1]; }
      }
      return ages[ages.length - 1][1];
    },

    _update: function () {
      var map = this._map;
      if (!map || !this._group) { return; }
      this._group.clearLayers();
      this._markers = {};
      var rows = this._d.rows, z = map.getZoom(), scale = 256 * Math.pow(2, z);
      var b = map.getBounds().pad(0.1);
      var west = mx(b.getWest()), east = mx(b.getEast());
      var north = my(b.getNorth()), south = my(b.getSouth());
      var cluster = z <= this.options.clusterUntilZoom, cell = this.options.cellPx;
      var buckets = {}, order = [], inView = 0, points = 0, clusters = 0, clustered = 0;
      for (var i = 0; i < rows.length; i++) {
        var x = this._x[i], y = this._y[i];
        if (x < west || x > east || y < north || y > south) { continue; }
        inView++;
        if (!cluster) { this._addSite(i); points++; continue; }
        var key = Math.floor(x * scale / cell) + ':' + Math.floor(y * scale / cell);
        var bk = buckets[key];
        if (!bk) {
          bk = buckets[key] = {n: 0, sx: 0, sy: 0, first: i, people: 0, urgent: 0,
                               x0: x, x1: x, y0: y, y1: y};
          order.push(bk);
        }
        bk.n++; bk.sx += x; bk.sy += y; bk.people += rows[i][PEOPLE];
        if (x < bk.x0) { bk.x0 = x; } if (x > bk.x1) { bk.x1 = x; }
        if (y < bk.y0) { bk.y0 = y; } if (y > bk.y1) { bk.y1 = y; }
        var r = rows[i];
        if (r[STATUS] === 0 && (r[DAYS] < 0 || r[DAYS] > this._d.overdueDays)) { bk.urgent++; }
      }
      for (var k = 0; k < order.length; k++) {
        var c = order[k];
        if (c.n === 1) { this._addSite(c.first); points++; continue; }
        this._addCluster(c);
        clusters++; clustered += c.n;
      }
      this.stats = {clusters: clusters, points: points, inView: inView, clustered: clustered,
                    total: rows.length,
                    bounds: [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]};
      window.GO_SITE_STATS = this.stats;
      this.fire('go:drawn', this.stats);
    },

    _addCluster: function (c) {
      var map = this._map, d = this._d;
      var size = Math.round(Math.min(56, 26 + 6 * Math.log(c.n)));
      var colour = c.urgent > 0 ? d.statusColours[0] : '#2c3e50';
      var icon = L.divIcon({
        className: '',
        html: '<div class="go-cluster" style="width:' + size + 'px;height:' + size +
              'px;background:' + colour + '" data-count="' + c.n + '">' + c.n + '</div>',
        iconSize: [size, size]
      });
      var at = L.latLng(uny(c.sy / c.n), unx(c.sx / c.n));
      var m = L.marker(at, {icon: icon, keyboard: true,
                            title: c.n + ' ' + d.text.cluster + ', ' + c.people + ' ' +
                                   d.text.people});
      m.on('click', function () {
        var bounds = L.latLngBounds([uny(c.y1), unx(c.x0)], [uny(c.y0), unx(c.x1)]);
        if (bounds.getNorthEast().equals(bounds.getSouthWest())) {
          map.setView(at, Math.min(map.getZoom() + 3, map.getMaxZoom()));
        } else {
          map.fitBounds(bounds.pad(0.2), {maxZoom: map.getMaxZoom()});
        }
      });
      this._group.addLayer(m);
    },

    _addSite: function (i) {
      var d = this._d, r = d.rows[i], self = this;
      var latlng = L.latLng(r[LAT], r[LON]);
      var radius = Math.min(18, 5 + 2.2 * Math.sqrt(r[PEOPLE]));
      var m = L.circleMarker(latlng, {
        renderer: this._renderer, radius: radius, weight: 3, opacity: 1, fillOpacity: 0.9,
        fillColor: d.statusColours[r[STATUS]], color: this._ageColour(r[DAYS])
      });
      m.bindPopup(function () { return self._popup(i); }, {maxWidth: 300});
      m.bindTooltip(esc(r[CODE]) + ' · ' + esc(r[NAME]));
      this._group.addLayer(m);
      this._markers[i] = m;
      if (r[HAZ].length) {
        var sym = r[HAZ].map(function (h) { return d.hazards[h][1]; }).join('');
        var names = r[HAZ].map(function (h) { return d.hazards[h][0]; }).join(', ');
        var off = Math.round(radius + 3);
        this._group.addLayer(L.marker(latlng, {
          interactive: false, keyboard: false,
          icon: L.divIcon({className: '', iconSize: [0, 0],
                           html: '<span class="go-hazard" title="' + esc(names) +
                                 '" style="position:absolute;left:' + off +
                                 'px;top:-9px">' + esc(sym) + '</span>'})
        }));
      }
    },

    _when: function (ts, withTime) {
      var opts = {timeZone: this._d.timeZone, year: 'numeric', month: '2-digit', day: '2-digit'};
      if (withTime) { opts.hour = '2-digit'; opts.minute = '2-digit'; }
      return new Date(ts * 1000).toLocaleString(this._d.locale, opts);
    },

    _popup: function (i) {
      var d = this._d, r = d.rows[i], t = d.text, self = this;
      var rowsHtml = [
        [t.status, d.statuses[r[STATUS]]],
        ['', d.categories[r[CAT]]],
        [t.people, r[PEOPLE]],
        [t.district, r[DISTRICT] >= 0 ? d.districts[r[DISTRICT]] : '–'],
        [t.last_visit, r[LAST] !== null ?
          this._when(r[LAST], false) + ' (' + r[DAYS] + ' ' + t.days_since + ')' : t.never]
      ];
      if (r[HAZ].length) {
        rowsHtml.push([t.hazards, r[HAZ].map(function (h) {
          return d.hazards[h][1] + ' ' + d.hazards[h][0];
        }).join(', ')]);
      }
      var html = '<div class="go-popup"><h3>' + esc(r[CODE]) + ' · ' + esc(r[NAME]) +
                 '</h3><table>';
      rowsHtml.forEach(function (kv) {
        html += '<tr><th scope="row">' + esc(kv[0]) + '</th><td>' + esc(kv[1]) + '</td></tr>';
      });
      html += '</table>';
      if (r[VISITS].length) {
        html += '<p><strong>' + esc(t.recent_visits) + '</strong></p><ul>';
        r[VISITS].forEach(function (v) {
          var help = v[2].map(function (h) { return d.help[h]; }).join(', ');
          html += '<li>' + esc(self._when(v[0], true)) + ': ' + esc(t.met) + ' ' + v[1] +
                  (help ? ' · ' + esc(help) : '') + '</li>';
        });
        html += '</ul>';
      }
      return html + '</div>';
    },

    find: function (query, max) {
      var q = fold(query).trim(), out = [], rows = this._d.rows;
      if (!q) { return out; }
      if (!this._folded) {
        this._folded = rows.map(function (r) { return fold(r[CODE] + ' ' + r[NAME]); });
      }
      for (var i = 0; i < rows.length && out.length < max; i++) {
        if (this._folded[i].indexOf(q) >= 0) { out.push(i); }
      }
      return out;
    },

    label: function (i) { var r = this._d.rows[i]; return r[CODE] + ' · ' + r[NAME]; },

    openSite: function (i) {
      var r = this._d.rows[i];
      this._map.setView([r[LAT], r[LON]], this.options.openZoom, {animate: false});
      this._update();
      if (this._markers[i]) { this._markers[i].openPopup(); }
    }
  });

  L.GoSiteLayer.decode = decode;  // for readers of the rows outside the layer (the field app)

  L.GoSearch = L.Control.extend({
    options: {position: 'topleft', placeholder: '', max: 8},

    initialize: function (layer, options) { L.setOptions(this, options); this._layer = layer; },

    onAdd: function () {
      var self = this, div = L.DomUtil.create('div', 'go-search leaflet-bar');
      var input = L.DomUtil.create('input', '', div);
      input.type = 'search';
      input.placeholder = this.options.placeholder;
      input.setAttribute('aria-label', this.options.placeholder);
      var list = L.DomUtil.create('ul', '', div);
      list.setAttribute('aria-live', 'polite');
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      input.addEventListener('input', function () { self._show(input.value, list); });
      input.addEventListener('keydown', function (e) {
        if (e.key === 'Enter') {
          var first = list.querySelector('button');
          if (first) { first.click(); }
        }
      });
      return div;
    },

    _show: function (value, list) {
      var layer = this._layer;
      list.innerHTML = '';
      layer.find(value, this.options.max).forEach(function (i) {
        var li = document.createElement('li'), btn = document.createElement('button');
        btn.type = 'button';
        btn.textContent = layer.label(i);
        btn.addEventListener('click', function () { list.innerHTML = ''; layer.openSite(i); });
        li.appendChild(btn);
        list.appendChild(li);
      });
    }
  });
})();
