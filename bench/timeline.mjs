#!/usr/bin/env node
// bench/timeline.mjs: test/lab/client.js's download mode, plus when each download started
// and ended and which uplink address the server saw. For the analysis rounds of the bench
// (where did a link sit idle, which link finished last); the timed rounds use client.js.
//
//   node timeline.mjs --download BYTES[,BYTES...] --count N --parallel P --hosts a,b,c [--port 8080]
//   -> {"seconds":s,"bytesBySource":{...},"errors":k,"downloads":[{i,host,client,start,end}]}
//      (start/end in seconds since the first download started)
import http from 'node:http';

const o = { download: [1000000], count: 42, parallel: 6, hosts: ['203.0.113.1'], port: 8080 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const v = argv[i + 1];
  if (v === undefined) throw new Error(`missing value for ${argv[i]}`);
  switch (argv[i]) {
    case '--download': o.download = v.split(',').map(Number); break;
    case '--count': o.count = Number(v); break;
    case '--parallel': o.parallel = Math.max(1, Number(v)); break;
    case '--hosts': o.hosts = v.split(',').filter(Boolean); break;
    case '--port': o.port = Number(v); break;
    default: throw new Error(`unknown argument ${argv[i]}`);
  }
}

const t0 = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - t0) / 1e9;

const size = (i) => o.download[i % o.download.length];

function get(i) {
  const host = o.hosts[i % o.hosts.length];
  const start = now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: o.port, path: `/bytes/${size(i)}`, agent: false, timeout: 600000,
      headers: { Connection: 'close' } }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => resolve({ i, host, client: String(res.headers['x-client'] || ''), bytes: n, start, end: now() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const downloads = [];
let errors = 0;
let next = 0;
async function worker() {
  while (next < o.count) {
    const i = next++;
    try {
      const d = await get(i);
      if (d.bytes === size(i)) downloads.push(d);
      else errors++;
    } catch {
      errors++;
    }
  }
}
await Promise.all(Array.from({ length: Math.min(o.parallel, o.count) }, worker));
const seconds = now();
const bytesBySource = {};
for (const d of downloads) bytesBySource[d.client] = (bytesBySource[d.client] || 0) + d.bytes;
downloads.sort((a, b) => a.i - b.i);
process.stdout.write(JSON.stringify({ seconds, bytesBySource, errors, downloads }) + '\n');
