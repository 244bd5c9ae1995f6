// An MCP client calling a connection's server through the Asset Directory's proxy, with the
// official TypeScript SDK: it holds the proxy's URL and a short-lived proxy token, never the
// upstream token. Run: DIRECTORY=… ENGINE_KEY=… REF_ID=… node proxy_client.mjs
// (with @modelcontextprotocol/sdk installed next to it). The tests run this file as it is.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const { DIRECTORY: directory, ENGINE_KEY: engineKey, REF_ID: refId } = process.env;

// The engine's backend asks for the connection's proxy access (the engine key stays there).
const answer = await fetch(`${directory}/assets/connections/${refId}/credentials`, {
  headers: { "X-Engine-Key": engineKey },
});
const credentials = await answer.json();

// The MCP client gets only the URL and the token.
const transport = new StreamableHTTPClientTransport(new URL(credentials.proxy.url), {
  requestInit: { headers: { Authorization: `Bearer ${credentials.proxy.token}` } },
});
const client = new Client({ name: "my-agent", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const result = await client.callTool({ name: "echo", arguments: { text: "hello" } });
console.log(JSON.stringify({ tools: tools.tools.map((t) => t.name), echo: result.content[0].text }));
await transport.terminateSession();
await client.close();
