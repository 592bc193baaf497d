#!/usr/bin/env node
// linkbal lab client: run inside the lab host or lan namespace.
//
//   node client.js [--host 203.0.113.1] [--port 8080] [--count N] [--parallel P]
//                  [--udp] [--hosts a,b,c] [--timeout MS]
//     -> {"order":["10.1.1.2",...],"counts":{"10.1.1.2":n},"errors":k}
//   node client.js --hold [--count N] [--hosts a,b,c] [--port ...]
//     -> the same; the N connections are opened one after another and each is held open
//        (GET /hold) until all are, then all close: each new one finds the others open
//   node client.js --download BYTES[,BYTES...] [--count N] [--parallel P] [--host ...] [--port ...]
//     -> {"seconds":s,"bytesBySource":{"10.1.0.2":b},"errors":k}
//     (download i is BYTES number i, cycled: a list gives a workload of mixed sizes)
//
// Every TCP request is its own connection (no agent / keep-alive), every UDP
// probe uses a fresh socket (new source port), so each one is a new conntrack
// flow. "order" lists the answers in the order the connections were started.
import http from 'node:http';
import dgram from 'node:dgram';

function parseArgs(argv) {
  const o = { host: '203.0.113.1', port: null, count: 10, parallel: 1, udp: false, hold: false, hosts: null, download: null, timeout: 5000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    switch (a) {
      case '--host': o.host = val(); break;
      case '--hosts': o.hosts = val().split(',').filter(Boolean); break;
      case '--port': o.port = Number(val()); break;
      case '--count': o.count = Number(val()); break;
      case '--parallel': o.parallel = Math.max(1, Number(val())); break;
      case '--udp': o.udp = true; break;
      case '--hold': o.hold = true; break;
      case '--download': o.download = val().split(',').map(Number); break;
      case '--timeout': o.timeout = Number(val()); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (o.port === null) o.port = o.udp ? 53 : 8080;
  if (!o.hosts) o.hosts = [o.host];
  return o;
}

function httpGet(host, port, path, timeout, sink) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false, timeout, headers: { Connection: 'close' } }, (res) => {
      const chunks = [];
      let n = 0;
      res.on('data', (c) => {
        n += c.length;
        if (!sink) chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        return resolve({ body: sink ? '' : Buffer.concat(chunks).toString().trim(), bytes: n, client: String(res.headers['x-client'] || '') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// UDP probe i of this run binds source port UDP_BASE + i. With ports the kernel picks at
// random, two probes to one server can share one (about 3% within a run of 40, 6% between
// two runs of 40), and while the first's conntrack entry lives (30 s) the second is no new
// flow: it takes the first's link instead of a turn of its own. Consecutive ports from a
// random start below the kernel's ephemeral range: none within a run, about 0.3% between
// two runs.
const UDP_BASE = 2000 + Math.floor(Math.random() * 28000);

// GET /hold: resolves with the address the server saw once its headers come, the
// connection still open (held.push: to close it later).
function holdOpen(host, port, timeout, held) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/hold', agent: false, timeout }, (res) => {
      held.push(req);
      res.on('error', () => {});
      resolve(String(res.headers['x-client'] || ''));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function udpProbe(host, port, timeout, i) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('udp timeout'));
    }, Math.min(timeout, 2000));
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg.toString().trim());
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      sock.close();
      reject(e);
    });
    sock.bind(UDP_BASE + i, () => sock.send(Buffer.from('probe'), port, host));
  });
}

// Run fn(i) for i in [0,count) with at most `parallel` in flight.
async function pool(count, parallel, fn) {
  const results = new Array(count);
  let next = 0;
  async function worker() {
    while (next < count) {
      const i = next++;
      try {
        results[i] = { ok: true, value: await fn(i) };
      } catch (e) {
        results[i] = { ok: false, error: String(e && e.message ? e.message : e) };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return results;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dest = (i) => o.hosts[i % o.hosts.length];
  if (o.download !== null) {
    const t0 = process.hrtime.bigint();
    const size = (i) => o.download[i % o.download.length];
    const res = await pool(o.count, o.parallel, (i) => httpGet(dest(i), o.port, `/bytes/${size(i)}`, Math.max(o.timeout, 600000), true));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const bytesBySource = {};
    let errors = 0;
    for (const [i, r] of res.entries()) {
      if (r.ok && r.value.bytes === size(i)) bytesBySource[r.value.client] = (bytesBySource[r.value.client] || 0) + r.value.bytes;
      else errors++;
    }
    process.stdout.write(JSON.stringify({ seconds, bytesBySource, errors }) + '\n');
    return;
  }
  const held = [];
  const res = await pool(o.count, o.hold ? 1 : o.parallel, (i) =>
    o.hold ? holdOpen(dest(i), o.port, o.timeout, held)
      : o.udp ? udpProbe(dest(i), o.port, o.timeout, i) : httpGet(dest(i), o.port, '/', o.timeout, false).then((r) => r.body));
  for (const req of held) req.destroy();
  const order = [];
  const counts = {};
  const errorMessages = [];
  for (const r of res) {
    if (r.ok) {
      order.push(r.value);
      counts[r.value] = (counts[r.value] || 0) + 1;
    } else {
      errorMessages.push(r.error);
    }
  }
  process.stdout.write(JSON.stringify({ order, counts, errors: errorMessages.length, errorMessages: [...new Set(errorMessages)] }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`client.js: ${e && e.message ? e.message : e}\n`);
  process.exit(2);
});
