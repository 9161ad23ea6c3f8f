// TimescaleDB for tests: PGlite (PostgreSQL 17 compiled to WASM, TimescaleDB 2.23-dev build)
// served over the PostgreSQL wire protocol on loopback. In-memory by default: every start is an
// empty cluster with one database, `postgres`; any user name and password are accepted.
//
//   node server.mjs --port 54400 [--host 127.0.0.1] [--data memory://] [--wait-ms 30000]
//
// Prints "TRADEWIND_PGLITE_READY port=<port> <version>" on stdout once it accepts connections.
// Exits 0 on SIGTERM/SIGINT, or when stdin closes (the parent process went away).
//
// PGlite is ONE backend. Two clients would share its session (transaction, SET, prepared
// statements), so clients are served one at a time: a connection that arrives while another is
// open waits (up to --wait-ms, then gets a PostgreSQL error) instead of being dropped. That also
// makes "close, then reconnect at once" reliable, which a hard connection limit is not (the old
// socket may not have been reaped yet). Between clients the session is reset (ROLLBACK,
// DISCARD ALL), so each connection starts as on a fresh backend.
//
// Clients must not ask for TLS (libpq: sslmode=disable): the SSLRequest is never answered.
import net from "node:net";
import { parseArgs } from "node:util";

import { PGlite } from "@electric-sql/pglite";
import { timescaledb } from "@electric-sql/pglite/timescaledb";
import { PGLiteSocketHandler } from "@electric-sql/pglite-socket";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "5432" },
    host: { type: "string", default: "127.0.0.1" },
    data: { type: "string", default: "memory://" },
    "wait-ms": { type: "string", default: "30000" },
    debug: { type: "boolean", default: false },
  },
});

const port = Number.parseInt(values.port, 10);
const waitMs = Number.parseInt(values["wait-ms"], 10);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`invalid --port ${values.port}`);
  process.exit(2);
}
if (!["127.0.0.1", "localhost", "::1"].includes(values.host)) {
  console.error("refusing to listen on anything but loopback");
  process.exit(2);
}

let db = null;
let server = null;
let stopping = false;
let active = null; // the PGLiteSocketHandler being served
const waiting = []; // { socket, timer } in arrival order
const sockets = new Set(); // every open client socket, destroyed on shutdown

// What PGLiteSocketHandler needs from a query queue. With one client at a time no queueing
// across clients is needed; PGlite's own mutex keeps one client's messages in order.
const queryQueue = {
  enqueue: (_handlerId, message) => db.runExclusive(() => db.execProtocolRaw(message)),
  clearQueueForHandler: () => {},
  clearTransactionIfNeeded: async () => {},
};

// A PostgreSQL ErrorResponse (SQLSTATE 53300 too_many_connections), so libpq reports a message.
function errorResponse(message) {
  const fields = Buffer.concat([
    Buffer.from("SFATAL\0VFATAL\0C53300\0"),
    Buffer.from(`M${message}\0`),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head.write("E", 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

async function resetSession() {
  // A client that died mid extended-protocol exchange leaves the backend skipping messages
  // until Sync; send one, then undo whatever session state it left behind.
  await db.runExclusive(() => db.execProtocolRaw(new Uint8Array([0x53, 0, 0, 0, 4])));
  if (db.isInTransaction()) await db.exec("rollback");
  await db.exec("discard all");
}

async function release(handler) {
  // Both "error" and "close" may fire for one client; reset once.
  if (active !== handler || handler.released) return;
  handler.released = true;
  try {
    await resetSession();
  } catch (err) {
    console.error("session reset failed:", err);
  }
  active = null;
  serveNext();
}

function serveNext() {
  while (active === null && waiting.length > 0 && !stopping) {
    const { socket, timer } = waiting.shift();
    clearTimeout(timer);
    if (socket.destroyed) continue;
    const handler = new PGLiteSocketHandler({
      queryQueue,
      closeOnDetach: true,
      debug: values.debug,
    });
    active = handler;
    handler.addEventListener("close", () => release(handler));
    handler.addEventListener("error", () => release(handler));
    handler.attach(socket).catch((err) => {
      console.error("attach failed:", err);
      socket.destroy();
      release(handler);
    });
  }
}

function onConnection(socket) {
  if (stopping) {
    socket.destroy();
    return;
  }
  sockets.add(socket);
  socket.once("close", () => sockets.delete(socket));
  const entry = { socket, timer: null };
  entry.timer = setTimeout(() => {
    const i = waiting.indexOf(entry);
    if (i >= 0) waiting.splice(i, 1);
    // Drain what the client sent (closing with unread input would reset the connection and
    // lose the message), reply with the error, and let the client's close finish the socket.
    socket.resume();
    socket.end(
      errorResponse(
        `PGlite serves one connection at a time; another stayed open for ${waitMs} ms`,
      ),
    );
    setTimeout(() => socket.destroy(), 5_000).unref();
  }, waitMs);
  // Closed while waiting: drop it from the line. Listeners are replaced once it is attached.
  socket.on("error", () => {});
  socket.on("close", () => {
    const i = waiting.indexOf(entry);
    if (i >= 0) {
      waiting.splice(i, 1);
      clearTimeout(entry.timer);
    }
  });
  waiting.push(entry);
  serveNext();
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  try {
    for (const { socket, timer } of waiting.splice(0)) {
      clearTimeout(timer);
      socket.destroy();
    }
    if (active) await active.detach(true);
    for (const socket of sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(() => resolve()));
    if (db) await db.close();
  } catch (err) {
    console.error("error while stopping:", err);
    code = code || 1;
  }
  process.exit(code);
}

process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
process.stdin.on("end", () => shutdown(0));
process.stdin.on("error", () => shutdown(0));
process.stdin.resume();

try {
  db = new PGlite(values.data, { extensions: { timescaledb } });
  await db.waitReady;
  const version = (await db.query("select version() as v")).rows[0].v;
  server = net.createServer(onConnection);
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, values.host, () => resolve());
  });
  server.on("error", (err) => console.error("server error:", err));
  console.log(`TRADEWIND_PGLITE_READY port=${port} ${version}`);
} catch (err) {
  console.error("failed to start:", err?.message ?? err);
  await shutdown(1);
}
