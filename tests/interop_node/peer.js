// node-coap (npm "coap") as a third, independent CoAP peer for the interop tests.
//   node peer.js get URL            print the payload of a GET (block-wise handled by node-coap)
//   node peer.js observe URL N      print the first response and N notifications, one per line
//   node peer.js proxy-get URL PROXY  the same GET sent to the forward proxy PROXY (coap://host:port)
//                                   with URL as its Proxy-Uri (node-coap's proxyUri)
//   node peer.js serve              serve /hello, /large (70000 bytes) and /counter (observable)
//                                   on an ephemeral port; prints "node-coap: serving on PORT"
'use strict';
const coap = require('coap');

const [, , mode, url, count] = process.argv;
const via = mode === 'proxy-get' ? new URL(count) : null;

function large() {
  let s = '';
  for (let i = 0; s.length < 70000; i++) s += 'node-coap large line ' + String(i).padStart(5, '0') + '\n';
  return s.slice(0, 70000);
}

if (mode === 'get' || mode === 'observe' || mode === 'proxy-get') {
  const u = via || new URL(url);
  const req = coap.request({
    hostname: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 5683), pathname: via ? '/' : u.pathname,
    query: via ? undefined : u.search.slice(1),
    method: 'GET', observe: mode === 'observe', proxyUri: via ? url : undefined,
  });
  const timer = setTimeout(() => { console.error('node-coap: timeout'); process.exit(4); }, 20000);
  req.on('response', (res) => {
    if (mode !== 'observe') {
      clearTimeout(timer);
      // Exit once the payload is written: a pipe takes 64 KiB at a time.
      process.stdout.write(res.payload, () => process.exit(res.code.startsWith('2.') ? 0 : 3));
      return;
    }
    let seen = 0;
    const want = Number(count || 3) + 1;
    const print = (chunk) => {
      process.stdout.write(chunk.toString() + '\n');
      if (++seen >= want) { clearTimeout(timer); res.close(); setTimeout(() => process.exit(0), 200); }
    };
    res.on('data', print);  // the first response arrives as data too
  });
  req.on('error', (e) => { console.error('node-coap: ' + e.message); process.exit(4); });
  req.end();
} else if (mode === 'serve') {
  const body = large();
  let counter = 0;
  const server = coap.createServer();
  server.on('request', (req, res) => {
    if (req.url === '/hello') return res.end('hello from node-coap');
    if (req.url === '/large') return res.end(body);
    if (req.url === '/counter') {
      if (req.headers.Observe !== 0) return res.end(String(counter));
      res.write(String(counter));
      const t = setInterval(() => res.write(String(++counter)), 500);
      res.on('finish', () => clearInterval(t));
      return undefined;
    }
    res.code = '4.04';
    return res.end();
  });
  server.listen(0, '127.0.0.1', () => {
    console.error('node-coap: serving on ' + server._sock.address().port);
  });
} else {
  console.error('usage: node peer.js get URL | observe URL N | serve');
  process.exit(2);
}
