import { describe, expect, test } from "vitest";
import { renderDot, renderGraph, renderMermaid, renderSvg, serviceElementId } from "../../src/plan/graph-formats.js";
import { planGraph } from "../../src/plan/plan-graph.js";
import { makePlan } from "../../src/plan/plan.js";
import { hostFacts, serviceSpec, topology } from "./fixtures.js";

// Two services on one LAN node, one on another node of the mesh, a container and two processes.
const spec = topology(
  serviceSpec("db", "docker", { port: 5432 }),
  serviceSpec("api", "process", { port: 8080, dependsOn: ["db"] }),
  serviceSpec("web", "process", { port: 8081, dependsOn: ["api"] }),
  serviceSpec("cache", "remote_lan", { port: 6379, options: { host: "lan-1" } }),
  serviceSpec("cache.metrics", "remote_lan", { port: 9100, dependsOn: ["cache"], options: { host: "lan-1" } }),
  serviceSpec("load", "wireguard", { port: 9000, dependsOn: ["api", "cache"], options: { host: "edge-1" } }),
);
const plan = makePlan(
  spec,
  hostFacts({
    hostPorts: { db: 32768 },
    ips: {
      db: { containerIp: "172.30.0.2" },
      cache: { lanIp: "192.168.50.10", meshIp: "10.42.0.3" },
      "cache.metrics": { lanIp: "192.168.50.10", meshIp: "10.42.0.3" },
      load: { lanIp: "198.51.100.20", meshIp: "10.42.0.2" },
    },
    addresses: { containerGateway: "172.30.0.1", lanIpToward: { "192.168.50.10": "192.168.50.1" }, hubMeshIp: "10.42.0.1" },
  }),
);
const graph = planGraph(plan);

describe("planGraph", () => {
  test("groups services by location: this host, containers, each LAN node, each WireGuard node", () => {
    expect(graph.groups.map((g) => [g.id, g.location, g.label, g.services])).toEqual([
      ["host", "host", "this host", ["api", "web"]],
      ["containers", "container", "containers", ["db"]],
      ["lan:lan-1", "lan", "LAN node lan-1 (192.168.50.10)", ["cache", "cache.metrics"]],
      ["wireguard:edge-1", "wireguard", "WireGuard node edge-1 (198.51.100.20)", ["load"]],
    ]);
    expect(graph.groups[2]!.node).toBe("lan-1");
    expect(graph.groups[0]!.node).toBeUndefined();
  });

  test("has an edge for each dependsOn, from the dependent to its dependency", () => {
    expect(graph.edges).toEqual([
      { from: "api", to: "db" },
      { from: "cache.metrics", to: "cache" },
      { from: "web", to: "api" },
      { from: "load", to: "api" },
      { from: "load", to: "cache" },
    ]);
  });

  test("lists services in start order, each with the address every caller (in start order) reaches it at", () => {
    expect(graph.services.map((s) => `${s.level}:${s.name}`)).toEqual(["0:db", "0:cache", "1:api", "1:cache.metrics", "2:web", "2:load"]);
    const db = graph.services.find((s) => s.name === "db")!;
    expect(db).toMatchObject({ target: "docker", group: "containers", port: 5432, addr: "172.30.0.2:5432" });
    // The address table: processes and containers by container IP, nodes through the host's published port.
    expect(db.addrFor).toEqual({
      api: "172.30.0.2:5432",
      web: "172.30.0.2:5432",
      cache: "192.168.50.1:32768",
      "cache.metrics": "192.168.50.1:32768",
      load: "10.42.0.1:32768",
    });
    const cache = graph.services.find((s) => s.name === "cache")!;
    expect(cache.addrFor).toMatchObject({ api: "192.168.50.10:6379", load: "10.42.0.3:6379", db: "192.168.50.10:6379" });
    expect(cache.addrFor).not.toHaveProperty("cache");
  });

  test("is plain, frozen data", () => {
    expect(Object.isFrozen(graph)).toBe(true);
    expect(Object.isFrozen(graph.services[0])).toBe(true);
    expect(JSON.parse(JSON.stringify(graph))).toEqual(graph);
  });
});

describe("renderSvg", () => {
  const svg = renderSvg(graph);
  const root = parseXml(svg);

  test("is well-formed XML with an svg root", () => {
    expect(root.name).toBe("svg");
    expect(root.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
    expect(Number(root.attrs.width)).toBeGreaterThan(0);
  });

  test("has one element per service, inside its location's group", () => {
    const services = all(root, (e) => e.attrs.class === "service");
    expect(services.map((e) => e.attrs["data-service"])).toEqual(["api", "web", "db", "cache", "cache.metrics", "load"]);
    expect(services.map((e) => e.attrs.id)).toEqual(graph.groups.flatMap((g) => g.services.map(serviceElementId)));
    const locations = all(root, (e) => e.attrs.class === "location");
    expect(locations.map((l) => [l.attrs["data-group"], all(l, (e) => e.attrs.class === "service").map((e) => e.attrs["data-service"])])).toEqual([
      ["host", ["api", "web"]],
      ["containers", ["db"]],
      ["lan:lan-1", ["cache", "cache.metrics"]],
      ["wireguard:edge-1", ["load"]],
    ]);
    // Each has a state the page updates, and a tooltip with its address from each caller.
    const db = services.find((e) => e.attrs["data-service"] === "db")!;
    expect(db.attrs["data-state"]).toBe("planned");
    expect(all(db, (e) => e.attrs.id === "svc-db-state")).toHaveLength(1);
    const title = all(db, (e) => e.name === "title")[0]!.text;
    expect(title.split("\n")).toEqual([
      "db (docker)",
      "from this host: 172.30.0.2:5432",
      "from cache: 192.168.50.1:32768",
      "from api: 172.30.0.2:5432",
      "from cache.metrics: 192.168.50.1:32768",
      "from web: 172.30.0.2:5432",
      "from load: 10.42.0.1:32768",
    ]);
  });

  test("draws an arrow per dependency, and no service box overlaps another", () => {
    const paths = all(root, (e) => e.attrs.class === "dependency");
    expect(paths.map((p) => `${p.attrs["data-from"]}->${p.attrs["data-to"]}`)).toEqual(graph.edges.map((e) => `${e.from}->${e.to}`));
    expect(paths.every((p) => /^M[\d.]+,[\d.]+ [CH]/.test(p.attrs.d!))).toBe(true);
    const rects = all(root, (e) => e.attrs.class === "service-box").map((r) => ({ x: Number(r.attrs.x), y: Number(r.attrs.y), w: Number(r.attrs.width), h: Number(r.attrs.height) }));
    for (const [i, a] of rects.entries()) {
      for (const b of rects.slice(i + 1)) expect(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
      expect(a.x + a.w).toBeLessThanOrEqual(Number(root.attrs.width));
      expect(a.y + a.h).toBeLessThanOrEqual(Number(root.attrs.height));
    }
  });

  test("escapes what XML would read as markup", () => {
    const odd = planGraph(makePlan(topology(serviceSpec("n1", "remote_lan", { port: 1, options: { host: 'a"<b>&' } })), hostFacts({ ips: { n1: { lanIp: "10.9.0.2" } } })));
    const parsed = parseXml(renderSvg(odd));
    expect(all(parsed, (e) => e.attrs.class === "location")[0]!.attrs["data-group"]).toBe('lan:a"<b>&');
  });
});

describe("renderMermaid", () => {
  test("is a flowchart with a subgraph per location and an arrow per dependency", () => {
    const text = renderMermaid(graph);
    expect(text.split("\n").filter((l) => !l.trimStart().startsWith("%%"))).toEqual([
      "flowchart LR",
      '  subgraph g0["this host"]',
      "    direction TB",
      '    s_api["api<br/>process · 127.0.0.1:8080"]',
      '    s_web["web<br/>process · 127.0.0.1:8081"]',
      "  end",
      '  subgraph g1["containers"]',
      "    direction TB",
      '    s_db["db<br/>docker · 172.30.0.2:5432"]',
      "  end",
      '  subgraph g2["LAN node lan-1 (192.168.50.10)"]',
      "    direction TB",
      '    s_cache["cache<br/>remote_lan · 192.168.50.10:6379"]',
      '    s_cache_metrics["cache.metrics<br/>remote_lan · 192.168.50.10:9100"]',
      "  end",
      '  subgraph g3["WireGuard node edge-1 (198.51.100.20)"]',
      "    direction TB",
      '    s_load["load<br/>wireguard · 10.42.0.2:9000"]',
      "  end",
      "  s_api --> s_db",
      "  s_cache_metrics --> s_cache",
      "  s_web --> s_api",
      "  s_load --> s_api",
      "  s_load --> s_cache",
      "",
    ]);
    expect(text).toContain("  %% db from load: 10.42.0.1:32768\n");
  });

  test("makes ids unique where names differ only in punctuation, and never a reserved word", () => {
    const g = planGraph(makePlan(topology(serviceSpec("a-b", "process", { port: 1 }), serviceSpec("a.b", "process", { port: 2 }), serviceSpec("end", "process", { port: 3 })), hostFacts()));
    const text = renderMermaid(g);
    expect(text).toContain('s_a_b["a-b');
    expect(text).toContain('s_a_b_2["a.b');
    expect(text).toContain('s_end["end');
  });
});

describe("renderDot", () => {
  test("is a digraph with a cluster per location, an edge per dependency and addresses as tooltips", () => {
    const text = renderDot(graph);
    expect(text.startsWith("// meshbed run t1")).toBe(true);
    expect(text).toContain('digraph "meshbed t1" {');
    expect(text.match(/subgraph cluster_\d+ \{/g)).toHaveLength(4);
    expect(text).toContain('    label="LAN node lan-1 (192.168.50.10)";');
    expect(text).toContain('    "db" [label="db\\ndocker · 172.30.0.2:5432", tooltip="db (docker)\\nfrom this host: 172.30.0.2:5432\\nfrom cache: 192.168.50.1:32768\\nfrom api: 172.30.0.2:5432');
    expect(text.split("\n").filter((l) => l.includes("->"))).toEqual(['  "api" -> "db";', '  "cache.metrics" -> "cache";', '  "web" -> "api";', '  "load" -> "api";', '  "load" -> "cache";']);
    // Balanced braces: one per cluster and the graph's own.
    expect(text.split("{").length).toBe(text.split("}").length);
  });

  test("quotes what DOT would read as syntax", () => {
    const g = planGraph(makePlan(topology(serviceSpec("n1", "remote_lan", { port: 1, options: { host: 'x"\\y' } })), hostFacts({ ips: { n1: { lanIp: "10.9.0.2" } } })));
    expect(renderDot(g)).toContain('label="LAN node x\\"\\\\y (10.9.0.2)";');
  });
});

test("renderGraph picks the renderer by format", () => {
  expect(renderGraph(graph, "svg")).toBe(renderSvg(graph));
  expect(renderGraph(graph, "mermaid")).toBe(renderMermaid(graph));
  expect(renderGraph(graph, "dot")).toBe(renderDot(graph));
});

// A strict little XML reader (elements, attributes, text, entities, comments): enough to prove
// well-formedness — every tag closed in order, attributes quoted, no stray `<` or `&`.
interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function parseXml(source: string): XmlElement {
  const entity = (s: string) =>
    s.replace(/&(#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);|&/gi, (_m, name: string | undefined) => {
      if (!name) throw new Error(`A bare & in ${JSON.stringify(s)}`);
      if (name.startsWith("#x")) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
      if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)));
      return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[name]!;
    });
  const stack: XmlElement[] = [{ name: "#document", attrs: {}, children: [], text: "" }];
  const token = /<!--[\s\S]*?-->|<\/([A-Za-z][\w:.-]*)\s*>|<([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  for (let m = token.exec(source); m; m = token.exec(source)) {
    const [, close, open, attrText, selfClose, text, stray] = m;
    if (stray) throw new Error(`A stray < at ${m.index}: ${source.slice(m.index, m.index + 40)}`);
    const top = stack[stack.length - 1]!;
    if (text !== undefined) {
      top.text += entity(text);
    } else if (close) {
      if (top.name !== close) throw new Error(`</${close}> closes <${top.name}>`);
      stack.pop();
    } else if (open) {
      const attrs: Record<string, string> = {};
      for (const a of attrText!.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        if (a[1]! in attrs) throw new Error(`Attribute ${a[1]} twice on <${open}>`);
        attrs[a[1]!] = entity(a[2] ?? a[3]!);
      }
      const element = { name: open, attrs, children: [], text: "" };
      top.children.push(element);
      if (!selfClose) stack.push(element);
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  const roots = stack[0]!.children;
  if (roots.length !== 1 || stack[0]!.text.trim() !== "") throw new Error("Not exactly one root element");
  return roots[0]!;
}

function all(element: XmlElement, match: (e: XmlElement) => boolean): XmlElement[] {
  return element.children.flatMap((child) => [...(match(child) ? [child] : []), ...all(child, match)]);
}
