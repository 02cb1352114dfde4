// vigie operator console: plain JavaScript on Leaflet (canvas renderer), fed by
// /api/events (Server-Sent Events; the browser resumes with Last-Event-ID by itself).
"use strict";

const TRAIL_MAX = 36;         // trail points kept per track (one per ~5 s of updates)
const STALE_S = 30;           // a track not updated for this long is drawn faded
const state = { tracks: new Map(), tentative: new Map(), alerts: new Map(), actions: new Map(), newest: null, exercise: false };
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const map = L.map("map", { preferCanvas: true, zoomControl: true }).setView([50.8, 1.6], 10);
const renderer = L.canvas({ padding: 0.3 });
const layers = { tentative: L.layerGroup().addTo(map), tracks: L.layerGroup().addTo(map), alerts: L.layerGroup().addTo(map) };
map.attributionControl.addAttribution("coast © OpenStreetMap contributors");

fetch("/api/coast").then((r) => r.json()).then((g) => {
  L.geoJSON(g, { renderer, interactive: false, style: { color: "#4b5a46", weight: 1, fillColor: "#26301f", fillOpacity: 1 } }).addTo(map).bringToBack();
});
fetch("/api/zones").then((r) => r.json()).then((g) => {
  L.geoJSON(g, { renderer, style: { color: "#f5a524", weight: 1.5, dashArray: "4 3", fillOpacity: 0.12 } })
    .bindTooltip((l) => esc(l.feature.properties.name || l.feature.properties.id)).addTo(map);
});

function label(t) {
  if (t.name) return t.name;
  if (t.mmsi) return "MMSI " + t.mmsi;
  return "dark";
}

function ageS(t) {
  if (!state.newest) return 0;
  return (Date.parse(state.newest) - Date.parse(t)) / 1000;
}

// Course vector: where the boat will be in one minute.
function ahead(t) {
  const d = (t.speed_kn * 1852 / 3600) * 60;
  const c = (t.course_deg * Math.PI) / 180;
  const dlat = (d * Math.cos(c)) / 111320;
  const dlon = (d * Math.sin(c)) / (111320 * Math.cos((t.lat * Math.PI) / 180));
  return [t.lat + dlat, t.lon + dlon];
}

function drawTrack(t) {
  let e = state.tracks.get(t.track_id);
  const pos = [t.lat, t.lon];
  if (!e) {
    e = { trail: t.trail ? t.trail.slice() : [] };
    e.dot = L.circleMarker(pos, { renderer, radius: 5, weight: 1.5 }).addTo(layers.tracks);
    e.vec = L.polyline([pos, pos], { renderer, weight: 1.5, interactive: false }).addTo(layers.tracks);
    e.line = L.polyline([], { renderer, weight: 1, opacity: 0.5, interactive: false }).addTo(layers.tracks);
    e.dot.bindTooltip("", { className: "track-label", direction: "right", offset: [6, 0] });
    state.tracks.set(t.track_id, e);
  }
  const last = e.trail[e.trail.length - 1];
  if (!last || last[0] !== t.lat || last[1] !== t.lon) e.trail.push(pos);
  if (e.trail.length > TRAIL_MAX) e.trail.splice(0, e.trail.length - TRAIL_MAX);
  e.t = t;
  const colour = t.dark ? "#ff6b57" : "#5fb3ff";
  e.dot.setLatLng(pos).setStyle({ color: colour, fillColor: colour, fillOpacity: 0.8 });
  e.vec.setLatLngs([pos, ahead(t)]).setStyle({ color: colour });
  e.line.setLatLngs(e.trail).setStyle({ color: colour });
  e.dot.setTooltipContent(esc(t.track_id + " " + label(t) + " " + t.speed_kn.toFixed(1) + " kn"));
}

// Tentative tracks (only when the operator asks): small hollow grey rings, no trail; the
// server sends their whole set once a second, which replaces the previous one.
function dropTentative(id) {
  const e = state.tentative.get(id);
  if (!e) return;
  layers.tentative.removeLayer(e.dot);
  state.tentative.delete(id);
}
function setTentative(list) {
  const keep = new Set();
  for (const t of list) {
    if (state.tracks.has(t.track_id)) continue;
    keep.add(t.track_id);
    let e = state.tentative.get(t.track_id);
    if (!e) {
      e = { dot: L.circleMarker([t.lat, t.lon], { renderer, radius: 3, weight: 1, color: "#8a96a3", fill: false, dashArray: "2 2" }).addTo(layers.tentative) };
      e.dot.bindTooltip("", { className: "track-label", direction: "right", offset: [4, 0] });
      state.tentative.set(t.track_id, e);
    }
    e.t = t;
    e.dot.setLatLng([t.lat, t.lon]);
    e.dot.setTooltipContent(esc(t.track_id + " tentative " + t.speed_kn.toFixed(1) + " kn"));
  }
  for (const id of [...state.tentative.keys()]) if (!keep.has(id)) dropTentative(id);
}

function fadeAndDrop() {
  for (const [id, e] of state.tracks) {
    const age = ageS(e.t.t);
    if (age > 400) {
      layers.tracks.removeLayer(e.dot); layers.tracks.removeLayer(e.vec); layers.tracks.removeLayer(e.line);
      state.tracks.delete(id);
    } else {
      e.dot.setStyle({ opacity: age > STALE_S ? 0.35 : 1, fillOpacity: age > STALE_S ? 0.2 : 0.8 });
    }
  }
}

function fmtDwell(s) {
  const m = Math.floor(s / 60), r = Math.round(s % 60);
  return m ? `${m} min ${r} s` : `${r} s`;
}

function actionText(a) {
  if (!a) return "no action yet";
  const what = { acknowledge: "acknowledged", assign: "assigned to " + (a.unit || "?"), resolve: "resolved: " + (a.outcome || "?"), note: "note" }[a.action] || a.action;
  return `${what} by ${a.by} at ${a.at.slice(11, 19)}Z` + (a.text ? ` — “${a.text}”` : "");
}

// SITREPs an operator opened stay open when the list is rebuilt.
const sitrepOpen = new Set();
document.addEventListener("toggle", (ev) => {
  const li = ev.target.closest && ev.target.closest("li.alert");
  if (!li || !ev.target.classList.contains("sitrep")) return;
  if (ev.target.open) sitrepOpen.add(li.dataset.id); else sitrepOpen.delete(li.dataset.id);
}, true);

function renderAlerts() {
  const list = [...state.alerts.values()].sort((a, b) => (a.raised_at < b.raised_at ? 1 : -1));
  $("alert-count").textContent = list.length;
  $("no-alerts").hidden = list.length > 0;
  layers.alerts.clearLayers();
  const ul = $("alerts");
  ul.textContent = "";
  for (const a of list) {
    const act = state.actions.get(a.id);
    const li = document.createElement("li");
    li.className = "alert" + (act ? " " + (act.action === "resolve" ? "resolved" : "acknowledged") : "") + (a.fresh ? " fresh" : "");
    li.dataset.id = a.id;
    const kind = a.kind === "taxi_boat_pickup" ? "Taxi-boat pickup" : a.kind === "ais_identity_conflict" ? "AIS identity conflict" : a.kind;
    const zone = a.zone ? a.zone.name : "no zone";
    const who = a.dark ? "dark" : "AIS MMSI " + a.mmsi;
    li.innerHTML = `<div class="title">${esc(kind)} — ${esc(zone)}</div>
      <div class="facts">${esc(a.track_id)} · ${esc(who)} · dwell ${esc(fmtDwell(a.dwell_s))} · ${esc(a.speed_kn.toFixed(1))} kn · ${esc(a.state)} · age ${esc(fmtDwell(Math.max(0, ageS(a.raised_at))))}</div>
      ${a.sensors ? `<div class="facts seen">seen by ${esc(a.sensors.join(", ") || "no sensor lately")}${a.position_error_m != null ? ` · ±${esc(a.position_error_m.toFixed(0))} m` : ""}</div>` : ""}
      <div class="last-action">${esc(actionText(act))}</div>
      ${a.sitrep ? `<details class="sitrep"${sitrepOpen.has(a.id) ? " open" : ""}><summary>SITREP</summary><p>${esc(a.sitrep)}</p></details>` : ""}
      <div class="buttons">
        <button data-do="acknowledge">Acknowledge</button>
        <input data-field="unit" size="8" placeholder="unit"><button data-do="assign">Assign</button>
        <select data-field="outcome"><option value="intercepted">intercepted</option><option value="false_alarm">false alarm</option><option value="lost">lost</option><option value="other">other</option></select><button data-do="resolve">Resolve</button>
        <input data-field="text" size="12" placeholder="note"><button data-do="note">Note</button>
      </div>`;
    li.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (b) { act_on(a.id, b.dataset.do, li); return; }
      if (ev.target.closest("input,select,details")) return;
      map.setView([a.lat, a.lon], 14);
    });
    ul.appendChild(li);
    L.circle([a.lat, a.lon], { renderer, radius: 200, color: "#e5484d", weight: 3, fillOpacity: 0.15 })
      .bindTooltip(esc(kind + " " + a.track_id)).addTo(layers.alerts);
  }
}

function act_on(id, action, li) {
  const field = (f) => li.querySelector(`[data-field="${f}"]`).value;
  const body = { action, by: $("operator").value || undefined };
  if (action === "assign") body.unit = field("unit");
  if (action === "resolve") body.outcome = field("outcome");
  if (action === "note") body.text = field("text");
  fetch(`/api/alerts/${encodeURIComponent(id)}/actions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    .then(async (r) => {
      const err = $("action-error");
      if (r.ok) { err.hidden = true; return; }
      err.textContent = (await r.json()).error; err.hidden = false;
    });
}

function renderTracks() {
  const f = $("track-filter").value.trim().toLowerCase();
  const rows = [];
  for (const [id, e] of state.tracks) {
    const t = e.t, l = label(t);
    if (f && !(id.toLowerCase().includes(f) || l.toLowerCase().includes(f))) continue;
    rows.push(`<tr data-track="${esc(id)}"><td>${esc(id)}</td><td>${esc(l)}</td><td>${t.speed_kn.toFixed(1)}</td><td>${Math.round(t.course_deg)}°</td></tr>`);
    if (rows.length >= 300) break;
  }
  for (const [id, e] of state.tentative) {
    if (rows.length >= 300) break;
    const t = e.t;
    if (f && !(id.toLowerCase().includes(f) || "tentative".includes(f))) continue;
    rows.push(`<tr class="tentative" data-track="${esc(id)}"><td>${esc(id)}</td><td>tentative</td><td>${t.speed_kn.toFixed(1)}</td><td>${Math.round(t.course_deg)}°</td></tr>`);
  }
  $("track-count").textContent = state.tracks.size;
  $("tentative-count").textContent = $("show-tentative").checked ? `(+${state.tentative.size})` : "";
  $("tracks").tBodies[0].innerHTML = rows.join("");
}

function setExercise(x) {
  state.exercise = state.exercise || x;
  $("banner").hidden = !state.exercise;
}

function cue() {
  try {
    const ctx = new AudioContext(), o = ctx.createOscillator();
    o.frequency.value = 880; o.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.25);
  } catch (_) { /* no sound before the first interaction: the row flashes instead */ }
  document.title = "⚠ ALERT — vigie";
  setTimeout(() => (document.title = "vigie — operator console"), 8000);
}

function onAlert(a, live) {
  if (a.state === "cleared") { state.alerts.delete(a.id); state.actions.delete(a.id); loadIncidents(); return; }
  const prev = state.alerts.get(a.id);
  a.raised_at = prev ? prev.raised_at : a.t;
  a.fresh = live && a.state === "raised";
  state.alerts.set(a.id, a);
  setExercise(a.exercise);
  if (a.fresh) cue();
}

function applySnapshot(s) {
  for (const e of state.tracks.values()) { layers.tracks.removeLayer(e.dot); layers.tracks.removeLayer(e.vec); layers.tracks.removeLayer(e.line); }
  state.tracks.clear(); state.alerts.clear(); state.actions.clear();
  state.newest = s.event_time;
  setExercise(!!s.exercise);
  for (const t of s.tracks) drawTrack(t);
  if (s.tentative) setTentative(s.tentative);
  for (const a of s.alerts) onAlert(a, false);
  for (const a of s.actions) state.actions.set(a.alert_id, a);
  if (s.debrief) onDebrief(s.debrief);
}

// Training debrief (`vigie debrief FILE`): the timeline follows the player; a trainer's
// play, pause, jump or speed goes to the server, and every page follows the player.
let debrief = null, seeking = false;
function mmss(s) {
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${x}` : `${m}:${x}`;
}
function onDebrief(d) {
  debrief = d;
  $("debrief").hidden = false;
  setExercise(true);
  if (!seeking) { $("db-seek").max = Math.ceil(d.duration_s); $("db-seek").value = Math.floor(d.t_s); }
  $("db-play").textContent = d.playing ? "❚❚ pause" : "▶ play";
  $("db-time").textContent = `${mmss(d.t_s)} / ${mmss(d.duration_s)}`;
  if ([...$("db-speed").options].some((o) => Number(o.value) === d.speed)) $("db-speed").value = String(d.speed);
}
function debriefCommand(c) {
  fetch("/api/debrief", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(c) })
    .then((r) => (r.ok ? null : r.json().then((e) => { throw new Error(e.error); })))
    .catch((e) => { $("action-error").textContent = "debrief: " + e.message; $("action-error").hidden = false; });
}
$("db-play").addEventListener("click", () => debriefCommand({ play: !(debrief && debrief.playing) }));
$("db-seek").addEventListener("input", () => {
  seeking = true;
  if (debrief) $("db-time").textContent = `${mmss(Number($("db-seek").value))} / ${mmss(debrief.duration_s)}`;
});
$("db-seek").addEventListener("change", () => { seeking = false; debriefCommand({ seek_s: Number($("db-seek").value) }); });
$("db-speed").addEventListener("change", () => debriefCommand({ speed: Number($("db-speed").value) }));

let dirty = true, alertsDirty = true, es = null;
function connect() {
  if (es) es.close();
  const tentative = $("show-tentative").checked;
  if (!tentative) { for (const id of [...state.tentative.keys()]) dropTentative(id); dirty = true; }
  es = new EventSource(tentative ? "/api/events?tentative=1" : "/api/events");
  es.onopen = () => { $("status").textContent = "live"; $("status").className = "status live"; };
  es.onerror = () => { $("status").textContent = "reconnecting…"; $("status").className = "status down"; };
  es.addEventListener("snapshot", (m) => { applySnapshot(JSON.parse(m.data)); dirty = alertsDirty = true; });
  es.addEventListener("track", (m) => {
    const t = JSON.parse(m.data);
    if (!state.newest || t.t > state.newest) state.newest = t.t;
    setExercise(!!t.exercise);
    dropTentative(t.track_id);
    drawTrack(t); dirty = true;
  });
  es.addEventListener("tentative", (m) => { setTentative(JSON.parse(m.data).tracks); dirty = true; });
  es.addEventListener("alert", (m) => { onAlert(JSON.parse(m.data), true); alertsDirty = true; });
  es.addEventListener("debrief", (m) => onDebrief(JSON.parse(m.data)));
  es.addEventListener("action", (m) => { const a = JSON.parse(m.data); state.actions.set(a.alert_id, a); alertsDirty = true; });
}

function loadIncidents() {
  const today = new Date().toISOString().slice(0, 10) + "T00:00:00Z";
  fetch("/api/incidents?since=" + today).then((r) => r.json()).then((list) => {
    const done = list.filter((i) => i.actions.some((a) => a.action === "resolve"));
    $("incident-count").textContent = done.length;
    $("incidents").innerHTML = done.slice(-50).reverse().map((i) => {
      const r = [...i.actions].reverse().find((a) => a.action === "resolve");
      const z = i.events[0] && i.events[0].zone ? i.events[0].zone.name : "";
      return `<li class="quiet" data-id="${esc(i.alert_id)}">${esc(i.alert_id)} ${esc(z)} — ${esc(r.outcome)} (${esc(r.by)})</li>`;
    }).join("");
  }).catch(() => {});
}

// Redraw lists at most 4 times a second however fast events come.
// The alert list is rebuilt only when an alert or action changes (and every 5 s for the
// ages), never while the operator is typing in it.
setInterval(() => {
  const typing = $("alerts").contains(document.activeElement);
  if (alertsDirty && !typing) { alertsDirty = false; renderAlerts(); }
  if (!dirty) return;
  dirty = false;
  $("event-time").textContent = state.newest ? state.newest.slice(11, 19) + "Z" : "–";
  fadeAndDrop(); renderTracks();
}, 250);
setInterval(() => { alertsDirty = true; }, 5000);
$("track-filter").addEventListener("input", () => { dirty = true; });
$("show-tentative").checked = localStorage.getItem("vigie-tentative") === "1";
$("show-tentative").addEventListener("change", () => {
  localStorage.setItem("vigie-tentative", $("show-tentative").checked ? "1" : "0");
  connect();
});
$("operator").value = localStorage.getItem("vigie-operator") || "";
$("operator").addEventListener("change", () => localStorage.setItem("vigie-operator", $("operator").value));
connect();
loadIncidents();
