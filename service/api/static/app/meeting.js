// The meeting page: GET /v1/meetings/{id} (agenda, open action items, both notes) and,
// once it has started, GET …/feedback (the caller's own rating): two calls at most.
import { ApiError, all, api, fmtDateTime, html, me, now, pairOther, person } from "./api.js";

const set = (el, content) => (el.innerHTML = String(content));
const $ = (sel, root = document) => root.querySelector(sel);

function mergeNotes(theirs, yours) {
  // Theirs first, then your lines they do not have, for you to tidy before saving.
  const have = new Set(theirs.split("\n"));
  const extra = yours.split("\n").filter((l) => l.trim() && !have.has(l));
  if (!extra.length) return theirs;
  return `${theirs}${theirs && !theirs.endsWith("\n") ? "\n" : ""}${extra.join("\n")}`;
}

export async function meetingScreen(main, id) {
  const m = await api(`/meetings/${id}`);
  const t = now();
  const started = new Date(m.start) <= t;
  const ratable = started && m.status !== "cancelled" && m.status !== "declined";
  let feedback = null;
  if (ratable) {
    try {
      feedback = await api(`/meetings/${id}/feedback`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
    }
  }
  const mine = me().id;
  const other = pairOther(m.pair_id);
  const who = (pid) => (pid === mine ? "you" : (other && other.id === pid && other.name) || (person(pid) || {}).name || `#${pid}`);
  let etag = `"${m.shared_note ? m.shared_note.version : 0}"`;
  let agenda = m.agenda;
  let actions = m.open_action_items;

  set(
    main,
    html`<h1>${m.title}${other ? html` <span class="muted">with ${other.name}</span>` : ""}</h1>
    <p class="muted">${fmtDateTime(m.start)} – ${fmtDateTime(m.end)} <span class="badge ${m.status}">${m.status}</span>
      · <a href="#/week">back to the week</a></p>
    <div class="grid2">
    <section class="card" aria-labelledby="agenda-h"><h2 id="agenda-h">Agenda</h2>
      <ol class="plain" id="agenda"></ol>
      <form id="tp-form">
        <div class="inline"><label for="tp-body">New talking point</label>
          <input id="tp-body" required maxlength="2000" size="28"></div>
        <div class="inline"><input type="checkbox" id="tp-private"><label for="tp-private">Private (only you see it)</label>
          <button type="submit">Add talking point</button></div>
        <p id="tp-error" class="error" role="alert"></p>
      </form>
      <div id="tpl"><button type="button" class="secondary" id="tpl-open">Apply a template…</button></div>
    </section>
    <section class="card" aria-labelledby="actions-h"><h2 id="actions-h">Open action items</h2>
      <ul class="plain" id="actions"></ul>
      <form id="ai-form">
        <div class="inline"><label for="ai-body">New action item</label><input id="ai-body" required maxlength="2000"></div>
        <div class="inline"><label for="ai-owner">Owner</label>
          <select id="ai-owner"><option value="${mine}">Me</option>${other ? html`<option value="${other.id}">${other.name}</option>` : ""}</select>
          <label for="ai-due">Due</label><input id="ai-due" type="date">
          <button type="submit">Add action item</button></div>
        <p id="ai-error" class="error" role="alert"></p>
      </form>
    </section>
    </div>
    <section class="card" aria-labelledby="shared-h"><h2 id="shared-h">Shared note</h2>
      <label for="shared-note">Shared note (both of you can read and edit it)</label>
      <textarea id="shared-note"></textarea>
      <div class="inline"><button type="button" id="shared-save">Save shared note</button>
        <span id="shared-status" role="status" class="muted"></span></div>
      <div id="conflict" class="conflict" role="alert" hidden></div>
    </section>
    <section class="card" aria-labelledby="private-h"><h2 id="private-h">Private note</h2>
      <label for="private-note">Private note (only you, ever)</label>
      <textarea id="private-note"></textarea>
      <div class="inline"><button type="button" id="private-save">Save private note</button>
        <span id="private-status" role="status" class="muted"></span></div>
    </section>
    <section class="card" aria-labelledby="rating-h"><h2 id="rating-h">Rating</h2>
      ${ratable
        ? html`<form id="rating-form"><fieldset><legend>How useful was this 1:1? (only you see your rating)</legend>
          <div class="inline">${[1, 2, 3, 4, 5].map((n) => html`<input type="radio" name="rating" id="rating-${n}" value="${n}" ${feedback && feedback.rating === n ? "checked" : ""} required><label for="rating-${n}">${n}</label>`)}</div>
          <label for="rating-comment">Comment</label><textarea id="rating-comment" maxlength="2000">${feedback ? feedback.comment : ""}</textarea>
          <div class="inline"><button type="submit">Save rating</button><span id="rating-status" role="status" class="muted">${feedback ? `Rated ${feedback.rating}/5` : "Not rated yet"}</span></div>
          </fieldset></form>`
        : html`<p class="muted">${started ? `No rating: this 1:1 was ${m.status}.` : "Rating opens once the meeting has started."}</p>`}
    </section>`,
  );
  $("#shared-note").value = m.shared_note ? m.shared_note.body : "";
  $("#private-note").value = m.private_note ? m.private_note.body : "";

  const drawAgenda = () =>
    set(
      $("#agenda"),
      agenda.length
        ? html`${agenda.map((a) => html`<li data-item="${a.id}">
            <input type="checkbox" id="ag-${a.id}" data-done="${a.id}" ${a.done ? "checked" : ""}>
            <label for="ag-${a.id}">${a.body}</label>
            ${a.private ? html`<span class="badge private">private</span>` : ""}
            ${a.minutes ? html`<span class="badge">${a.minutes} min</span>` : ""}
            <span class="muted">· ${who(a.author_id)}</span></li>`)}`
        : html`<li class="muted">Nothing on the agenda yet.</li>`,
    );
  const drawActions = () =>
    set(
      $("#actions"),
      actions.length
        ? html`${actions.map((a) => html`<li><input type="checkbox" id="ai-${a.id}" data-ai="${a.id}">
            <label for="ai-${a.id}">${a.body}</label> <span class="muted">· ${who(a.owner_id)}${a.due_date ? ` · due ${a.due_date}` : ""}</span></li>`)}`
        : html`<li class="muted">No open action items.</li>`,
    );
  drawAgenda();
  drawActions();

  $("#agenda").addEventListener("change", async (ev) => {
    const idAttr = ev.target.dataset.done;
    if (!idAttr) return;
    try {
      const item = await api(`/agenda-items/${idAttr}`, { method: "PATCH", body: { done: ev.target.checked } });
      agenda = agenda.map((a) => (a.id === item.id ? item : a));
    } catch (e) {
      ev.target.checked = !ev.target.checked;
      $("#tp-error").textContent = e.message;
    }
  });
  $("#tp-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#tp-error").textContent = "";
    try {
      const item = await api(`/meetings/${id}/agenda`, {
        method: "POST",
        body: { body: $("#tp-body").value, private: $("#tp-private").checked },
      });
      agenda = [...agenda, item];
      drawAgenda();
      $("#tp-body").value = "";
      $("#tp-body").focus();
    } catch (e) {
      $("#tp-error").textContent = e.message;
    }
  });
  $("#tpl-open").addEventListener("click", async () => {
    const templates = await all("/templates", { limit: 200 }, 2);
    set(
      $("#tpl"),
      html`<form id="tpl-form" class="inline"><label for="tpl-select">Template</label>
        <select id="tpl-select">${templates.map((tp) => html`<option value="${tp.id}">${tp.name}</option>`)}</select>
        <button type="submit">Apply template</button><span id="tpl-error" class="error" role="alert"></span></form>`,
    );
    $("#tpl-select").focus();
    $("#tpl-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api(`/meetings/${id}:apply-template`, { method: "POST", body: { template_id: Number($("#tpl-select").value) } });
        agenda = (await api(`/meetings/${id}`)).agenda;
        drawAgenda();
        set($("#tpl"), html`<p role="status">Template applied.</p>`);
      } catch (e) {
        $("#tpl-error").textContent = e.message;
      }
    });
  });

  $("#actions").addEventListener("change", async (ev) => {
    const aid = ev.target.dataset.ai;
    if (!aid) return;
    try {
      await api(`/action-items/${aid}`, { method: "PATCH", body: { done: true } });
      actions = actions.filter((a) => String(a.id) !== aid);
      drawActions();
    } catch (e) {
      ev.target.checked = false;
      $("#ai-error").textContent = e.message;
    }
  });
  $("#ai-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#ai-error").textContent = "";
    try {
      const item = await api(`/meetings/${id}/action-items`, {
        method: "POST",
        body: { body: $("#ai-body").value, owner_id: Number($("#ai-owner").value), due_date: $("#ai-due").value || null },
      });
      actions = [...actions, item];
      drawActions();
      $("#ai-body").value = "";
    } catch (e) {
      $("#ai-error").textContent = e.message;
    }
  });

  // Shared note: If-Match with the ETag we loaded; 412 shows theirs vs yours.
  const saveShared = async (body) => {
    const status = $("#shared-status");
    try {
      const res = await api(`/meetings/${id}/notes/shared`, { method: "PUT", body: { body }, headers: { "If-Match": etag }, etag: true });
      etag = res.etag || `"${res.data.version}"`;
      $("#conflict").hidden = true;
      status.textContent = `Saved (version ${res.data.version}).`;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 412) {
        status.textContent = `Not saved: ${e.message}`;
        return;
      }
      const latest = await api(`/meetings/${id}/notes/shared`, { etag: true });
      showConflict(latest, body);
    }
  };
  const showConflict = (latest, yours) => {
    const box = $("#conflict");
    set(
      box,
      html`<h3>Someone else saved this note since you opened it</h3>
      <p>Their version ${latest.data.version}${latest.data.updated_by ? ` (by ${who(latest.data.updated_by)})` : ""} and yours differ. Nothing of yours was lost.</p>
      <div class="cols"><div><strong>Theirs</strong><pre id="conflict-theirs">${latest.data.body}</pre></div>
        <div><strong>Yours</strong><pre id="conflict-yours">${yours}</pre></div></div>
      <div class="inline"><button type="button" id="conflict-merge">Reload and merge</button>
        <button type="button" class="secondary" id="conflict-overwrite">Overwrite with mine</button></div>`,
    );
    box.hidden = false;
    $("#shared-status").textContent = "Conflict: not saved.";
    $("#conflict-merge").focus();
    $("#conflict-merge").addEventListener("click", () => {
      etag = latest.etag;
      $("#shared-note").value = mergeNotes(latest.data.body, yours);
      box.hidden = true;
      $("#shared-status").textContent = `Merged with version ${latest.data.version}: review, then save.`;
      $("#shared-note").focus();
    });
    $("#conflict-overwrite").addEventListener("click", () => {
      etag = latest.etag;
      saveShared(yours);
    });
  };
  $("#shared-save").addEventListener("click", () => saveShared($("#shared-note").value));
  $("#private-save").addEventListener("click", async () => {
    try {
      await api(`/meetings/${id}/notes/private`, { method: "PUT", body: { body: $("#private-note").value } });
      $("#private-status").textContent = "Saved.";
    } catch (e) {
      $("#private-status").textContent = `Not saved: ${e.message}`;
    }
  });
  if (ratable)
    $("#rating-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const rating = Number(new FormData(ev.target).get("rating"));
      try {
        const fb = await api(`/meetings/${id}/feedback`, { method: "PUT", body: { rating, comment: $("#rating-comment").value } });
        $("#rating-status").textContent = `Saved: rated ${fb.rating}/5.`;
      } catch (e) {
        $("#rating-status").textContent = `Not saved: ${e.message}`;
      }
    });
}
