// Mem0's own JavaScript client (`mem0ai`), unchanged, against Engram's Mem0-compatible routes:
// add (a stated fact, then a conversation), search, list, get, update, history, then a second
// user's key, then delete. Every request the client makes is recorded (it must reach the server
// under test and nothing else). Prints one JSON line with what it saw.
//
// ENGRAM_URL: the server; ENGRAM_TOKEN: the first user's key (user ENGRAM_USER);
// ENGRAM_OTHER_TOKEN: a second user's key.

// The client reads MEM0_TELEMETRY when it is loaded: off before the import (the test sets it too).
process.env.MEM0_TELEMETRY = "false";

const requests = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  const headers = new Headers(init.headers);
  const seen = {
    method: init.method ?? "GET", origin: url.origin, path: url.pathname, query: url.search,
    authorization: (headers.get("authorization") ?? "").split(" ")[0],
    client: headers.get("x-mem0-client"), userHeader: headers.has("mem0-user-id"),
    fields: typeof init.body === "string" ? Object.keys(JSON.parse(init.body)) : [],
    status: null,
  };
  requests.push(seen);
  const response = await realFetch(input, init);
  seen.status = response.status;
  return response;
};

const { MemoryClient } = await import("mem0ai");

const host = process.env.ENGRAM_URL;
const user = process.env.ENGRAM_USER;
const mine = new MemoryClient({ apiKey: process.env.ENGRAM_TOKEN, host });
const other = new MemoryClient({ apiKey: process.env.ENGRAM_OTHER_TOKEN, host });

async function failure(call) {
  try {
    await call;
    return null;
  } catch (error) {
    return { name: error.name, code: error.errorCode ?? null, message: error.message };
  }
}
const texts = (found) => found.results.map((m) => m.memory);

const FACT = "I am allergic to peanuts.";
const CHANGED = "I am allergic to peanuts and to cashews.";

await mine.initialized; // the ping the constructor sends
const identity = { org: mine.organizationId, project: mine.projectId };

const added = await mine.add([{ role: "user", content: FACT }],
  { userId: user, infer: false, metadata: { source: "intake-form" } });
const factId = added.results[0].id;
const conversation = await mine.add([
  { role: "user", content: "I moved to Porto last spring and I cycle to work every day." },
  { role: "assistant", content: "Porto is a lovely city for cycling." },
], { userId: user });

const found = await mine.search("which foods should I avoid eating",
  { filters: { user_id: user }, topK: 5 });
const foundCity = await mine.search("which city do I live in",
  { filters: { user_id: user }, topK: 5 });
const listed = await mine.getAll({ filters: { user_id: user }, page: 1, pageSize: 50 });
const got = await mine.get(factId);
const updated = await mine.update(factId, { text: CHANGED });
const gotAfterUpdate = await mine.get(factId);
const history = await mine.history(factId);

// The second key: the first user's memory is not there for it, by any route.
const otherSearchNamed = await other.search("peanut allergy", { filters: { user_id: user } });
const otherSearch = await other.search("peanut allergy");
const otherList = await other.getAll({ filters: { user_id: user } });
const otherGet = await failure(other.get(factId));
const otherDelete = await failure(other.delete(factId));
const otherAdd = await failure(other.add("I am the first user now.", { userId: user, infer: false }));
const stillMine = await mine.get(factId);

const deleted = await mine.delete(factId);
const getAfterDelete = await failure(mine.get(factId));
const listedAfterDelete = await mine.getAll({ filters: { user_id: user } });
const deletedAll = await mine.deleteAll({ userId: user });
const listedAfterDeleteAll = await mine.getAll({ filters: { user_id: user } });

console.log(JSON.stringify({
  identity,
  added: added.results.map((r) => ({ id: r.id, memory: r.memory, event: r.event })),
  addedStatus: added.status,
  conversation: { status: conversation.status, eventId: conversation.eventId },
  found: found.results.map((m) => ({
    id: m.id, memory: m.memory, userId: m.userId, metadata: m.metadata, score: m.score,
  })),
  foundCity: texts(foundCity),
  listed: { count: listed.count, ids: listed.results.map((m) => m.id), texts: texts(listed) },
  got: { id: got.id, memory: got.memory, metadata: got.metadata, userId: got.userId },
  updated: updated.memory,
  gotAfterUpdate: gotAfterUpdate.memory,
  history: history.map((h) => ({ event: h.event, old: h.oldMemory, new: h.newMemory })),
  other: {
    searchNamed: texts(otherSearchNamed), search: otherSearch.results.map((m) => m.id),
    list: texts(otherList), get: otherGet, delete: otherDelete, add: otherAdd,
  },
  stillMine: stillMine.memory,
  deleted: deleted.message,
  getAfterDelete,
  listedAfterDelete: listedAfterDelete.results.map((m) => m.id),
  deletedAll: deletedAll.message,
  listedAfterDeleteAll: texts(listedAfterDeleteAll),
  requests,
}));
