// inferload dashboard: polls the live API's JSON routes and draws them. No framework, no network beyond
// this API; every failure is shown in the page's status line rather than thrown.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  const POLL_MS = Math.max(250, Number(params.get("interval")) || 1000);
  const $ = (id) => document.getElementById(id);
  const state = {
    token: null, lastT: null, points: [], timelineOf: null, charts: {}, identityShown: false, kindChosen: false,
  };

  const SERIES = {
    throughput: [
      { label: "target req/s", key: "target_request_rate", stroke: "#7f7f7f", dash: [6, 4] },
      { label: "sent/s", key: "sent_per_sec", stroke: "#1f77b4" },
      { label: "completed/s", key: "requests_per_sec", stroke: "#2ca02c" },
      { label: "output tokens/s", key: "output_tokens_per_sec", stroke: "#9467bd", scale: "tokens" },
    ],
    ttft: [
      { label: "interval avg", key: "ttft_avg_ms", stroke: "#1f77b4" },
      { label: "p50 so far", key: "ttft_p50_ms", stroke: "#2ca02c" },
      { label: "p99 so far", key: "ttft_p99_ms", stroke: "#d62728" },
    ],
    itl: [
      { label: "interval avg", key: "itl_avg_ms", stroke: "#1f77b4" },
      { label: "p50 so far", key: "itl_p50_ms", stroke: "#2ca02c" },
      { label: "p99 so far", key: "itl_p99_ms", stroke: "#d62728" },
    ],
    errors: [
      { label: "errors/s", key: "errors_per_sec", stroke: "#d62728" },
      { label: "errors so far", key: "request_errors", stroke: "#ff7f0e", scale: "total" },
    ],
  };

  async function getJSON(path) {
    const response = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error(`${path} answered ${response.status}`);
    }
    return response.json();
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || !Number.isFinite(value)) {
      return "–";
    }
    return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  function chartWidth(element) {
    return Math.max(320, Math.floor(element.getBoundingClientRect().width || 520));
  }

  // Rates and counts start at zero (a flat zero line sits at the bottom, not mid-chart); latencies fit
  // their data.
  const FROM_ZERO = new Set(["throughput", "errors"]);
  const fromZero = { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] };

  function makeChart(name) {
    const element = $(`chart-${name}`);
    const series = SERIES[name];
    const scales = { x: { time: false }, y: FROM_ZERO.has(name) ? { ...fromZero } : {} };
    const axes = [{ label: "seconds since start" }, { scale: series[0].scale || "y" }];
    const extra = series.find((s) => s.scale);
    if (extra) {
      scales[extra.scale] = FROM_ZERO.has(name) ? { ...fromZero } : {};
      axes.push({ scale: extra.scale, side: 1, grid: { show: false }, label: extra.label });
    }
    const options = {
      width: chartWidth(element),
      height: 240,
      scales,
      axes,
      series: [{ label: "t (s)" }].concat(series.map((s) => ({
        label: s.label, stroke: s.stroke, width: 2, scale: s.scale || "y", spanGaps: false, dash: s.dash,
        value: (u, v) => fmt(v, 2),
      }))),
    };
    return new uPlot(options, [[]].concat(series.map(() => [])), element);
  }

  function redraw() {
    const xs = state.points.map((p) => p.t_sec);
    for (const name of Object.keys(SERIES)) {
      const data = [xs].concat(SERIES[name].map((s) => state.points.map((p) => p[s.key] ?? null)));
      state.charts[name].setData(data);
    }
  }

  function mergePoints(fresh) {
    // Points are re-fetched from a little before the last one seen, so a point is replaced, never doubled.
    const byT = new Map(state.points.map((p) => [p.t_sec, p]));
    for (const point of fresh) {
      byT.set(point.t_sec, point);
    }
    state.points = Array.from(byT.values()).sort((a, b) => a.t_sec - b.t_sec);
    if (state.points.length) {
      state.lastT = state.points[state.points.length - 1].t_sec;
    }
  }

  function showPhases(progress) {
    const container = $("phases");
    const phases = Object.values(progress.phases || {});
    container.replaceChildren(...phases.map((p) => {
      const box = document.createElement("div");
      box.className = "phase";
      box.dataset.phase = p.phase;
      const title = document.createElement("strong");
      title.textContent = `${p.phase}: ${p.percent === null ? "…" : fmt(p.percent, 0) + " %"}`;
      const bar = document.createElement("progress");
      bar.max = 100;
      if (p.percent !== null) {
        bar.value = p.percent;
      }
      const figures = document.createElement("div");
      figures.className = "figures";
      const expected = p.total_expected_requests ? `/${p.total_expected_requests}` : "";
      figures.textContent = `${p.requests_completed}${expected} completed, ${p.requests_sent} sent, ` +
        `${p.request_errors} errors, ` +
        (p.requests_cancelled ? `${p.requests_cancelled} cancelled, ` : "") +
        `${fmt(p.requests_per_second, 1)} req/s` +
        (p.requests_eta_sec ? `, ETA ${fmt(p.requests_eta_sec, 0)} s` : "");
      box.append(title, bar, figures);
      return box;
    }));
    $("system-state").textContent = progress.system_state;
  }

  function showWorkers(workers) {
    const rows = Object.values(workers.workers || {}).map((w) => {
      const row = document.createElement("tr");
      const memory = w.health && w.health.memory_usage ? w.health.memory_usage / 1e6 : null;
      const cells = [w.worker_id, w.status, w.task_stats.total, w.task_stats.completed, w.task_stats.failed,
        w.task_stats.cancelled, fmt(w.health ? w.health.cpu_usage : null, 0), fmt(memory, 0)];
      for (const value of cells) {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.append(cell);
      }
      return row;
    });
    $("workers").tBodies[0].replaceChildren(...rows);
  }

  function loadText(target) {
    if (!target) {
      return "–";
    }
    const paused = target.paused ? " (paused)" : "";
    if (target.request_rate !== null && target.request_rate !== undefined) {
      const cap = target.concurrency ? `, concurrency ≤ ${target.concurrency}` : "";
      return `${fmt(target.request_rate, 3)} req/s${cap}${paused}`;
    }
    if (target.concurrency !== null && target.concurrency !== undefined) {
      return `concurrency ${target.concurrency}${paused}`;
    }
    return "–";
  }

  function showIdentity(config, run) {
    $("model").textContent = config.model || "–";
    $("url").textContent = config.url || "–";
    $("benchmark-id").textContent = run.benchmark_id;
    $("load").textContent = loadText(config);
  }

  function showLoad(load) {
    // The load in force (the control routes and load plans change it); the configured one stands until
    // the engine publishes it. Controls are offered only when the run has a token (--api-token).
    if (!load) {
      return;
    }
    $("load").textContent = loadText(load);
    $("token-form").hidden = !load.control_enabled;
    $("controls-off").hidden = load.control_enabled;
    if (!state.kindChosen) {
      $("load-kind").value = load.request_rate !== null && load.request_rate !== undefined ?
        "request_rate" : "concurrency";
    }
  }

  async function poll() {
    const problems = [];
    const since = state.lastT === null ? "" : `?since=${Math.max(0, state.lastT - 3)}`;
    const [timeline, progress, workers, run] = await Promise.all([
      getJSON(`/api/timeline${since}`), getJSON("/api/progress"), getJSON("/api/workers"),
      getJSON("/api/run"),
    ].map((request) => request.catch((error) => { problems.push(error.message); return null; })));
    if (run && (!state.identityShown || run.benchmark_id !== $("benchmark-id").textContent)) {
      try {
        showIdentity(await getJSON("/api/config"), run);
        state.identityShown = true;
      } catch (error) {
        problems.push(error.message);
      }
    }
    if (timeline && timeline.benchmark_id !== state.timelineOf) {
      // A sweep moved on to its next run: start its charts afresh, from its first point (a reply asked
      // with `since` lacks the new run's early points; the next poll asks for all of them).
      state.points = [];
      state.lastT = null;
      state.timelineOf = timeline.benchmark_id;
      if (since) {
        redraw();
        return;
      }
    }
    if (timeline) {
      mergePoints(timeline.points);
      redraw();
    }
    if (progress) {
      showPhases(progress);
      showLoad(progress.load);
    }
    if (workers) {
      showWorkers(workers);
    }
    $("empty-state").hidden = state.points.some((p) => p.phase !== null);
    if (!timeline && !progress && !workers && !run) {
      $("status").textContent = "The API does not answer: the run has ended and its API stopped " +
        "(--api-linger), or it is unreachable. The charts keep the last data read.";
    } else {
      $("status").textContent = problems.length ? `Not all data could be read: ${problems.join("; ")}` : "";
    }
    document.body.dataset.points = String(state.points.length);
  }

  async function control(method, path, body) {
    const result = $("control-result");
    const headers = { Authorization: `Bearer ${state.token}` };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      result.className = "error";
      result.textContent = `${method} ${path} failed: ${error.message}`;
      return;
    }
    const text = await response.text();
    let detail = text;
    let parsed = null;
    try {
      parsed = JSON.parse(text);
      detail = typeof parsed.detail === "string" ? parsed.detail : JSON.stringify(parsed.detail ?? parsed);
    } catch (error) {
      // a non-JSON answer is shown as it came
    }
    const why = {
      401: "the token was refused",
      404: "control routes are off: start the run with --api-token",
      409: "the run is already stopping",
    }[response.status];
    result.className = response.ok ? "" : "error";
    result.textContent = response.ok ? `${method} ${path}: ${parsed ? `${parsed.state}, ${loadText(parsed)}` : "done"}` :
      `${method} ${path}: ${response.status}${why ? ` (${why})` : ""} ${detail}`;
    result.dataset.status = String(response.status);
    if (response.ok && parsed) {
      showLoad(parsed);
    }
  }

  function wireControls() {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      state.token = value || null;
      $("token").value = "";
      $("control-actions").hidden = state.token === null;
      $("control-result").textContent = state.token ? "Token set for this tab." : "";
    });
    $("pause").addEventListener("click", () => control("POST", "/api/control/pause"));
    $("resume").addEventListener("click", () => control("POST", "/api/control/resume"));
    $("stop").addEventListener("click", () => control("POST", "/api/control/stop"));
    $("load-kind").addEventListener("change", () => { state.kindChosen = true; });
    $("load-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const kind = $("load-kind").value;
      const value = Number($("load-value").value);
      control("PATCH", "/api/control/load", { [kind]: kind === "concurrency" ? Math.round(value) : value });
    });
  }

  function start() {
    for (const name of Object.keys(SERIES)) {
      state.charts[name] = makeChart(name);
    }
    window.addEventListener("resize", () => {
      for (const name of Object.keys(SERIES)) {
        state.charts[name].setSize({ width: chartWidth($(`chart-${name}`)), height: 240 });
      }
    });
    wireControls();
    const loop = async () => {
      try {
        await poll();
      } catch (error) {
        $("status").textContent = `Dashboard error: ${error.message}`;
      }
      window.setTimeout(loop, POLL_MS);
    };
    loop();
  }

  start();
})();
