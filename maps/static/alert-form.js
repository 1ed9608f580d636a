/* The public alert form (maps/alertform.py): a pin on the map, the phone's position or an
   address; posts JSON to the API and shows the reference code with a link to its status.
   No name, no photo, nothing sent anywhere but this server. */
(function () {
  "use strict";

  function findMap() {
    var holder = document.querySelector(".folium-map");
    var map = holder && window[holder.id];
    return map && typeof map.on === "function" ? map : null;
  }

  function localInput(date) {
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function withOffset(value) {
    /* datetime-local has no zone: send the phone's own offset with it. */
    if (!value) { return null; }
    var when = new Date(value);
    if (isNaN(when.getTime())) { return null; }
    return when.toISOString();
  }

  function init() {
    var form = document.getElementById("go-alert");
    if (!form) { return; }
    var msg = function (key) { return form.getAttribute("data-msg-" + key) || ""; };
    var where = document.getElementById("go-alert-where");
    var result = document.getElementById("go-alert-result");
    var pinButton = document.getElementById("go-alert-pin");
    var deviceButton = document.getElementById("go-alert-device");
    var when = document.getElementById("go-alert-when");
    var map = findMap();
    var chosen = null; /* {lon, lat, source} */
    var marker = null;
    var pinMode = false;

    if (when && !when.value) { when.value = localInput(new Date()); }

    function place(lat, lon, source, text) {
      chosen = { lon: Math.round(lon * 1e6) / 1e6, lat: Math.round(lat * 1e6) / 1e6,
                 source: source };
      where.textContent = text;
      if (map && window.L) {
        if (marker) { marker.setLatLng([lat, lon]); }
        else {
          /* A vector marker: no image to fetch. */
          marker = window.L.circleMarker([lat, lon], { radius: 11, color: "#b00020", weight: 3,
            fillColor: "#ffd54f", fillOpacity: 0.9, className: "go-alert-marker" }).addTo(map);
        }
      }
    }

    function setPinMode(on) {
      pinMode = on;
      pinButton.setAttribute("aria-pressed", on ? "true" : "false");
      if (map) { map.getContainer().classList.toggle("go-alert-picking", on); }
      if (on) { where.textContent = msg("pinmode"); }
    }

    if (map) {
      map.on("click", function (event) {
        if (!pinMode) { return; }
        place(event.latlng.lat, event.latlng.lng, "pin", msg("pin"));
        setPinMode(false);
      });
    } else {
      pinButton.hidden = true; /* no map (e.g. a screen reader's list view): address only */
    }
    pinButton.addEventListener("click", function () {
      setPinMode(!pinMode);
      if (pinMode && map) { map.getContainer().scrollIntoView({ block: "center" }); }
    });

    if (!("geolocation" in navigator)) { deviceButton.hidden = true; }
    deviceButton.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        place(pos.coords.latitude, pos.coords.longitude, "device", msg("device"));
        if (map) { map.setView([pos.coords.latitude, pos.coords.longitude], 17); }
      }, function () {
        where.textContent = msg("device-error");
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });

    function show(parts) {
      result.textContent = "";
      parts.forEach(function (part) { result.appendChild(part); });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var address = form.elements.address.value.trim();
      if (!chosen && !address) {
        show([document.createTextNode(msg("where"))]);
        form.elements.address.focus();
        return;
      }
      var body = {
        description: form.elements.description.value,
        lang: form.getAttribute("data-lang") || "pl",
        position_source: chosen ? chosen.source : "address"
      };
      if (chosen) { body.lon = chosen.lon; body.lat = chosen.lat; }
      if (address) { body.address = address; }
      var seen = withOffset(form.elements.seen_at.value);
      if (seen) { body.seen_at = seen; }
      var contact = form.elements.contact.value.trim();
      if (contact) { body.contact = contact; }
      if (form.elements.website.value) { body.website = form.elements.website.value; }
      var send = form.querySelector("button[type=submit]");
      send.disabled = true;
      fetch(form.getAttribute("action"), {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit"
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { ok: response.ok, status: response.status, data: data };
        });
      }).then(function (answer) {
        send.disabled = false;
        if (answer.ok && answer.data.ref) {
          var code = document.createElement("strong");
          code.className = "go-alert-ref";
          code.textContent = answer.data.ref;
          var link = document.createElement("a");
          link.href = form.getAttribute("action") + "/" + encodeURIComponent(answer.data.ref) +
            "?lang=" + encodeURIComponent(body.lang);
          link.textContent = msg("status");
          link.id = "go-alert-status-link";
          show([document.createTextNode(msg("sent") + " "), code, document.createElement("br"),
                link]);
          form.reset();
          when.value = localInput(new Date());
          chosen = null;
          where.textContent = msg("none");
          if (marker && map) { map.removeLayer(marker); marker = null; }
          return;
        }
        var problems = (answer.data.problems || []).map(function (p) {
          return p.field + ": " + p.fault;
        }).join("; ");
        var text = answer.status === 429 ? msg("limit")
          : msg("error") + " " + (problems || String(answer.status));
        show([document.createTextNode(text)]);
      }).catch(function () {
        send.disabled = false;
        show([document.createTextNode(msg("offline"))]);
      });
    });
  }

  if (document.readyState === "complete") { init(); }
  else { window.addEventListener("load", init); }
})();
