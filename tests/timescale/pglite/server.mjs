// TimescaleDB for tests: PGlite (PostgreSQL 17 compiled to WASM, TimescaleDB build) served over
// the PostgreSQL wire protocol on 127.0.0.1. In-memory: every start is an empty cluster.
//
//   node server.mjs --port 54400 [--host 127.0.0.1] [--max-connections 1] [--data memory://]
//
// Prints one line "TRADEWIND_PGLITE_READY port=<port>" on stdout once it accepts connections;
// tradewind.db.pglite waits for it. Exits 0 on SIGTERM/SIGINT after closing the database.
import { parseArgs } from "node:util";

import { PGlite } from "@electric-sql/pglite";
import { timescaledb } from "@electric-sql/pglite/timescaledb";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "5432" },
    host: { type: "string", default: "127.0.0.1" },
    data: { type: "string", default: "memory://" },
    // PGlite is a single backend: a second session would share its transaction state, so the
    // server refuses more than one client unless told otherwise.
    "max-connections": { type: "string", default: "1" },
    debug: { type: "boolean", default: false },
  },
});

const port = Number.parseInt(values.port, 10);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`invalid --port ${values.port}`);
  process.exit(2);
}
if (values.host !== "127.0.0.1" && values.host !== "localhost" && values.host !== "::1") {
  console.error("refusing to listen on anything but loopback");
  process.exit(2);
}

let db = null;
let server = null;
let stopping = false;

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  try {
    if (server) await server.stop();
    if (db) await db.close();
  } catch (err) {
    console.error("error while stopping:", err);
    code = code || 1;
  }
  process.exit(code);
}

process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
// The Python side holds our stdin; when it dies without signalling us, stdin closes.
process.stdin.on("end", () => shutdown(0));
process.stdin.resume();

try {
  db = new PGlite(values.data, { extensions: { timescaledb } });
  await db.waitReady;
  server = new PGLiteSocketServer({
    db,
    port,
    host: values.host,
    maxConnections: Number.parseInt(values["max-connections"], 10),
    debug: values.debug,
  });
  server.addEventListener("error", (ev) => console.error("socket server error:", ev.detail));
  await server.start();
  const row = await db.query("select version() as v");
  console.log(`TRADEWIND_PGLITE_READY port=${port} ${row.rows[0].v}`);
} catch (err) {
  console.error("failed to start:", err);
  await shutdown(1);
}
