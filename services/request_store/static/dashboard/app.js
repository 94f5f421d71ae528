// The IIB dashboard: plain JavaScript over the typed API's JSON (/v1, see docs/dashboard.md).
// No build step and nothing loaded from elsewhere. Every value is inserted as text, never HTML.
"use strict";

const FINAL = new Set(["REQUEST_STATE_COMPLETE", "REQUEST_STATE_FAILED"]);
const CATALOG_TYPES = new Set([
  "REQUEST_TYPE_ADD", "REQUEST_TYPE_RM", "REQUEST_TYPE_MERGE_INDEX_IMAGE",
  "REQUEST_TYPE_CREATE_EMPTY_INDEX", "REQUEST_TYPE_FBC_OPERATIONS", "REQUEST_TYPE_ADD_DEPRECATIONS",
]);
const PARAMETER_FIELDS = [
  "add", "rm", "regenerate_bundle", "merge_index_image", "create_empty_index",
  "recursive_related_bundles", "fbc_operations", "add_deprecations",
];
const DIFF_SECTIONS = [
  ["packages_added", "Packages added", (p) => p],
  ["packages_removed", "Packages removed", (p) => p],
  ["channels_added", "Channels added", (c) => `${c.package} / ${c.channel} (head ${c.head || "none"})`],
  ["channels_removed", "Channels removed", (c) => `${c.package} / ${c.channel}`],
  ["channel_heads_moved", "Channel heads moved", (m) => `${m.package} / ${m.channel}: ${m.from_head} → ${m.to_head}`],
  ["default_channels_moved", "Default channels moved", (m) => `${m.package}: ${m.from_channel} → ${m.to_channel}`],
  ["bundles_added", "Bundles added", (b) => `${b.package}: ${b.name} (${b.image})`],
  ["bundles_removed", "Bundles removed", (b) => `${b.package}: ${b.name} (${b.image})`],
  ["deprecations_added", "Deprecations added", (d) => `${d.package}: ${d.schema} ${d.name} — ${d.message}`],
];

let stopStream = null; // cancels the live stream of the current view

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

function stateName(value) { return String(value || "").replace("REQUEST_STATE_", "").toLowerCase(); }
function typeName(value) { return String(value || "").replace("REQUEST_TYPE_", "").toLowerCase().replaceAll("_", "-"); }
function when(ts) { return ts ? new Date(ts).toLocaleString() : ""; }
function seconds(duration) {
  // google.protobuf.Duration as JSON: "1.250s"
  if (!duration) return "";
  const s = parseFloat(String(duration));
  return s < 60 ? `${s.toFixed(2)} s` : `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s`;
}

function setLive(on) {
  const live = document.getElementById("live");
  live.textContent = on ? "live" : "reconnecting…";
  live.classList.toggle("on", on);
}

// Reads a newline-delimited JSON stream (a transcoded server-streaming method) and calls
// onMessage for each message; reconnects after an error until stopped. Returns the stopper.
function stream(url, onMessage, { onOpen, onEnd } = {}) {
  let stopped = false;
  let controller = null;
  let delay = 500;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      let ended = false;
      try {
        const response = await fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        setLive(true);
        if (onOpen) onOpen();
        delay = 500;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let newline;
          while ((newline = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            if (line) onMessage(JSON.parse(line));
          }
        }
        ended = true;
      } catch (error) {
        if (stopped) return;
      }
      if (ended && onEnd && onEnd()) return; // the stream ended as it should
      setLive(false);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || body.error || `HTTP ${response.status}`);
  return body;
}

// --- the list ---------------------------------------------------------------------------------

function currentFilters() {
  const params = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const name of ["state", "request_type", "user", "from_index_startswith"]) {
    const value = params.get(name);
    if (value) out.set(name, value);
  }
  return out;
}

function buildRow(build) {
  const index = build.results?.index_image || paramsOf(build)?.from_index || paramsOf(build)?.source_from_index || "";
  const state = stateName(build.state);
  const link = el("a", { href: `/dashboard/builds/${build.id}` }, build.id);
  link.addEventListener("click", (event) => { event.preventDefault(); navigate(`/dashboard/builds/${build.id}`); });
  return el("tr", { id: `build-${build.id}`, "data-id": build.id },
    el("td", {}, link),
    el("td", {}, typeName(build.request_type)),
    el("td", { class: `state ${state}` }, state),
    el("td", {}, build.user || ""),
    el("td", {}, index),
    el("td", {}, when(build.update_time)),
    el("td", { class: "reason" }, build.state_reason || ""));
}

function paramsOf(build) {
  for (const field of PARAMETER_FIELDS) if (build[field]) return build[field];
  return null;
}

function upsertRows(builds, { flash = false, append = false } = {}) {
  const body = document.querySelector("#builds tbody");
  for (const build of builds) {
    const row = buildRow(build);
    if (flash) row.classList.add("flash");
    const existing = document.getElementById(`build-${build.id}`);
    if (existing) { existing.replaceWith(row); continue; }
    if (append) { body.append(row); continue; }
    // keep newest first
    const after = [...body.children].find((r) => Number(r.dataset.id) < Number(build.id));
    body.insertBefore(row, after || null);
  }
}

async function showList() {
  document.getElementById("list-view").hidden = false;
  document.getElementById("build-view").hidden = true;
  const filters = currentFilters();
  const form = document.getElementById("filters");
  for (const name of ["state", "request_type", "user", "from_index_startswith"]) {
    form.elements[name].value = filters.get(name) || "";
  }
  document.querySelector("#builds tbody").replaceChildren();
  const error = document.getElementById("list-error");
  error.hidden = true;
  let nextToken = "";
  async function page(token) {
    const query = new URLSearchParams(filters);
    query.set("page_size", "50");
    if (token) query.set("page_token", token);
    const body = await getJSON(`/v1/builds?${query}`);
    upsertRows(body.builds || [], { append: true });
    nextToken = body.next_page_token || "";
    document.getElementById("more").hidden = !nextToken;
  }
  document.getElementById("more-button").onclick = () => page(nextToken);
  // the stream first (its first message is immediate), then the first page: nothing between
  // the two is missed
  stopStream = stream(`/v1/builds:watch?${filters}`, (message) => upsertRows(message.builds || [], { flash: true }));
  try {
    await page("");
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
}

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const [name, value] of new FormData(event.target)) if (value) query.set(name, value);
  navigate(`/dashboard/${query.toString() ? "?" + query : ""}`);
});

// --- a build ----------------------------------------------------------------------------------

function kvRows(table, entries) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const [key, value] of entries) {
    if (value === undefined || value === null || value === "" ||
        (Array.isArray(value) && !value.length) ||
        (typeof value === "object" && !Array.isArray(value) && !Object.keys(value).length)) continue;
    const shown = typeof value === "object" ? JSON.stringify(value, null, 1) : String(value);
    body.append(el("tr", {}, el("th", {}, key), el("td", {}, shown)));
  }
}

function renderBuild(build) {
  const state = stateName(build.state);
  document.getElementById("build-title").replaceChildren(
    `Build ${build.id} · ${typeName(build.request_type)} · `, el("span", { class: `state ${state}`, id: "build-state" }, state));
  const timeline = document.getElementById("timeline");
  timeline.replaceChildren(...(build.state_history || []).map((change) =>
    el("li", { class: stateName(change.state) },
      el("strong", {}, stateName(change.state)), " ", change.state_reason,
      el("span", { class: "when" }, when(change.time)),
      change.duration ? el("span", { class: "took" }, seconds(change.duration)) : "")));
  const steps = build.steps || [];
  kvRows(document.getElementById("steps"), steps.map((s) => [s.name, seconds(s.duration)]));
  document.getElementById("steps-none").hidden = steps.length > 0;
  const params = paramsOf(build) || {};
  kvRows(document.getElementById("parameters"), [["user", build.user], ["batch", build.batch], ...Object.entries(params)]);
  const results = { ...(build.results || {}) };
  const related = results.related_bundles || [];
  delete results.related_bundles;
  kvRows(document.getElementById("results"), Object.entries(results));
  document.getElementById("related").replaceChildren(...related.map((b) => el("li", {}, b)));
  document.getElementById("related-none").hidden = related.length > 0;
}

function renderDiff(diff) {
  const box = document.getElementById("diff");
  const sections = [];
  for (const [key, title, line] of DIFF_SECTIONS) {
    const items = diff[key] || [];
    if (!items.length) continue;
    sections.push(el("div", { class: "diff-section", "data-section": key },
      el("h3", {}, `${title} (${items.length})`),
      el("ul", {}, ...items.map((item) => el("li", {}, line(item))))));
  }
  box.replaceChildren(...(sections.length ? sections : [el("p", { class: "muted" }, "The build changed nothing in the catalog.")]));
}

async function loadFinal(id, build) {
  if (CATALOG_TYPES.has(build.request_type) && build.state === "REQUEST_STATE_COMPLETE") {
    try {
      renderDiff(await getJSON(`/v1/builds/${id}/catalogDiff`));
    } catch (e) {
      document.getElementById("diff").replaceChildren(el("p", { class: "muted" }, e.message));
    }
  }
  const logs = document.getElementById("logs");
  const response = await fetch(`/api/v1/builds/${id}/logs`);
  logs.textContent = response.ok ? await response.text() : ((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
}

async function showBuild(id) {
  document.getElementById("list-view").hidden = true;
  document.getElementById("build-view").hidden = false;
  const error = document.getElementById("build-error");
  error.hidden = true;
  document.getElementById("diff").replaceChildren(el("p", { class: "muted" }, "Available once an index build completes."));
  document.getElementById("logs").textContent = "Available once the build is final.";
  let done = false;
  stopStream = stream(`/v1/builds/${id}:watch`, (message) => {
    renderBuild(message.build);
    if (FINAL.has(message.build.state) && !done) {
      done = true;
      // the full build (steps) and the final artifacts
      getJSON(`/v1/builds/${id}`).then((build) => { renderBuild(build); return loadFinal(id, build); })
        .catch((e) => { error.textContent = e.message; error.hidden = false; });
    }
  }, { onEnd: () => done });
}

// --- routing ----------------------------------------------------------------------------------

function route() {
  if (stopStream) { stopStream(); stopStream = null; }
  const match = location.pathname.match(/^\/dashboard\/builds\/(\d+)\/?$/);
  if (match) showBuild(match[1]);
  else showList();
}

function navigate(url) {
  history.pushState(null, "", url);
  route();
}

window.addEventListener("popstate", route);
route();
