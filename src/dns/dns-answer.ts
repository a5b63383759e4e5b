/**
 * What the run's DNS server answers a query, for the address it came from: the asker's view of the
 * run's names (src/plan/dns-names.ts). Pure: the server and `meshbed dig` share it.
 */
import type { Answer, Packet, Question } from "dns-packet";
import { AUTHORITATIVE_ANSWER, RECURSION_AVAILABLE, RECURSION_DESIRED } from "dns-packet";
import { type DnsNames, nameOf, viewOf } from "../plan/dns-names.js";

export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Seconds: short, so that a restarted run's addresses are not cached past it. */
const TTL = 5;

export type Decision =
  | { kind: "answer"; response: Packet }
  /** Not a name of the run: the host's resolvers answer it. */
  | { kind: "forward" }
  | { kind: "refused"; response: Packet; why: string };

/** The answer to `query` from `source`, which came to the server's address `local`. */
export function decide(names: DnsNames, source: string, query: Packet, local?: string): Decision {
  const question = query.questions?.[0];
  const view = viewOf(names, source, local);
  if (!view) return { kind: "refused", response: reply(query, RCODE.REFUSED, []), why: `${source} is no service of the run` };
  if (!question) return { kind: "answer", response: reply(query, RCODE.NOTIMP, []) };
  const name = nameOf(names, question.name);
  if (name === undefined) return { kind: "forward" };
  if (name === "unknown-in-domain") return { kind: "answer", response: reply(query, RCODE.NXDOMAIN, []) };
  const record = view[name.service];
  // A service the asker has no address of (a service without a port has no SRV): the name exists, with nothing of that type.
  if (!record) return { kind: "answer", response: reply(query, RCODE.NOERROR, []) };
  const answers: Answer[] = [];
  if (name.srv) {
    if ((question.type === "SRV" || (question.type as string) === "ANY") && record.port !== undefined) {
      const target = `${name.service}.${names.domain}`;
      answers.push({ name: question.name, type: "SRV", class: "IN", ttl: TTL, data: { priority: 0, weight: 0, port: record.port, target } });
    }
  } else if (question.type === "A" || (question.type as string) === "ANY") {
    answers.push({ name: question.name, type: "A", class: "IN", ttl: TTL, data: record.host });
  }
  return { kind: "answer", response: reply(query, RCODE.NOERROR, answers) };
}

function reply(query: Packet, rcode: number, answers: Answer[]): Packet {
  const rd = (query.flags ?? 0) & RECURSION_DESIRED;
  return {
    id: query.id ?? 0,
    type: "response",
    flags: AUTHORITATIVE_ANSWER | RECURSION_AVAILABLE | rd | rcode,
    questions: (query.questions ?? []) as Question[],
    answers,
  };
}

/** A refusal of a query (no resolver to forward it to). */
export function refusal(query: Packet): Packet {
  return reply(query, RCODE.REFUSED, []);
}
