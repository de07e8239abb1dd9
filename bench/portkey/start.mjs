// bench/portkey/start.mjs: starts the pinned Portkey gateway on 127.0.0.1 only.
//
// Portkey 1.15.2's build/start-server.js reads `--port=N` (and `--headless`)
// from argv but calls @hono/node-server's serve({ fetch, port }) with no
// hostname, so it listens on every interface, and the bundle exports nothing
// to serve its app ourselves. This launcher pins the host of that one
// listen() call (net.Server.prototype.listen(port) -> listen(port, host))
// before importing the unmodified server.
// Usage: node start.mjs --port=N --headless   (PORTKEY_HOST overrides the host)
import net from "node:net";

const host = process.env.PORTKEY_HOST || "127.0.0.1";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const a0 = args[0];
  if (typeof a0 === "number" || (typeof a0 === "string" && /^\d+$/.test(a0))) {
    if (typeof args[1] !== "string") {
      if (args[1] === undefined || args[1] === null) args[1] = host;
      else args.splice(1, 0, host); // listen(port, backlog|callback)
    }
  } else if (a0 && typeof a0 === "object" && a0.port !== undefined && !a0.host && !a0.path) {
    args[0] = { ...a0, host };
  }
  return listen.apply(this, args);
};

// Portkey clears the terminal and draws a spinner on stdout: keep our logs readable.
console.clear = () => {};

await import("./node_modules/@portkey-ai/gateway/build/start-server.js");
