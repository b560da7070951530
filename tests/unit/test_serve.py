import urllib.request

from aiohttp import web

from wandb_cassettes.record import BackgroundServer


def _app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi " + request.path)

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    return app


def test_serves_on_loopback_and_stops():
    server = BackgroundServer(_app()).start()
    url = server.url
    assert url.startswith("http://127.0.0.1:")
    assert urllib.request.urlopen(url + "/x").read() == b"hi /x"
    server.stop()
    try:
        urllib.request.urlopen(url + "/x", timeout=2)
    except OSError:
        pass
    else:
        raise AssertionError("server still answers after stop()")


def test_call_runs_on_server_loop():
    with BackgroundServer(_app()) as server:

        async def where() -> bool:
            import asyncio

            return asyncio.get_running_loop() is server.loop

        assert server.call(where) is True
