// The driving page: start from a test clip, then every press asks the server for the next frame(s)
// under the chosen action. Presses queue, so each one sees the frames of the one before.
"use strict";

const KEYS = {a: "left", ArrowLeft: "left", w: "straight", ArrowUp: "straight",
              d: "right", ArrowRight: "right", s: "brake", ArrowDown: "brake"};
const state = {info: null, session: null, clip: null, queue: Promise.resolve(), pending: 0};
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function showError(err) {
  $("error").textContent = err ? `error: ${err.message}` : "";
  $("error").hidden = !err;
}

function enqueue(job) {
  state.pending += 1;
  $("status").textContent = "generating…";
  state.queue = state.queue.then(job).then(() => showError(null), showError).finally(() => {
    state.pending -= 1;
    if (state.pending === 0 && $("status").textContent === "generating…") $("status").textContent = "";
  });
}

function cell(src, kind, caption, truth) {
  const figure = document.createElement("figure");
  figure.className = `cell ${kind}`;
  const img = document.createElement("img");
  img.src = src;
  img.className = kind;
  img.alt = caption;
  figure.append(img);
  if (truth) {
    const sim = document.createElement("img");
    sim.src = truth;
    sim.className = "truth";
    sim.alt = `simulator, ${caption}`;
    figure.append(sim);
  }
  const label = document.createElement("figcaption");
  label.textContent = caption;
  figure.append(label);
  return figure;
}

function showTruth(src, reason) {
  $("truth").hidden = !src;
  if (src) $("truth").src = src;
  $("truth-reason").textContent = src ? "" : reason;
  $("truth-reason").hidden = Boolean(src);
}

async function start() {
  const clip = Number($("clip").value);
  const data = await api("/api/sessions", {clip});
  state.session = data.session;
  state.clip = clip;
  $("strip").replaceChildren(...data.context.map((src, i) => cell(src, "real", `context ${i + 1}`)));
  $("current").src = data.context[data.context.length - 1];
  $("current-label").textContent = "the last context frame (recorded)";
  showTruth(null, data.truth ? "press one held action: the simulator's future under it shows here"
                             : `no simulator future: ${data.why_not}`);
}

async function press(body) {
  if (state.session === null) throw new Error("start from a test clip first");
  const t0 = performance.now();
  const frames = Number($("frames").value);
  const data = await api(`/api/sessions/${encodeURIComponent(state.session)}/press`, {...body, frames});
  const ms = performance.now() - t0;
  for (const f of data.frames) {
    const caption = `+${f.step + 1} ${data.action}`;
    const item = cell(f.image, "generated", caption, f.truth);
    item.title = f.truth ? "above: model, below: simulator" : `no simulator frame: ${f.why_not}`;
    $("strip").append(item);
  }
  const last = data.frames[data.frames.length - 1];
  $("current").src = last.image;
  $("current-label").textContent = `step +${last.step + 1}, ${data.action}`;
  showTruth(last.truth, `no simulator frame: ${last.why_not}`);
  $("status").textContent = `${data.action}: ${data.frames.length} frame(s) in ${ms.toFixed(0)} ms`;
  $("strip").scrollLeft = $("strip").scrollWidth;
}

function actionButtons(info) {
  const box = $("actions");
  for (const a of info.actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = `act-${a.name}`;
    button.textContent = a.name === "brake" ? "brake" : `steer ${a.name}`;
    button.title = `steer ${a.steer}, throttle ${a.throttle}, brake ${a.brake}`;
    button.addEventListener("click", () => enqueue(() => press({action: a.name})));
    box.append(button);
  }
  const reach = Math.min(1, Math.max(0.2, ...info.actions.map((a) => 4 * Math.abs(a.steer))));
  $("steer").min = String(-reach);
  $("steer").max = String(reach);
}

async function init() {
  const info = await api("/api/info");
  state.info = info;
  $("run").textContent = `run ${info.run} · ${info.width}×${info.height} frames · ` +
    `${info.context_frames} context frames · ${info.conditioned ? "steered by the actions" : "reads no actions"}`;
  $("note").textContent = info.note;
  $("note").hidden = !info.note;
  for (const c of info.clips) {
    const option = new Option(`${c.index}: frame ${c.start}, episode ${c.episode}` +
                              (c.truth ? " · simulator replay" : ""), String(c.index));
    $("clip").append(option);
  }
  const first = info.clips.find((c) => c.truth) || info.clips[0];
  $("clip").value = String(first.index);
  for (let n = 1; n <= info.max_frames_per_press; n++) $("frames").append(new Option(String(n), String(n)));
  $("frames").value = String(info.frames_per_press);
  actionButtons(info);
  $("steer").addEventListener("input", () => {
    $("steer-value").textContent = (Number($("steer").value) >= 0 ? "+" : "") + Number($("steer").value).toFixed(3);
  });
  $("act-slider").addEventListener("click", () => enqueue(() => press({steer: Number($("steer").value)})));
  $("start").addEventListener("click", () => enqueue(start));
  $("clip").addEventListener("change", () => enqueue(start));
  document.addEventListener("keydown", (event) => {
    const tag = event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
    const name = KEYS[event.key];
    if (name && info.actions.some((a) => a.name === name)) {
      event.preventDefault();
      enqueue(() => press({action: name}));
    }
  });
  enqueue(start);
}

init().catch(showError);
