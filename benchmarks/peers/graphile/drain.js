// graphile-worker draining a backlog of no-op jobs: the peer of
// benchmarks/benches/drain_peers.rs, which runs it (installed into
// target/bench-peers/graphile by the bench, never in the source tree).
//
// 1. Runs graphile-worker's migrations on the database of DATABASE_URL (a fresh one).
// 2. Adds JOBS jobs of the no-op task `noop` with WorkerUtils.addJobs, in chunks,
//    while no worker runs (the backlog), then VACUUM ANALYZE + CHECKPOINT, as the
//    Rust bench does before timing its own drain.
// 3. Starts a runner with the settings of graphile-worker's performance page
//    (https://worker.graphile.org/docs/performance) and times it from `run()` until
//    the task has been called JOBS times ("processed"), then until the jobs table is
//    empty ("settled": completions are batched), then stops the runner and checks
//    that no job is left.
//
// LONG_TXN=rr or rr-xid (drain_peers.rs's DRAIN_BENCH_LONG_TXN): from just before the
// runner starts until the jobs table is empty, another connection holds
// `BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM items;` open (rr-xid: then
// `SELECT pg_current_xact_id()`, so it holds an xid too), as the Rust bench does for
// ours; the `items` table is created for it.
//
// Prints `SETTINGS ...` and `RESULT jobs=<n> processed_seconds=<s> settled_seconds=<s>`
// on stdout for the bench to parse. Errors go to stderr with a non-zero exit status.

"use strict";

const fs = require("fs");
const path = require("path");
const { run, makeWorkerUtils, Logger } = require("graphile-worker");
const { Client } = require("pg");

// The installed version, read from the file (the package's exports hide package.json).
const workerVersion = JSON.parse(
  fs.readFileSync(path.join(__dirname, "node_modules", "graphile-worker", "package.json"), "utf8"),
).version;

const connectionString = process.env.DATABASE_URL;
const jobs = Number(process.env.JOBS || "100000");
const ADD_CHUNK = 10000;
const SETTLE_POLL_MS = 10;
const longTxn = process.env.LONG_TXN || "";

// graphile-worker's "quick stats" configuration (performance page): 24 concurrent
// jobs, a pool of 25, the local queue fetching 500 jobs at a time, and job
// completions batched (delay 0: flushed on the next tick). Prepared statements and
// the poll interval keep their defaults (on; 2000 ms: the backlog is there when the
// runner starts, and LISTEN/NOTIFY covers new jobs).
const settings = {
  concurrentJobs: 24,
  maxPoolSize: 25,
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
  preparedStatements: true,
  pollInterval: 2000,
};

// Quiet: warnings and errors only (the "worker connected" chatter would interleave
// with the bench's tables).
const logger = new Logger((scope) => (level, message) => {
  if (level === "error" || level === "warning") {
    console.error(`graphile-worker ${level}: ${message}`, scope && scope.label ? `(${scope.label})` : "");
  }
});

async function count(utils) {
  return utils.withPgClient(async (client) => {
    const { rows } = await client.query("SELECT count(*)::bigint AS n FROM graphile_worker._private_jobs");
    return Number(rows[0].n);
  });
}

async function main() {
  if (!connectionString) throw new Error("DATABASE_URL is not set");
  if (!Number.isInteger(jobs) || jobs <= 0) throw new Error(`JOBS must be a positive integer, not ${process.env.JOBS}`);
  if (!["", "rr", "rr-xid"].includes(longTxn)) throw new Error(`LONG_TXN must be rr or rr-xid, not ${longTxn}`);
  console.log(
    `SETTINGS graphile-worker=${workerVersion} node=${process.version} ` +
      Object.entries(settings)
        .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : value}`)
        .join(" ") +
      (longTxn ? ` longTxn=${longTxn}` : ""),
  );

  const utils = await makeWorkerUtils({ connectionString, logger });
  try {
    await utils.migrate();
    for (let added = 0; added < jobs; added += ADD_CHUNK) {
      const size = Math.min(ADD_CHUNK, jobs - added);
      const specs = Array.from({ length: size }, () => ({ identifier: "noop", payload: {} }));
      await utils.addJobs(specs);
    }
    if (longTxn) {
      await utils.withPgClient((client) =>
        client.query("CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, name text, qty int NOT NULL DEFAULT 0)"),
      );
    }
    const queued = await count(utils);
    if (queued !== jobs) throw new Error(`${queued} jobs queued, expected ${jobs}`);
    await utils.withPgClient(async (client) => {
      await client.query("VACUUM (ANALYZE) graphile_worker._private_jobs");
      await client.query("CHECKPOINT");
    });

    let seen = 0;
    let reached;
    const allSeen = new Promise((resolve) => {
      reached = resolve;
    });
    const taskList = {
      noop: async () => {
        seen += 1;
        if (seen === jobs) reached();
      },
    };

    const holder = longTxn ? await holdLongTransaction(longTxn) : null;
    const started = process.hrtime.bigint();
    const runner = await run({ connectionString, logger, taskList, noHandleSignals: true, preset: { worker: settings } });
    const limitMs = 120000 + jobs; // generous: a stuck drain fails instead of hanging
    const timer = setTimeout(() => {
      console.error(`graphile-worker: the drain did not finish in ${limitMs} ms: ${seen} of ${jobs} jobs seen`);
      process.exit(2);
    }, limitMs);
    await allSeen;
    const processed = Number(process.hrtime.bigint() - started) / 1e9;
    while ((await count(utils)) > 0) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
    const settled = Number(process.hrtime.bigint() - started) / 1e9;
    if (holder) {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    clearTimeout(timer);
    await runner.stop();
    const left = await count(utils);
    if (left !== 0) throw new Error(`${left} jobs left in graphile_worker._private_jobs after the drain`);
    if (seen !== jobs) throw new Error(`the task ran ${seen} times for ${jobs} jobs`);
    console.log(`RESULT jobs=${jobs} processed_seconds=${processed.toFixed(3)} settled_seconds=${settled.toFixed(3)}`);
  } finally {
    await utils.release();
  }
}

// Opens the long transaction on a connection of its own and checks that the server
// sees it holding the horizon (and, for rr-xid, an xid).
async function holdLongTransaction(variant) {
  const holder = new Client({ connectionString });
  await holder.connect();
  await holder.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
  await holder.query("SELECT count(*) FROM items");
  if (variant === "rr-xid") await holder.query("SELECT pg_current_xact_id()");
  const { rows } = await holder.query(
    "SELECT backend_xmin IS NOT NULL AS xmin, backend_xid IS NOT NULL AS xid FROM pg_stat_activity WHERE pid = pg_backend_pid()",
  );
  if (!rows[0].xmin) throw new Error("the long transaction holds no snapshot");
  if (rows[0].xid !== (variant === "rr-xid")) throw new Error(`the long transaction's xid is not as ${variant} wants`);
  return holder;
}

main().catch((error) => {
  console.error(`graphile-worker peer failed: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
