"""An MCP client calling a connection's server through the Asset Directory's proxy, with the
official Python SDK (`mcp`): it holds the proxy's URL and a short-lived proxy token, never the
upstream token. Run: DIRECTORY=… ENGINE_KEY=… REF_ID=… python proxy_client.py
The tests run this file as it is."""

import json
import os

import anyio
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main() -> None:
    directory, engine_key, ref_id = os.environ["DIRECTORY"], os.environ["ENGINE_KEY"], os.environ["REF_ID"]
    # The engine's backend asks for the connection's proxy access (the engine key stays there).
    credentials = httpx.get(
        f"{directory}/assets/connections/{ref_id}/credentials", headers={"X-Engine-Key": engine_key}
    ).json()
    proxy = credentials["proxy"]
    # The MCP client gets only the URL and the token.
    headers = {"Authorization": f"Bearer {proxy['token']}"}
    async with streamablehttp_client(proxy["url"], headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool("echo", {"text": "hello"})
            print(json.dumps({"tools": [t.name for t in tools.tools], "echo": result.content[0].text}))


anyio.run(main)
