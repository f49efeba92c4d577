// sio-peer.js: the official Node socket.io server as a peer for the C client
// (shared/net/sioc.c, tests/unit/test_sioc.c). Prints "PORT <n>" once listening on
// 127.0.0.1 (port 0 = any), and exits when its standard input closes.
// Behaviour: auth.token must be "good" (else CONNECT_ERROR "unauthorized" with data);
// on connect it emits "hello" {auth, recovered}; events:
//   echo(...args, ack)  -> ack(...args)
//   ask                 -> emits "question" 41 with an ack; the answer comes back as "answer"
//   noack(ack)          -> never answers
//   drop                -> closes the Engine.IO connection (recoverable), then 150 ms later
//                          broadcasts "tick" to everyone (missed by the dropped client)
//   kick                -> socket.disconnect()      (Socket.IO DISCONNECT, link kept)
//   bye                 -> socket.disconnect(true)  (DISCONNECT and close)
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 0);
const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, {
  pingInterval: Number(process.env.PING_INTERVAL || 300),
  pingTimeout: Number(process.env.PING_TIMEOUT || 200),
  connectionStateRecovery: { maxDisconnectionDuration: 120000, skipMiddlewares: true },
});

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (token === 'good') return next();
  const err = new Error('unauthorized');
  err.data = { hint: 'check --token' };
  next(err);
});

let ticks = 0;
io.on('connection', (socket) => {
  socket.emit('hello', { auth: socket.handshake.auth, recovered: socket.recovered });
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
  socket.on('ask', () => {
    socket.emit('question', 41, (answer) => socket.emit('answer', answer));
  });
  socket.on('noack', () => {});
  socket.on('drop', () => {
    socket.conn.close();
    setTimeout(() => io.emit('tick', ++ticks), 150);
  });
  socket.on('kick', () => socket.disconnect());
  socket.on('bye', () => socket.disconnect(true));
});

httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`PORT ${httpServer.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
