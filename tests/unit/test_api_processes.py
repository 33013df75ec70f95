"""The shared API socket: connections accepted on it get TCP_NODELAY from asyncio."""

from __future__ import annotations

import asyncio
import socket

from ostium.control import api_processes


def test_accepted_connections_have_nodelay() -> None:
    listener = api_processes.bind("127.0.0.1", 0)
    port = listener.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()
            await writer.wait_closed()

    asyncio.run(main())
    # Without it, a response written as headers + body waits for the client's delayed
    # ACK: ~40 ms per request.
    assert seen and seen[0] != 0
