// The web chat: send, follow the reply as it is made (Server-Sent Events), vote, retry.
(function () {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const lines = document.getElementById("lines");
  const status = document.getElementById("status");
  const text = document.getElementById("text");
  const form = document.getElementById("say");

  async function call(path, body) {
    const answer = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    const said = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(typeof said.detail === "string" ? said.detail : answer.statusText);
    return said;
  }

  function line(kind, words) {
    const li = document.createElement("li");
    li.className = kind;
    const span = document.createElement("span");
    span.className = "text";
    span.textContent = words;
    li.appendChild(span);
    lines.appendChild(li);
    lines.scrollTop = lines.scrollHeight;
    return li;
  }

  function buttons(li) {
    const bar = document.createElement("span");
    bar.className = "votes";
    for (const [value, label, title] of [[1, "👍", "good reply"], [-1, "👎", "bad reply"], [0, "🔄", "ask again"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.title = title;
      b.dataset.value = value;
      if (value !== 0 && Number(li.dataset.vote) === value) b.classList.add("chosen");
      b.addEventListener("click", () => (value === 0 ? retry(li) : vote(li, value, b)));
      bar.appendChild(b);
    }
    li.appendChild(bar);
  }

  async function vote(li, value, button) {
    const current = Number(li.dataset.vote || 0);
    const cast = current === value ? 0 : value; // pressing it again takes the vote back
    try {
      const said = await call("/chat/votes", { turn_id: Number(li.dataset.turn), value: cast });
      status.textContent = said.said;
      if (said.ok) {
        li.dataset.vote = cast;
        li.querySelectorAll(".votes button").forEach((b) => b.classList.toggle("chosen", Number(b.dataset.value) === cast && cast !== 0));
      }
    } catch (e) { status.textContent = e.message; }
  }

  async function retry(li) {
    try {
      await call("/chat/retry", { message_id: Number(li.dataset.message) });
      follow(Number(li.dataset.message));
    } catch (e) { status.textContent = e.message; }
  }

  function follow(messageId) {
    const li = line("bot streaming", "…");
    li.dataset.message = messageId;
    const span = li.querySelector(".text");
    const events = new EventSource("/chat/stream/" + messageId);
    events.addEventListener("part", (e) => { span.textContent = JSON.parse(e.data).text; });
    events.addEventListener("done", (e) => {
      const said = JSON.parse(e.data);
      events.close();
      span.textContent = said.text || "(the model gave an empty reply: 🔄 or 👎 it)";
      li.classList.remove("streaming");
      li.dataset.turn = said.done;
      li.dataset.vote = 0;
      buttons(li);
      status.textContent = "";
    });
    events.addEventListener("notice", (e) => {
      events.close();
      li.className = "notice";
      span.textContent = JSON.parse(e.data).notice;
    });
    events.onerror = () => { events.close(); status.textContent = "The stream broke off: reload the page to see the reply."; };
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const words = text.value;
    if (!words.trim()) return;
    text.value = "";
    line("you", words);
    try {
      const sent = await call("/chat/messages", { text: words });
      if (sent.notice) line("notice", sent.notice);
      follow(sent.message_id);
    } catch (err) { status.textContent = err.message; }
  });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  document.getElementById("reset").addEventListener("click", async () => {
    await call("/chat/reset");
    lines.innerHTML = "";
    status.textContent = "New conversation: the bot has forgotten what was said before.";
  });
  lines.querySelectorAll("li.bot[data-turn]").forEach(buttons);
  lines.scrollTop = lines.scrollHeight;
})();
