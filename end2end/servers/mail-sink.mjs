// A real SMTP server for the tests (npm's smtp-server), with every message it receives parsed
// by mailparser and listed over HTTP:
//   GET  /messages   -> [{ id, envelope, from, to, subject, headers, text, html }]
//   DELETE /messages -> forgets them
// Prints one JSON line, {"smtp": port, "http": port}, once both listen (on 127.0.0.1 only).
// `--reject-first N` answers the first N messages with a temporary failure (451), and
// `--reject-to ADDRESS` refuses that recipient for good (550), so retries can be tested.
// `--exit-with-stdin` ends the sink when its standard input closes (the Rust tests keep a pipe
// open, so a killed test run leaves no sink behind); .dev/test stops it with a signal.
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
let rejectFirst = Number(opt('--reject-first', '0'));
const rejectTo = (opt('--reject-to', '') || '').toLowerCase();
const messages = [];
let seq = 0;

const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onRcptTo(address, session, callback) {
    if (rejectTo && address.address.toLowerCase() === rejectTo) {
      const err = new Error('No such user here');
      err.responseCode = 550;
      return callback(err);
    }
    callback();
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', async () => {
      if (rejectFirst > 0) {
        rejectFirst -= 1;
        const err = new Error('Try again later');
        err.responseCode = 451;
        return callback(err);
      }
      const raw = Buffer.concat(chunks);
      try {
        const mail = await simpleParser(raw);
        const headers = {};
        for (const [k, v] of mail.headers) headers[k] = typeof v === 'string' ? v : (v && v.text) || JSON.stringify(v);
        messages.push({
          id: ++seq,
          envelope: {
            from: session.envelope.mailFrom && session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((r) => r.address),
          },
          from: mail.from && mail.from.text,
          to: mail.to && mail.to.text,
          subject: mail.subject,
          headers,
          text: mail.text || '',
          html: typeof mail.html === 'string' ? mail.html : '',
          raw: raw.toString('utf8'),
        });
        callback();
      } catch (e) {
        callback(e);
      }
    });
  },
});

const api = http.createServer((req, res) => {
  if (req.url === '/messages' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(messages));
  }
  if (req.url === '/messages' && req.method === 'DELETE') {
    messages.length = 0;
    res.writeHead(204);
    return res.end();
  }
  res.writeHead(404);
  res.end();
});

const smtpPort = Number(opt('--smtp-port', '0'));
const httpPort = Number(opt('--http-port', '0'));
smtp.listen(smtpPort, '127.0.0.1', () => {
  api.listen(httpPort, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ smtp: smtp.server.address().port, http: api.address().port }) + '\n');
  });
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
if (args.includes('--exit-with-stdin')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
