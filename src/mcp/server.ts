// `upshift mcp`: the ten agent tools over MCP (the official SDK's low-level server, so a
// schema failure gets the same coded answer as on every other door). tools/list carries
// each tool's JSON Schema and annotations; tools/call answers the tool's JSON, `isError`
// when `ok` is false. Only registration lives here; tools/ holds the rest.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { callTool, inputSchema, TOOLS, type ToolEnv } from '../tools/index.js';

export function createMcpServer(env: ToolEnv, version: string): Server {
  const server = new Server({ name: 'upshift', version }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: TOOLS.map((t) => ({
      name: t.name,
      title: t.annotations.title,
      description: t.description,
      inputSchema: inputSchema(t) as { type: 'object'; properties?: Record<string, object> },
      annotations: t.annotations,
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const answer = await callTool(env, req.params.name, req.params.arguments ?? {});
    return {
      content: [{ type: 'text' as const, text: JSON.stringify(answer) }],
      structuredContent: answer as unknown as Record<string, unknown>,
      isError: !answer.ok,
    };
  });
  return server;
}
