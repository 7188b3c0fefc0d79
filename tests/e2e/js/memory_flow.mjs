// One memory turn through the JavaScript SDK: run to the approval interrupt, resume, read the
// history, search the store. Prints one JSON line with what it saw.
import { Client } from "@langchain/langgraph-sdk";

const client = new Client({
  apiUrl: process.env.ENGRAM_URL,
  defaultHeaders: { Authorization: `Bearer ${process.env.ENGRAM_TOKEN}` },
});
const graph = "memory_agent";
const context = { approval: "always" };

const thread = await client.threads.create();
await client.runs.wait(thread.thread_id, graph, {
  input: { messages: [{ role: "user", content: "I prefer green tea over coffee." }] },
  context,
});
const paused = await client.threads.getState(thread.thread_id);
const proposed = paused.tasks[0].interrupts[0].value.operations.map((op) => op.text);
const resumed = await client.runs.wait(thread.thread_id, graph, {
  command: { resume: "approve" },
  context,
});
const history = await client.threads.getHistory(thread.thread_id, { limit: 50 });
const found = await client.store.searchItems(["memories"], { query: "favourite drink", limit: 5 });
console.log(JSON.stringify({
  next: paused.next,
  proposed,
  statuses: resumed.memory_operations.map((op) => op.status),
  checkpoints: history.length,
  memories: found.items.map((item) => item.value.text),
}));
