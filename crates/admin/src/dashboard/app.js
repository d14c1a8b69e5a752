// pulsegate dashboard: plain script, no dependencies. Everything the API returns is
// rendered as text (textContent / Text nodes), never parsed as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "pulsegate.adminToken";
  const $ = (selector, root) => (root || document).querySelector(selector);

  // --- the token (this tab only) -------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
  const forget = () => sessionStorage.removeItem(TOKEN_KEY);

  // --- small DOM helpers -----------------------------------------------------------

  /** An element; `attrs` are set as attributes (`text` as its text), children as text. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "className") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  const cell = (value, className) =>
    el("td", { className, text: value === null || value === undefined || value === "" ? "—" : value });

  function fill(tbody, rows, columns, emptyText) {
    tbody.replaceChildren(...rows);
    if (rows.length === 0) {
      tbody.append(el("tr", {}, el("td", { className: "empty", colspan: columns, text: emptyText })));
    }
  }

  const time = (ms) => (ms ? new Date(ms).toLocaleString() : "—");

  function say(text) {
    $("#message").textContent = text;
  }

  function sectionError(id, err) {
    $(`#${id} [data-error]`).textContent = err ? String(err.message || err) : "";
  }

  // --- the API ----------------------------------------------------------------------

  class Unauthorized extends Error {}

  async function api(method, path, body) {
    const headers = { authorization: `Bearer ${token()}` };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    let data = null;
    try {
      data = await resp.json();
    } catch (_) {
      data = null;
    }
    if (resp.status === 401) {
      throw new Unauthorized("The admin token was refused.");
    }
    if (!resp.ok) {
      throw new Error((data && data.error) || `HTTP ${resp.status}`);
    }
    return data;
  }

  // --- sections ---------------------------------------------------------------------

  async function loadIntegrations() {
    const { integrations } = await api("GET", "/v1/admin/integrations");
    const rows = integrations.map((i) => {
      const toggle = el("input", {
        type: "checkbox",
        "data-provider": i.provider,
        "aria-label": `${i.provider} enabled`,
      });
      toggle.checked = !!i.enabled;
      toggle.addEventListener("change", () => setIntegration(i.provider, toggle));
      return el(
        "tr",
        { "data-provider": i.provider },
        cell(i.name),
        cell(i.terra_name),
        el("td", {}, toggle),
        cell(i.data_types.length ? i.data_types.join(", ") : "all"),
        cell(ARRIVES[i.push] || i.push),
        ...receiving(i),
      );
    });
    fill($("#integrations tbody"), rows, 8, "No providers.");
  }

  const ARRIVES = { signed: "signed push", path_token: "push (path token)", poll: "polled", sdk: "SDK upload" };

  /** Configured / last notification / refused: honest about what this process saw. */
  function receiving(i) {
    const r = i.receiving;
    if (i.push === "poll" || i.push === "sdk") {
      return [cell("—"), cell("—"), cell("—")];
    }
    if (!r) {
      return [cell("unknown"), cell("not ingested here"), cell("—")];
    }
    const configured = el("td", {
      className: r.mounted ? "outcome-ok" : "outcome-gone",
      "data-configured": r.mounted ? "yes" : "no",
      text: r.mounted ? "yes" : "no: route answers 404",
    });
    const failures = el("td", {
      className: r.verification_failures ? "outcome-retry" : undefined,
      "data-refused": String(r.verification_failures),
      text: r.verification_failures
        ? `${r.verification_failures} (last ${time(r.last_failure_ms)})`
        : "0",
    });
    return [configured, el("td", { "data-last": "", text: r.last_notification_ms ? time(r.last_notification_ms) : "never" }), failures];
  }

  async function setIntegration(provider, toggle) {
    const enabled = toggle.checked;
    toggle.disabled = true;
    try {
      const updated = await api("PUT", `/v1/admin/integrations/${encodeURIComponent(provider)}`, { enabled });
      toggle.checked = !!updated.enabled;
      say(`${provider} ${updated.enabled ? "enabled" : "disabled"}.`);
    } catch (e) {
      toggle.checked = !enabled;
      handle(e, "integrations");
    } finally {
      toggle.disabled = false;
    }
  }

  // Terra's event types a destination can subscribe to (the admin OpenAPI's list).
  const EVENT_TYPES = [
    "activity", "sleep", "body", "daily", "athlete", "nutrition", "menstruation",
    "auth", "deauth", "user_reauth", "access_revoked", "permission_change",
    "connection_error", "processing", "rate_limit_hit", "large_request_processing",
    "large_request_sending", "healthcheck", "google_no_datasource", "activity_deleted",
    "destination_disabled",
  ];
  // Providers by Terra name, from the registry through /v1/admin/integrations.
  let providerNames = [];

  async function loadDestinations() {
    const [{ destinations }, { integrations }] = await Promise.all([
      api("GET", "/v1/admin/destinations"),
      api("GET", "/v1/admin/integrations"),
    ]);
    providerNames = integrations.map((i) => i.terra_name);
    const rows = [];
    for (const d of destinations) {
      const edit = el("button", { type: "button", "data-edit-destination": d.id, text: "Edit" });
      const row = el(
        "tr",
        { "data-destination": d.id },
        cell(d.id, "mono"),
        el("td", { className: "mono" }, d.url, claimCheckNote(d)),
        cell(d.enabled ? (d.failing_since_ms ? `yes, failing since ${time(d.failing_since_ms)}` : "yes")
          : (d.disabled_reason ? `no: ${d.disabled_reason}` : "no")),
        // The API masks the secret (first characters and length); shown as given.
        el("td", { className: "mono", "data-secret": "", text: d.secret }),
        cell(d.event_types.length ? d.event_types.join(", ") : "all"),
        cell((d.providers.length ? d.providers.join(", ") : "all") + (d.ordered ? " · ordered per user" : "")),
        el("td", {}, edit),
      );
      const editor = destinationEditor(d);
      edit.addEventListener("click", () => {
        editor.hidden = !editor.hidden;
      });
      rows.push(row, editor);
    }
    fill($("#destinations tbody"), rows, 7, "No destinations.");
  }

  /** Large bodies through a claim-check store (Terra's s3_payload): what, not the key. */
  function claimCheckNote(d) {
    const c = d.claim_check;
    if (!c) return null;
    const what = c.threshold_bytes === 0 ? "every body" : `bodies over ${c.threshold_bytes} bytes`;
    return el("div", {
      "data-claim-check": "",
      text: `s3_payload: ${what} via ${c.url} (links valid ${c.expires_in_secs} s)`,
    });
  }

  /** A hidden row to pick a destination's event types and providers (none = all). */
  function destinationEditor(d) {
    const boxes = (legend, names, chosen, attr) =>
      el(
        "fieldset",
        { [`data-${attr}`]: "" },
        el("legend", { text: `${legend} (none ticked = all)` }),
        ...names.map((n) => {
          const box = el("input", { type: "checkbox", value: n, [`data-${attr}-box`]: n });
          box.checked = chosen.includes(n);
          return el("label", { className: "pick" }, box, ` ${n}`);
        }),
      );
    const types = boxes("Event types", EVENT_TYPES, d.event_types, "types");
    const providers = boxes("Providers", providerNames, d.providers, "providers");
    const orderedBox = el("input", { type: "checkbox", "data-ordered-box": "" });
    orderedBox.checked = !!d.ordered;
    const ordered = el("label", { className: "pick" }, orderedBox,
      " Deliver each user's events in order (one in flight per user)");
    const save = el("button", { type: "button", "data-save-destination": d.id, text: "Save" });
    const ticked = (set) => [...set.querySelectorAll("input:checked")].map((i) => i.value);
    save.addEventListener("click", async () => {
      save.disabled = true;
      try {
        const body = {
          url: d.url,
          enabled: d.enabled,
          event_types: ticked(types),
          providers: ticked(providers),
          ordered: orderedBox.checked,
        };
        if (d.dev_id) body.dev_id = d.dev_id;
        await api("PUT", `/v1/admin/destinations/${encodeURIComponent(d.id)}`, body);
        say(`Destination ${d.id} saved; workers use it from the next event.`);
        await refresh();
      } catch (e) {
        handle(e, "destinations");
      } finally {
        save.disabled = false;
      }
    });
    const row = el(
      "tr",
      { "data-destination-editor": d.id },
      el("td", { colspan: 7 }, types, providers, ordered,
        // Kept by a save (the PUT leaves it out); set it through the API.
        d.claim_check ? el("p", { text: "Claim check (s3_payload) is kept; change it through the admin API." }) : null,
        el("br"), save),
    );
    row.hidden = true;
    return row;
  }

  async function loadConnections() {
    const { connections } = await api("GET", "/v1/admin/connections");
    const rows = connections.map((c) =>
      el(
        "tr",
        { "data-user": c.user_id },
        cell(c.user_id, "mono"),
        cell(c.provider),
        cell(c.provider_user_id, "mono"),
        cell(c.reference_id, "mono"),
        cell(c.access_token, "mono"),
        cell(c.refresh_token, "mono"),
        cell(c.status),
      ),
    );
    fill($("#connections tbody"), rows, 7, "No connections.");
  }

  async function loadDeliveries() {
    const data = await api("GET", "/v1/admin/deliveries?limit=100");
    $("#deliveries [data-scope]").textContent = data.recording
      ? `The last ${data.capacity} delivery attempts of this process, newest first.`
      : "This process does not dispatch, so it records no deliveries. In a scaled-out " +
        "deployment ask a dispatch process's own port (GET /v1/admin/deliveries) or read the metrics.";
    const rows = data.deliveries.map(deliveryRow);
    fill($("#deliveries tbody"), rows, 9, "No delivery attempts recorded.");
  }

  function deliveryRow(d) {
    return el(
      "tr",
      { "data-outcome": d.outcome, "data-webhook-id": d.webhook_id || "" },
      cell(time(d.at_ms)),
      cell(d.destination_id, "mono"),
      cell(d.event_id, "mono"),
      cell(d.type),
      cell(d.attempt),
      cell(d.status !== null && d.status !== undefined ? d.status : d.error_kind),
      cell(`${d.latency_ms} ms`),
      cell(d.outcome.replace("_", " "), `outcome-${d.outcome}`),
      el("td", {}, resendButton(d)),
    );
  }

  /** The delivery history (every dispatch process, kept 14 days), searched on demand. */
  async function searchHistory() {
    const params = new URLSearchParams();
    for (const input of document.querySelectorAll("#history [data-filter]")) {
      const v = input.value.trim();
      if (v) params.set(input.getAttribute("data-filter"), v);
    }
    params.set("limit", "200");
    try {
      const data = await api("GET", `/v1/admin/deliveries/history?${params}`);
      fill($("#history tbody"), data.deliveries.map(deliveryRow), 9, "No attempt matches.");
      $("#history [data-scope]").textContent =
        `${data.deliveries.length} attempts found, newest first (${data.scanned} scanned).`;
      sectionError("history", null);
    } catch (e) {
      handle(e, "history");
    }
  }

  /** One click: the event delivered again to that destination, same webhook-id. */
  function resendButton(d) {
    const b = el("button", { type: "button", "data-resend-event": d.event_id, text: "Resend" });
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        const r = await api("POST", "/v1/admin/deliveries/resend", {
          destination_id: d.destination_id,
          event_ids: [d.event_id],
        });
        say(`Event ${d.event_id}: ${r.resent} resent to ${d.destination_id}.`);
      } catch (e) {
        handle(e, "deliveries");
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  async function loadDeadLetters() {
    const { dead_letters } = await api("GET", "/v1/admin/dead-letters?limit=200");
    const newestFirst = dead_letters.slice().reverse();
    const counts = new Map();
    for (const l of newestFirst) counts.set(l.destination_id, (counts.get(l.destination_id) || 0) + 1);

    const summary = [...counts.entries()].map(([destination, n]) => {
      const button = el("button", {
        type: "button",
        "data-replay-destination": destination,
        text: "Replay all",
      });
      button.addEventListener("click", () =>
        replay(button, { destination_id: destination }, `dead letters of ${destination}`),
      );
      return el("tr", {}, cell(destination, "mono"), cell(n), el("td", {}, button));
    });
    fill($("#dead-letters [data-summary]"), summary, 3, "No dead letters.");

    const rows = newestFirst.map((l) => {
      let action = null;
      if (l.event_id) {
        action = el("button", {
          type: "button",
          "data-replay-event": l.event_id,
          "data-destination": l.destination_id,
          text: "Replay",
        });
        action.addEventListener("click", () =>
          replay(action, { destination_id: l.destination_id, event_ids: [l.event_id] }, `event ${l.event_id}`),
        );
      }
      return el(
        "tr",
        { "data-event": l.event_id || "" },
        cell(time(l.failed_at_ms)),
        cell(l.destination_id, "mono"),
        cell(l.event_id, "mono"),
        cell(l.type),
        cell(l.attempts),
        cell(l.last_error),
        el("td", {}, action),
      );
    });
    fill($("#dead-letters [data-letters]"), rows, 7, "No dead letters.");
  }

  async function replay(button, body, what) {
    button.disabled = true;
    try {
      const r = await api("POST", "/v1/admin/dead-letters/replay", body);
      say(`Replay of ${what}: ${r.replayed} replayed, ${r.already_replayed} already replayed before.`);
      await refresh();
    } catch (e) {
      handle(e, "dead-letters");
    } finally {
      button.disabled = false;
    }
  }

  const SECTIONS = {
    health: () => window.PulsegateHealth.load(api, { el, time }),
    integrations: loadIntegrations,
    destinations: loadDestinations,
    connections: loadConnections,
    deliveries: loadDeliveries,
    "dead-letters": loadDeadLetters,
  };

  function handle(err, section) {
    if (err instanceof Unauthorized) {
      forget();
      showLogin(err.message);
      return;
    }
    sectionError(section, err);
  }

  let loads = 0;

  async function refresh() {
    await Promise.all(
      Object.entries(SECTIONS).map(async ([id, load]) => {
        try {
          await load();
          sectionError(id, null);
        } catch (e) {
          handle(e, id);
        }
      }),
    );
    if (token()) {
      loads += 1;
      document.body.setAttribute("data-loaded", String(loads));
    }
  }

  // The health panel follows the metrics by itself (every sample, 5 s); the tables
  // wait for "Refresh".
  setInterval(async () => {
    if (!token() || $("#panels").hidden || document.hidden) return;
    try {
      await SECTIONS.health();
      sectionError("health", null);
    } catch (e) {
      handle(e, "health");
    }
  }, 5000);

  // --- sign in / out ----------------------------------------------------------------

  function showLogin(error) {
    $("#panels").hidden = true;
    $("#actions").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = error || "";
    document.body.removeAttribute("data-loaded");
  }

  async function showPanels() {
    $("#login").hidden = true;
    $("#login-error").textContent = "";
    $("#panels").hidden = false;
    $("#actions").hidden = false;
    await refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#history-search").addEventListener("click", searchHistory);
    $("#login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = $("#token");
      const value = input.value.trim();
      input.value = "";
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      showPanels();
    });
    $("#refresh").addEventListener("click", () => {
      say("");
      refresh();
    });
    $("#logout").addEventListener("click", () => {
      forget();
      say("");
      showLogin();
    });
    if (token()) showPanels();
    else showLogin();
  });
})();
