#!/usr/bin/env node
// (ES module: the repo package.json has "type": "module")
// linkbal lab server: runs inside the lab's "net" namespace (see README.md).
//
//   node server.js [--log FILE] [--ready FILE] [--addrs 203.0.113.1,203.0.113.2,...] [--ipv6]
//
// HTTP   on TCP 80, 443, 8080, 8081 (plain HTTP, Connection: close)
//          GET /         -> body = client IPv4 address as seen here
//          (--ipv6: HTTP on IPv6 too, the same ports; the body the client's IPv6 address)
//          GET /bytes/N  -> N bytes (max 100 MB), header X-Client: <addr>
// UDP    on 53, 5353: every datagram is answered with the client address
// FTP    on TCP 21: minimal passive-mode server; RETR <anything> sends the
//          client address seen on the DATA connection
// Every accepted TCP connection / received UDP datagram is logged as one JSON
// line {proto, port, remote, kind, t} to --log.
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}
const logFile = opt('--log', null);
const readyFile = opt('--ready', null);
const ipv6 = args.includes('--ipv6');
const addrs = opt('--addrs', '203.0.113.1,203.0.113.2,203.0.113.3').split(',');
const FTP_ADDR = addrs[0];
const HTTP_PORTS = [80, 443, 8080, 8081];
const UDP_PORTS = [53, 5353];
const MAX_BYTES = 100 * 1024 * 1024;

function clean(addr) {
  return String(addr || '').replace(/^::ffff:/, '');
}

function log(proto, port, remote, kind) {
  const line = JSON.stringify({ proto, port, remote: clean(remote), kind, t: Date.now() }) + '\n';
  if (logFile) fs.appendFileSync(logFile, line);
}

// ---------------------------------------------------------------- HTTP
function handleHttp(req, res) {
  const remote = clean(req.socket.remoteAddress);
  res.setHeader('Connection', 'close');
  res.setHeader('X-Client', remote);
  const m = /^\/bytes\/(\d+)$/.exec(req.url || '');
  if (req.method === 'GET' && req.url === '/') {
    res.setHeader('Content-Type', 'text/plain');
    res.end(remote);
  } else if (req.method === 'GET' && req.url === '/hold') {
    // the headers (X-Client) at once, then nothing until the client closes
    res.flushHeaders();
  } else if (req.method === 'GET' && m) {
    let left = Math.min(Number(m[1]), MAX_BYTES);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(left));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  } else {
    res.statusCode = 404;
    res.end('not found');
  }
}

function startHttp(port) {
  const srv = http.createServer({ keepAlive: false }, handleHttp);
  srv.keepAliveTimeout = 0;
  srv.on('connection', (sock) => log('tcp', port, sock.remoteAddress, 'http'));
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '0.0.0.0', resolve);
  }).then(() => ipv6 && new Promise((resolve, reject) => {
    const srv6 = http.createServer({ keepAlive: false }, handleHttp);
    srv6.keepAliveTimeout = 0;
    srv6.on('connection', (sock) => log('tcp', port, sock.remoteAddress, 'http'));
    srv6.once('error', reject);
    srv6.listen({ port, host: '::', ipv6Only: true }, resolve);
  }));
}

// ---------------------------------------------------------------- UDP
// One socket per server address so that replies leave with the address the
// client sent to (a 0.0.0.0 socket would pick a route-based source address).
function startUdp(port, addr) {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    log('udp', port, rinfo.address, 'udp');
    sock.send(Buffer.from(rinfo.address), rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, addr, resolve);
  });
}

// ---------------------------------------------------------------- FTP
function startFtp() {
  const srv = net.createServer((ctl) => {
    log('tcp', 21, ctl.remoteAddress, 'ftp-control');
    ctl.setEncoding('latin1');
    let buf = '';
    let pasv = null; // { server, sock, waiters }
    const reply = (line) => ctl.write(line + '\r\n');
    const closePasv = () => {
      if (pasv) {
        pasv.server.close();
        if (pasv.sock) pasv.sock.destroy();
      }
      pasv = null;
    };
    const withData = (fn) => {
      if (!pasv) return reply('425 Use PASV first');
      const p = pasv;
      if (p.sock) return fn(p.sock);
      p.waiters.push(fn);
      return undefined;
    };
    const command = (line) => {
      const sp = line.indexOf(' ');
      const cmd = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      const arg = sp < 0 ? '' : line.slice(sp + 1);
      switch (cmd) {
        case 'USER': return reply('331 Password please');
        case 'PASS': return reply('230 Logged in');
        case 'SYST': return reply('215 UNIX Type: L8');
        case 'TYPE': return reply('200 Type set');
        case 'PWD': return reply('257 "/" is the current directory');
        case 'CWD': return reply('250 OK');
        case 'FEAT': return reply('211 No features');
        // not 550: curl treats 550 on SIZE as "file does not exist"
        case 'SIZE': return reply('502 SIZE not implemented');
        case 'MDTM': return reply('502 MDTM not implemented');
        case 'REST': return reply(arg === '0' ? '350 Restarting at 0' : '502 No restart');
        case 'EPSV': return reply('500 EPSV not supported');
        case 'NOOP': return reply('200 OK');
        case 'QUIT':
          reply('221 Bye');
          closePasv();
          return ctl.end();
        case 'PASV': {
          closePasv();
          const p = { server: null, sock: null, waiters: [] };
          p.server = net.createServer((d) => {
            log('tcp', d.localPort, d.remoteAddress, 'ftp-data');
            p.server.close();
            if (p.sock) return d.destroy();
            p.sock = d;
            d.on('error', () => {});
            const w = p.waiters.splice(0);
            w.forEach((fn) => fn(d));
            return undefined;
          });
          p.server.on('error', () => reply('425 Cannot open data connection'));
          p.server.listen(0, FTP_ADDR, () => {
            const port = p.server.address().port;
            const h = FTP_ADDR.split('.').join(',');
            reply(`227 Entering Passive Mode (${h},${port >> 8},${port & 255})`);
          });
          pasv = p;
          return undefined;
        }
        case 'RETR':
        case 'LIST':
        case 'NLST':
          return withData((d) => {
            reply('150 Opening data connection');
            const body = cmd === 'RETR' ? clean(d.remoteAddress) : '';
            d.end(body, () => {
              reply('226 Transfer complete');
              closePasv();
            });
          });
        default:
          return reply('502 Command not implemented');
      }
    };
    ctl.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line) command(line);
      }
    });
    ctl.on('error', () => {});
    ctl.on('close', closePasv);
    reply('220 linkbal lab FTP');
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(21, '0.0.0.0', resolve);
  });
}

async function main() {
  const jobs = [startFtp()];
  for (const p of HTTP_PORTS) jobs.push(startHttp(p));
  for (const p of UDP_PORTS) for (const a of addrs) jobs.push(startUdp(p, a));
  await Promise.all(jobs);
  if (readyFile) fs.writeFileSync(readyFile, String(process.pid) + '\n');
  process.stdout.write('ready\n');
}

process.on('SIGTERM', () => process.exit(0));
main().catch((e) => {
  process.stderr.write(`server.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
