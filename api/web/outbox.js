/* The outbox and the app's own records on the phone, in IndexedDB (through the idb library).
   Each entry has a UUID made here, so sending it again stores nothing twice on the server.
   'outbox' survives reloads, a closed browser, logout and revocation until the user confirms;
   'meta' (last sync, who is signed in, when the data was fetched) is wiped with the site data. */
(function () {
  'use strict';
  var DB = 'geo-outreach', VERSION = 1;
  var dbp = null;

  function db() {
    if (!dbp) {
      dbp = idb.openDB(DB, VERSION, {
        upgrade: function (d) {
          d.createObjectStore('outbox', {keyPath: 'id'});
          d.createObjectStore('meta');
        }
      });
    }
    return dbp;
  }

  function uuid() {
    if (self.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  window.GoOutbox = {
    uuid: uuid,
    put: function (entry) { return db().then(function (d) { return d.put('outbox', entry); }); },
    get: function (id) { return db().then(function (d) { return d.get('outbox', id); }); },
    all: function () { return db().then(function (d) { return d.getAll('outbox'); }); },
    remove: function (id) { return db().then(function (d) { return d.delete('outbox', id); }); },
    clear: function () { return db().then(function (d) { return d.clear('outbox'); }); },
    meta: function (key, value) {
      return db().then(function (d) {
        return value === undefined ? d.get('meta', key) : d.put('meta', value, key);
      });
    },
    clearMeta: function () { return db().then(function (d) { return d.clear('meta'); }); }
  };
})();
