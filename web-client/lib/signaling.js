// The signaling connection: one WebSocket to the Relais server speaking the
// JSON protocol of docs/protocol.md. Requests carry a `req` id and resolve
// with the reply that echoes it; every other server message is dispatched as
// a `message` event. Knows nothing of peer connections or of the interface.

export class SignalingError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** How long a request waits for its reply before failing. */
const REQUEST_TIMEOUT_MS = 15000;
/** How long opening the socket may take. */
const OPEN_TIMEOUT_MS = 10000;
/** Keep-alive ping period. */
const PING_MS = 20000;

export class Signaling extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.nextReq = 1;
    this.pending = new Map();
    this.pingTimer = null;
    this.closedByUs = false;
  }

  /** Open the socket; resolves once it is open. */
  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        reject(new SignalingError('unreachable', String(e)));
        return;
      }
      this.ws = ws;
      const timer = setTimeout(() => {
        ws.close();
        reject(new SignalingError('unreachable', `no answer from ${this.url}`));
      }, OPEN_TIMEOUT_MS);
      ws.onopen = () => {
        clearTimeout(timer);
        this.pingTimer = setInterval(() => this.send({ type: 'ping' }), PING_MS);
        resolve();
      };
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        clearTimeout(timer);
        clearInterval(this.pingTimer);
        const err = new SignalingError('disconnected', 'the connection to the server closed');
        for (const { reject: rej, timer: t } of this.pending.values()) {
          clearTimeout(t);
          rej(err);
        }
        this.pending.clear();
        reject(new SignalingError('unreachable', `cannot reach ${this.url}`));
        this.dispatchEvent(new CustomEvent('close', { detail: { code: ev.code, byUs: this.closedByUs } }));
      };
      ws.onmessage = (ev) => this.onMessage(ev.data);
    });
  }

  onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.req && this.pending.has(msg.req)) {
      const { resolve, reject, timer } = this.pending.get(msg.req);
      this.pending.delete(msg.req);
      clearTimeout(timer);
      if (msg.type === 'error') reject(new SignalingError(msg.code, msg.message));
      else resolve(msg);
      return;
    }
    this.dispatchEvent(new CustomEvent('message', { detail: msg }));
  }

  /** Send a message without waiting for a reply. */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /** Send a message with a fresh `req` and resolve with its reply. */
  request(msg) {
    const req = String(this.nextReq++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        reject(new SignalingError('timeout', `no reply to ${msg.type}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(req, { resolve, reject, timer });
      if (!this.send({ ...msg, req })) {
        clearTimeout(timer);
        this.pending.delete(req);
        reject(new SignalingError('disconnected', 'not connected to the server'));
      }
    });
  }

  close() {
    this.closedByUs = true;
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close();
  }
}
