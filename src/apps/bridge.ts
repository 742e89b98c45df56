/**
 * The view side of the MCP Apps protocol (@modelcontextprotocol/ext-apps 2.0.4, protocol 2026-01-26), written out
 * small instead of bundling the extension's App class (664 KB minified with its dependencies): JSON-RPC over
 * postMessage with the host window only. It asks ui/initialize, says ui/notifications/initialized, applies the
 * host's theme and style variables, reports its size, hands tool input and results to the view, answers the host's
 * requests (teardown) and lets the view call the server's tools through the host (tools/call). Every view embeds it.
 */
export const PROTOCOL_VERSION = "2026-01-26";

export const BRIDGE_JS = `
const lam = (() => {
  const pending = new Map();
  let nextId = 1;
  const handlers = { input: [], result: [], cancelled: [] };
  const post = (message) => window.parent.postMessage(message, "*");
  const request = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      post({ jsonrpc: "2.0", id, method, params });
    });
  const applyContext = (context) => {
    if (!context) return;
    if (context.theme === "dark" || context.theme === "light") document.documentElement.dataset.theme = context.theme;
    const variables = context.styles && context.styles.variables;
    if (variables) for (const [key, value] of Object.entries(variables)) if (typeof value === "string") document.documentElement.style.setProperty(key, value);
  };
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.id !== undefined && message.method === undefined) {
      const waiter = pending.get(message.id);
      if (!waiter) return;
      pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error.message || "request failed"));
      else waiter.resolve(message.result);
      return;
    }
    if (message.method === "ui/notifications/tool-input") handlers.input.forEach((h) => h(message.params || {}));
    else if (message.method === "ui/notifications/tool-result") handlers.result.forEach((h) => h(message.params || {}));
    else if (message.method === "ui/notifications/tool-cancelled") handlers.cancelled.forEach((h) => h(message.params || {}));
    else if (message.method === "ui/notifications/host-context-changed") applyContext(message.params);
    else if (message.id !== undefined) post({ jsonrpc: "2.0", id: message.id, result: {} });
  });
  const ready = request("ui/initialize", {
    appInfo: { name: document.title || "lam-mcp view", version: "1" },
    appCapabilities: {},
    protocolVersion: "${PROTOCOL_VERSION}",
  }).then((result) => {
    applyContext(result && result.hostContext);
    post({ jsonrpc: "2.0", method: "ui/notifications/initialized", params: {} });
    let last = "";
    new ResizeObserver(() => {
      const size = { width: Math.ceil(document.documentElement.scrollWidth), height: Math.ceil(document.documentElement.scrollHeight) };
      const key = size.width + "x" + size.height;
      if (key !== last) {
        last = key;
        post({ jsonrpc: "2.0", method: "ui/notifications/size-changed", params: size });
      }
    }).observe(document.documentElement);
    return result;
  });
  return {
    ready,
    onInput: (h) => handlers.input.push(h),
    onResult: (h) => handlers.result.push(h),
    onCancelled: (h) => handlers.cancelled.push(h),
    callTool: (name, args) => request("tools/call", { name, arguments: args }),
  };
})();
`;
