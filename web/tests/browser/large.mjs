// A synthetic, engine-like Localisation of 100 components by 360 buckets (3 hours of 30 s), for
// the size and load-time measurement: mostly normal cells, a few anomalous stretches, four
// modalities, evidence for every cell scoring 3 or more, four signal series per component.
export function largeLocalisation() {
  let seed = 0x9e3779b9;
  const rnd = () => {
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed / 4294967296;
  };
  const R = 100, C = 360, start = Date.parse("2024-05-01T04:00:00Z");
  const iso = (i) => new Date(start + i * 30000).toISOString().replace(".000Z", "Z");
  const components = Array.from({ length: R }, (_, i) => `service-${String(i).padStart(3, "0")}`);
  const buckets = Array.from({ length: C }, (_, i) => iso(i));
  const modalities = ["access_logs", "logs", "metrics", "traces"];
  const by = Object.fromEntries(modalities.map((m) => [m, []]));
  const scores = [];
  const cells = [];
  for (let r = 0; r < R; r++) {
    const row = [];
    for (const m of modalities) by[m].push([]);
    for (let c = 0; c < C; c++) {
      const per = modalities.map(() => {
        if (r % 9 === 0 && c >= 240) return Math.round((4 + rnd() * 10) * 10) / 10;
        if (rnd() < 0.03) return Math.round(rnd() * 40) / 10;
        return 0;
      });
      per.forEach((v, i) => by[modalities[i]][r].push(v));
      const top = Math.max(...per);
      row.push(top);
      if (top >= 3) {
        cells.push({
          row: r, bucket: c,
          signals: per.map((v, i) => ({ v, i })).filter((x) => x.v >= 3).sort((a, b) => b.v - a.v).slice(0, 3)
            .map(({ v, i }) => ({ signal: ["http_4xx_rate", "new_error_templates", "cpu", "self_time"][i],
              modality: modalities[i], value: Math.round(rnd() * 1e4) / 1e4, baseline: 0.01, unit: "", score: v })),
          ...(r % 9 === 0 ? { trace_ids: [(r * 1e6 + c).toString(16).padStart(32, "0")] } : {}),
        });
      }
    }
    scores.push(row);
  }
  const series = [];
  for (let r = 0; r < R; r++) {
    for (const [signal, modality] of [["cpu", "metrics"], ["error_rate", "traces"], ["latency", "traces"], ["memory", "metrics"]]) {
      let x = 1 + rnd();
      series.push({ row: r, signal, modality, values: Array.from({ length: C }, (_, c) => {
        x = x * 0.9 + 0.1 * (1 + rnd()) + (r % 9 === 0 && c >= 240 ? 0.05 : 0);
        return Number(x.toPrecision(4));
      }) });
    }
  }
  const edges = [];
  for (let r = 1; r < R; r++) edges.push({ from: components[Math.floor((r - 1) / 3)], to: components[r], calls: 1000, errors: r % 9 === 0 ? 40 : 1, p99_ms: 12.5 });
  const ranking = Array.from({ length: 10 }, (_, i) => ({
    component: components[i * 9 % R], score: 30 - i, fault: "latency",
    evidence: [{ signal: "self_time", modality: "traces", at: iso(250), value: 3.2, baseline: 1, deviation: 14, summary: "self time 3.2× typical" }],
  }));
  return {
    incident: { id: "large-100x360", alert_name: "LargeIncident", alert_component: components[0], fingerprint: "large",
      starts_at: iso(250), window_start: iso(0), window_end: iso(C), baseline_end: iso(240), bucket_seconds: 30 },
    ranking,
    path: [components[0]],
    modalities,
    heatmap: { components, buckets, scores, by_modality: by },
    edges,
    detail: { cells, series, proxies: [{ row: 0, top_user_agents: [{ value: "curl/8.0", count: 100 }], tls_versions: [{ value: "TLSv1.3", count: 100 }] }] },
  };
}
