// salesgenie's space page: plain DOM + fetch over the Genie-compatible Conversation API.
// Untrusted text (questions, answers, table cells, SQL) only ever goes through textContent.
"use strict";

const API = "/api/2.0/genie/spaces";
const TOKEN_KEY = "salesgenie.token";
const POLL_DELAYS_MS = [0, 250, 500, 1000];
const POLL_LIMIT_MS = 5 * 60 * 1000;
const MAX_TABLE_ROWS = 200;
const NUMERIC = /^(INT|LONG|SHORT|BYTE|DOUBLE|FLOAT|DECIMAL)$/i;
const NUMBER_FORMAT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const RUNNING = { SUBMITTED: "Thinking…", EXECUTING_QUERY: "Running the query…" };

const state = { spaceId: null, conversationId: null, busy: false };
const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---- HTTP, with the bearer token asked for once and kept for the session -----------------

let tokenWaiter = null;

function askForToken(reason) {
  if (!tokenWaiter) {
    tokenWaiter = new Promise((resolve) => {
      const form = $("auth-form");
      const label = form.querySelector("label");
      label.textContent = reason;
      form.hidden = false;
      $("token-input").focus();
      form.addEventListener("submit", function onSubmit(event) {
        event.preventDefault();
        const token = $("token-input").value.trim();
        if (!token) return;
        sessionStorage.setItem(TOKEN_KEY, token);
        form.hidden = true;
        form.removeEventListener("submit", onSubmit);
        $("token-input").value = "";
        tokenWaiter = null;
        resolve();
      });
    });
  }
  return tokenWaiter;
}

async function request(path, options = {}) {
  for (;;) {
    const headers = new Headers(options.headers || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    if (options.json !== undefined) headers.set("Content-Type", "application/json");
    const response = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.json !== undefined ? JSON.stringify(options.json) : undefined,
    });
    if (response.status === 401) {
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      await askForToken(
        token ? "That token was refused: enter a valid access token"
              : "This space needs an access token",
      );
      continue;
    }
    if (!response.ok) {
      let code = `HTTP_${response.status}`;
      let message = response.statusText || "request failed";
      try {
        const body = await response.json();
        code = body.error_code || code;
        message = body.message || (typeof body.detail === "string" ? body.detail : message);
      } catch (_) { /* not JSON: keep the status line */ }
      throw new ApiError(response.status, code, message);
    }
    return response;
  }
}

const getJson = async (path) => (await request(path)).json();
const postJson = async (path, json) => (await request(path, { method: "POST", json })).json();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const describe = (error) => (error instanceof ApiError ? `${error.message} (${error.code})`
                                                       : String(error.message || error));

// ---- DOM helpers ----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function showPageError(message) {
  const box = $("page-error");
  box.textContent = message;
  box.hidden = !message;
}

// ---- the space ------------------------------------------------------------------------------

function tableName(table) {
  if (typeof table === "string") return [table, ""];
  const name = table.name || table.full_name || table.table_identifier || table.identifier;
  return [name || "", table.description || table.comment || ""];
}

function questionText(item) {
  return typeof item === "string" ? item : item.question || item.content || "";
}

async function loadSpace() {
  const wanted = new URLSearchParams(window.location.search).get("space");
  let spaceId = wanted;
  if (!spaceId) {
    const listing = await getJson(API);
    const spaces = listing.spaces || [];
    if (!spaces.length) throw new Error("this server has no Genie space");
    spaceId = spaces[0].space_id;
  }
  const space = await getJson(`${API}/${encodeURIComponent(spaceId)}`);
  state.spaceId = space.space_id || spaceId;
  $("space-title").textContent = space.title || state.spaceId;
  document.title = `${space.title || state.spaceId} · salesgenie`;
  $("space-description").textContent = space.description || "";

  const tables = space.tables || space.table_identifiers || space.connected_tables || [];
  $("tables").replaceChildren(...tables.map((table) => {
    const [name, description] = tableName(table);
    return el("li", { "data-testid": "table" },
      el("code", { text: name }),
      description ? el("span", { className: "muted", text: ` — ${description}` }) : null);
  }));
  const questions = (space.suggested_questions || space.sample_questions || [])
    .map(questionText).filter(Boolean);
  $("suggestions").replaceChildren(...questions.map((q) => el("li", {},
    el("button", { type: "button", className: "suggestion", "data-testid": "suggested-question",
                   text: q, onclick: () => ask(q) }))));
}

// ---- asking ---------------------------------------------------------------------------------

async function ask(question) {
  question = question.trim();
  if (!question || state.busy) return;
  if (!state.spaceId) {
    showPageError("The space has not loaded yet.");
    return;
  }
  state.busy = true;
  $("ask-button").disabled = true;
  $("question").value = "";
  const view = answerView(question);
  $("answers").append(view.root);
  view.root.scrollIntoView({ block: "nearest" });
  try {
    const base = `${API}/${encodeURIComponent(state.spaceId)}`;
    let created;
    if (state.conversationId) {
      created = await postJson(
        `${base}/conversations/${encodeURIComponent(state.conversationId)}/messages`,
        { content: question, enable_visualization: true });
    } else {
      created = await postJson(`${base}/start-conversation`,
                               { content: question, enable_visualization: true });
      state.conversationId = created.conversation_id || created.conversation?.id;
    }
    const messageId = created.message_id || created.id || created.message?.id;
    const messagePath = `${base}/conversations/${encodeURIComponent(state.conversationId)}` +
      `/messages/${encodeURIComponent(messageId)}`;
    view.root.dataset.spaceId = state.spaceId;
    view.root.dataset.conversationId = state.conversationId;
    view.root.dataset.messageId = messageId;
    const message = await poll(messagePath, view);
    await renderMessage(message, messagePath, view);
  } catch (error) {
    view.fail(describe(error));
  } finally {
    state.busy = false;
    $("ask-button").disabled = false;
    $("question").focus();
  }
}

async function poll(messagePath, view) {
  const started = Date.now();
  for (let i = 0; ; i++) {
    await sleep(POLL_DELAYS_MS[Math.min(i, POLL_DELAYS_MS.length - 1)]);
    const message = await getJson(messagePath);
    if (message.status === "COMPLETED" || message.status === "FAILED") return message;
    view.status(RUNNING[message.status] || `Working (${message.status})…`);
    if (Date.now() - started > POLL_LIMIT_MS) throw new Error("no answer after 5 minutes");
  }
}

// ---- one answer -----------------------------------------------------------------------------

function answerView(question) {
  const statusLine = el("p", { className: "status", role: "status", text: "Thinking…" });
  const body = el("div", { className: "answer-body" });
  const root = el("li", { className: "answer", "data-testid": "answer" },
    el("p", { className: "question", "data-testid": "answer-question", text: question }),
    statusLine, body);
  return {
    root,
    body,
    status(text) { statusLine.textContent = text; statusLine.hidden = !text; },
    fail(text) {
      statusLine.hidden = true;
      root.dataset.status = "FAILED";
      body.append(el("p", { className: "error", role: "alert", "data-testid": "answer-error",
                            text }));
    },
  };
}

async function renderMessage(message, messagePath, view) {
  if (message.status === "FAILED") {
    const error = message.error || {};
    view.fail(error.error || error.message || "The question could not be answered.");
    return;
  }
  view.status("");
  const attachments = message.attachments || [];
  const texts = attachments.filter((a) => a.text);
  const queries = attachments.filter((a) => a.query);
  const sentence = texts.find((a) => a.text.purpose !== "FOLLOW_UP_QUESTION");
  if (sentence || queries.length) {
    const content = sentence ? sentence.text.content : queries[0].query.description;
    view.body.append(el("p", { className: "sentence", "data-testid": "answer-text",
                               text: content || "" }));
  }
  for (const attachment of queries) {
    const id = attachment.attachment_id || attachment.query.id;
    const viz = attachments.find((a) => a.viz && a.viz.query_attachment_id === id);
    await renderQuery(attachment, viz, messagePath, view.body);
  }
  for (const attachment of texts.filter((a) => a.text.purpose === "FOLLOW_UP_QUESTION")) {
    view.body.append(el("p", { className: "clarify", "data-testid": "answer-clarification",
                               text: attachment.text.content }));
  }
  const suggested = attachments.flatMap((a) => a.suggested_questions?.questions || []);
  if (suggested.length) {
    view.body.append(el("div", { className: "follow-ups", role: "group",
                                 "aria-label": "Suggested follow-up questions" },
      ...suggested.map((q) => el("button", { type: "button", className: "suggestion",
                                             "data-testid": "follow-up-suggestion",
                                             text: q, onclick: () => ask(q) }))));
  }
  view.body.append(feedbackButtons(messagePath));
  view.root.dataset.status = "COMPLETED";  // set last: the whole answer is on the page
}

async function renderQuery(attachment, viz, messagePath, body) {
  const aid = encodeURIComponent(attachment.attachment_id || attachment.query.id);
  const { query } = attachment;
  body.append(el("details", { className: "sql", "data-testid": "answer-sql" },
    el("summary", { text: "Show the SQL" }),
    el("pre", {}, el("code", { text: query.query || "" }))));

  const tableBox = el("div", { className: "table-box", "data-testid": "answer-table-box" });
  body.append(tableBox);
  try {
    const result = await getJson(`${messagePath}/attachments/${aid}/query-result`);
    tableBox.append(resultTable(result.statement_response || result, query));
  } catch (error) {
    tableBox.append(el("p", { className: "error", role: "alert",
                              text: `The result table could not be loaded: ${describe(error)}` }));
  }

  if (viz) {
    const path = `${messagePath}/attachments/${encodeURIComponent(viz.attachment_id)}` +
      "/download-visualization";
    body.append(await chartFigure(path, viz.viz.title || "Chart of the answer"));
  }
}

function resultTable(statement, query) {
  const columns = statement.manifest?.schema?.columns || [];
  const rows = statement.result?.data_array || [];
  const total = query.query_result_metadata?.row_count ?? rows.length;
  const numeric = columns.map((c) => NUMERIC.test(c.type_name || ""));
  const shown = rows.length > MAX_TABLE_ROWS ? `, first ${MAX_TABLE_ROWS} shown` : "";
  const table = el("table", { "data-testid": "answer-table" },
    el("caption", { className: "muted", text: `${total} row${total === 1 ? "" : "s"}${shown}` }),
    el("thead", {}, el("tr", {}, ...columns.map((c, i) => el("th", {
      scope: "col", className: numeric[i] ? "num" : "", text: c.name })))));
  const tbody = el("tbody");
  for (const row of rows.slice(0, MAX_TABLE_ROWS)) {
    tbody.append(el("tr", {}, ...row.map((value, i) => cell(value, numeric[i]))));
  }
  table.append(tbody);
  return el("div", { className: "table-scroll" }, table);
}

function cell(value, numeric) {
  if (value === null) return el("td", { className: "null", text: "NULL" });
  const number = Number(value);
  if (!numeric || value === "" || !Number.isFinite(number)) return el("td", { text: value });
  // readable in the page; the exact value stays in the tooltip
  return el("td", { className: "num", title: value, text: NUMBER_FORMAT.format(number) });
}

async function chartFigure(path, caption) {
  const figure = el("figure", { className: "chart" });
  try {
    // fetched with the token, then shown from a blob: URL (an <img src> cannot send headers)
    const blob = await (await request(path)).blob();
    const img = el("img", { "data-testid": "answer-chart", alt: caption });
    const loaded = new Promise((resolve) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", resolve, { once: true });
    });
    img.src = URL.createObjectURL(blob);
    figure.append(img);
    await Promise.race([loaded, sleep(2000)]);
  } catch (error) {
    figure.append(el("p", { className: "error", role: "alert",
                            text: `The chart could not be loaded: ${describe(error)}` }));
  }
  return figure;
}

function feedbackButtons(messagePath) {
  const note = el("span", { className: "muted", role: "status",
                            "data-testid": "feedback-status" });
  const group = el("div", { className: "feedback", role: "group",
                            "aria-label": "Was this answer helpful?" });
  const buttons = [["POSITIVE", "Helpful", "feedback-up"],
                   ["NEGATIVE", "Not helpful", "feedback-down"]].map(
    ([rating, label, testid]) => el("button", {
      type: "button", "aria-pressed": "false", "data-testid": testid, "data-rating": rating,
      text: label,
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          await postJson(`${messagePath}/feedback`, { rating });
          for (const b of buttons) b.setAttribute("aria-pressed", String(b === button));
          note.className = "muted";
          note.textContent = "Thanks for the feedback.";
        } catch (error) {
          note.className = "error";
          note.textContent = `Feedback not saved: ${describe(error)}`;
        }
      },
    }));
  group.append(...buttons, note);
  return group;
}

// ---- wiring ---------------------------------------------------------------------------------

function start() {
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    ask($("question").value);
  });
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      ask($("question").value);
    }
  });
  $("new-conversation").addEventListener("click", () => {
    state.conversationId = null;
    $("answers").replaceChildren();
    $("question").focus();
  });
  loadSpace().then(() => { document.body.dataset.ready = "true"; })
    .catch((error) => showPageError(`The space could not be loaded: ${describe(error)}`));
}

start();
