// The viewer page: a newest-first table of the tenant's events, searched and filtered by
// the URL, scrolled a page at a time, each event's details a click away.

import {
  ApiError,
  credential,
  forget,
  getBlob,
  getJson,
  getText,
  postJson,
  remember,
  serviceInfo,
  takeTokenFromFragment,
} from "./api.js";
import { drawActivity } from "./chart.js";
import { eventRow, showDetails } from "./rows.js";
import { showTrailStart } from "./trail.js";
import { verifyProof } from "./verify.js";
import { currentView, listParams, showView } from "./view.js";

const PAGE = 50;
const $ = (selector) => document.querySelector(selector);
const table = $("#events");
const rows = table.querySelector("tbody");
const statusLine = $("#status-line");
const message = $("#message");

let state;

function say(text) {
  statusLine.textContent = text;
}

function fail(error) {
  const detail = error instanceof ApiError ? error.message : "The server could not be reached.";
  if (error instanceof ApiError && error.status === 401) {
    forget();
    message.textContent = `This link has expired or is not valid: ${detail}`;
    $("#login").hidden = false;
  } else {
    message.textContent = detail;
  }
  message.hidden = false;
  say("");
}

async function loadMore() {
  if (state.loading || state.done) return;
  state.loading = true;
  const started = state;
  say("Loading…");
  try {
    const params = [...listParams(state.view), ["limit", String(PAGE)]];
    if (state.cursor) params.push(["cursor", state.cursor]);
    const page = await getJson("/api/v1/audits", params);
    if (started !== state) return; // a new search began meanwhile
    for (const event of page.items) {
      if (state.seen.has(event.id)) continue;
      state.seen.add(event.id);
      rows.append(eventRow(event, openDetails));
    }
    state.cursor = page.next_cursor;
    state.done = !state.cursor;
    table.hidden = false;
    say(state.done ? `${state.seen.size} events.` : "");
  } catch (error) {
    if (started !== state) return; // an old search's failure: the new one goes on
    fail(error);
    state.done = true;
  } finally {
    started.loading = false;
  }
  if (!state.done && nearBottom()) loadMore();
}

function nearBottom() {
  return $("#more").getBoundingClientRect().top < window.innerHeight + 200;
}

let shown = null; // the event in the detail panel

let opening = null; // the event whose details were asked for last

async function openDetails(id) {
  opening = id;
  try {
    const raw = await getText(`/api/v1/audits/${encodeURIComponent(id)}`);
    if (opening !== id) return; // another event was clicked meanwhile
    shown = JSON.parse(raw);
    $("#verify-result").textContent = "";
    $("#verify-key").textContent = "";
    showDetails($("#details"), raw);
  } catch (error) {
    fail(error);
  }
}

async function verifyShown() {
  const event = shown;
  const result = $("#verify-result");
  result.textContent = "Verifying…";
  try {
    const [proof, key] = await Promise.all([
      getJson(`/api/v1/audits/${encodeURIComponent(event.id)}/proof`),
      getJson(`/api/v1/logs/${encodeURIComponent(event.tenant)}/key`),
    ]);
    $("#verify-key").textContent = key.verifier_key;
    const reason = await verifyProof(proof, key.verifier_key, event);
    if (shown === event) result.textContent = reason === null ? "Verified" : `Not verified: ${reason}`;
  } catch (error) {
    const detail = error instanceof ApiError ? error.message : "the proof could not be fetched";
    if (shown === event) result.textContent = `Not verified: ${detail}`;
  }
}

async function drawChart(view) {
  try {
    const stats = await getJson("/api/v1/audits/stats", [
      ...listParams(view),
      ["group_by", "status"],
      ["interval", "day"],
    ]);
    if (state.view === view) drawActivity($("#activity"), stats.buckets, "day");
  } catch {
    if (state.view === view) $("#activity").hidden = true; // the table says what went wrong
  }
}

let trailFor = null; // the credential whose trail start is shown (or being found)

/** Say where the tenant's trail starts when retention pruned its oldest events. */
async function showStart() {
  const asked = credential();
  if (trailFor === asked) return; // it does not change with the view
  trailFor = asked;
  try {
    // The oldest event this page may list, erased ones too: its tenant names the log.
    const page = await getJson("/api/v1/audits", [
      ["order", "asc"],
      ["limit", "1"],
      ["include_erased", "true"],
    ]);
    const oldest = page.items[0]; // none: nothing to say where it starts
    const key = oldest && (await getJson(`/api/v1/logs/${encodeURIComponent(oldest.tenant)}/key`));
    if (credential() === asked) showTrailStart($("#trail-start"), key?.min_index ?? 0, oldest);
  } catch {
    if (trailFor === asked) trailFor = null; // the table says what went wrong; ask again later
  }
}

async function exportView() {
  const format = $("#export-format").value;
  say("Exporting…");
  try {
    const response = await getBlob("/api/v1/audits/export", [
      ...listParams(state.view),
      ["format", format],
    ]);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(response);
    link.download = `audit-events.${format}`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    say("Exported.");
  } catch (error) {
    fail(error);
  }
}

let answered = null; // the search the last answer ran

async function ask(submitted) {
  submitted.preventDefault();
  const question = $("#question").value.trim();
  if (!question) return;
  say("Asking…");
  try {
    const answer = await postJson("/api/v1/audits/ask", { question, limit: 20 });
    answered = answer.q;
    $("#answer-text").textContent = answer.answer;
    $("#answer-q").textContent = answer.q || "(every event)";
    $("#answer").hidden = false;
    say("");
  } catch (error) {
    fail(error);
  }
}

function showAnswered() {
  showView({ q: answered ?? "", status: "" });
  start();
}

function start() {
  const view = currentView();
  $("#q").value = view.q;
  $("#status").value = view.status;
  message.hidden = true;
  rows.replaceChildren();
  state = { view, cursor: null, done: false, loading: false, seen: new Set() };
  loadMore();
  drawChart(view);
  showStart();
}

takeTokenFromFragment();
$("#search").addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  showView({ q: $("#q").value.trim(), status: $("#status").value });
  start();
});
$("#login").addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  remember($("#api-key").value.trim());
  $("#login").hidden = true;
  start();
});
$("#verify").addEventListener("click", verifyShown);
$("#export").addEventListener("click", exportView);
$("#ask").addEventListener("submit", ask);
$("#answer-apply").addEventListener("click", showAnswered);
window.addEventListener("popstate", start);
new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting) && state) loadMore();
}).observe($("#more"));

serviceInfo().then((info) => {
  $("#ask").hidden = info.ai !== true; // shown only when the server has a model to ask
});
if (credential()) {
  start();
} else {
  $("#login").hidden = false;
  say("");
}
