// The operator console: polls /api/status every second and redraws. With a
// bearer token, open the page as /#token=TOKEN (the fragment never leaves the
// browser) or answer the prompt; it is kept for this tab only.
"use strict";
(function () {
  const EVERY_MS = 1000;
  let token = sessionStorage.getItem("admin-token") || "";
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem("admin-token", token);
    history.replaceState(null, "", location.pathname);
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    const tr = el("tr");
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
    return tr;
  }
  function num(v) { return el("td", v, "num"); }
  function ago(ms) {
    if (ms === null || ms === undefined) return "–";
    return ms < 1000 ? ms + " ms ago" : (ms / 1000).toFixed(1) + " s ago";
  }
  function note(text, span) {
    const td = el("td", text);
    td.colSpan = span;
    return row([td]);
  }
  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function drawLinks(links) {
    fill(document.querySelector("#links tbody"), links.map(function (l) {
      const state = el("span", l.state, "state state-" + l.state);
      const tr = row([
        el("td", l.name), el("td", l.bank), el("td", l.role + " (" + l.direction + ")"),
        (function () { const td = el("td"); td.appendChild(state); return td; })(),
        num(l.connections), num(l.in_flight), num(l.tps_1m.toFixed(2)),
        num(l.latency_ms ? l.latency_ms.p50 + " / " + l.latency_ms.p99 : "–"),
        el("td", ago(l.last_echo_ms_ago)), el("td", l.tls_identities.join(", ") || "–"),
      ]);
      tr.id = "link-" + l.name;
      tr.dataset.link = l.name;
      tr.dataset.state = l.state;
      return tr;
    }));
  }

  function drawCodes(id, byBank) {
    const rows = [];
    for (const bank of Object.keys(byBank)) {
      const td = el("td");
      for (const c of byBank[bank]) {
        td.appendChild(el("span", c.rc + " × " + c.count, "d-" + c.decided_by));
      }
      const tr = row([el("td", bank), td]);
      tr.dataset.bank = bank;
      rows.push(tr);
    }
    if (rows.length === 0) rows.push(note("no answers yet", 2));
    fill(document.querySelector("#" + id + " tbody"), rows);
  }

  function drawSaf(saf) {
    const rows = saf.map(function (s) {
      const tr = row([el("td", s.issuer), num(s.depth), el("td", s.oldest_ms === null ? "–" : (s.oldest_ms / 1000).toFixed(1) + " s"), num(s.expired)]);
      tr.dataset.issuer = s.issuer;
      return tr;
    });
    if (rows.length === 0) rows.push(note("empty", 4));
    fill(document.querySelector("#saf tbody"), rows);
  }

  function drawJournal(s) {
    const dl = document.getElementById("journal");
    const items = [];
    function item(k, v, id) {
      const dt = el("dt", k), dd = el("dd", v);
      if (id) dd.id = id;
      items.push(dt, dd);
    }
    if (s.journal) {
      item("journal", s.journal.backend + ", " + s.journal.durability, "journal-mode");
      item("backlog", s.journal.backlog, "journal-backlog");
      item("commit p99", s.journal.commit_p99_ms === null ? "–" : s.journal.commit_p99_ms.toFixed(2) + " ms (last " + s.journal.commits_measured + " commits)");
    } else {
      item("journal", "none (records in the log only)", "journal-mode");
    }
    item("business day", s.business_day || "–", "business-day");
    const st = s.last_settlement;
    item("last settlement", st ? st.day + ": " + (st.currencies.map(function (c) {
      return c.count + " txns, " + c.amount + " (" + c.currency + "), " + c.stand_in_count + " in stand-in";
    }).join("; ") || "nothing settled") : "–");
    dl.replaceChildren(...items);
  }

  const fresh = document.getElementById("freshness");
  async function poll() {
    try {
      const headers = token ? { Authorization: "Bearer " + token } : {};
      const r = await fetch("/api/status", { headers: headers, cache: "no-store" });
      if (r.status === 401) {
        const t = prompt("Admin token");
        if (t) { token = t; sessionStorage.setItem("admin-token", t); }
        throw new Error("token required");
      }
      if (!r.ok) throw new Error("HTTP " + r.status);
      const s = await r.json();
      document.getElementById("node").textContent = "· node " + s.node.name + (s.node.cluster ? " (slot " + s.node.slot + ")" : "");
      drawLinks(s.links);
      drawCodes("codes-acquirer", s.response_codes.by_acquirer);
      drawCodes("codes-issuer", s.response_codes.by_issuer);
      drawSaf(s.saf);
      drawJournal(s);
      fresh.textContent = "updated " + new Date(s.generated_at_unix_ms).toLocaleTimeString();
      fresh.dataset.state = "fresh";
    } catch (e) {
      fresh.textContent = "not updated: " + e.message;
      fresh.dataset.state = "stale";
    } finally {
      setTimeout(poll, EVERY_MS);
    }
  }
  poll();
})();
