"""The server's keep-alive timeout is the documented setting (HTTP_KEEP_ALIVE_SECONDS).

A client or load balancer must not reuse a connection the server may be closing: the request
sent on it would get no answer (the crash test's writers retry it). So the timeout is a
setting an operator sets above the idle timeout of whatever stands in front.
"""

import asyncio
from collections.abc import Callable

from tests.support.api_process import ApiProcess

KEEP_ALIVE_SECONDS = 1  # uvicorn's own default is 5: the test tells the two apart
LATE_BY_AT_MOST = 3  # how late a loaded machine's timer may fire


async def idle_connection_closed_after(api: ApiProcess, *, wait: float) -> bool:
    """Whether the server closed an idle connection by `wait` seconds after its response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: trailmark.test\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        try:
            rest = await asyncio.wait_for(reader.read(1), timeout=wait)
        except TimeoutError:
            return False  # still open: nothing, not even the end of the stream, arrived
        assert rest == b"", rest  # the end of the stream, not a stray byte
        return True
    finally:
        writer.close()


async def test_an_idle_connection_lives_for_the_setting_and_no_longer(
    start_api: Callable[..., ApiProcess],
) -> None:
    api = start_api(http_keep_alive_seconds=str(KEEP_ALIVE_SECONDS))
    # Open for at least the setting (a loaded machine may close it late, never early)...
    assert not await idle_connection_closed_after(api, wait=KEEP_ALIVE_SECONDS / 2)
    # ...and then closed by the server, well before uvicorn's default would close it.
    assert await idle_connection_closed_after(api, wait=KEEP_ALIVE_SECONDS + LATE_BY_AT_MOST)
