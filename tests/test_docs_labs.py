"""The lab handouts in docs/labs run as written.

``socket-api.md`` is a two-terminal REPL session: its ``python`` blocks say
``# terminal N`` and run, in document order, in one namespace per terminal
with top-level ``await`` (as ``python -m trio`` does); ``socket-api-asyncio.md``
is the same under ``asyncio.run`` (as ``python -m asyncio``).  A block that blocks
(``accept``) stays pending while the next terminal's blocks run, as it would
at a real prompt; a terminal's next block waits for its previous one.  The
other handouts are notebooks: their ``python`` blocks run in order in one
namespace, and their ``sh run`` blocks' ``emutcp`` lines run through the CLI.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
import shlex

import pytest
import trio
import trio.testing
from netns import free_udp_port

from emutcp.tools.cli import main

LABS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "labs"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(path: pathlib.Path) -> list[tuple[str, str, str]]:
    return [(m[1], m[2].strip(), m[3]) for m in FENCE.finditer(path.read_text())]


def test_every_handout_has_runnable_blocks():
    pages = sorted(p.name for p in LABS.glob("*.md") if p.name != "README.md")
    assert pages == [
        "congestion.md",
        "error-control.md",
        "socket-api-asyncio.md",
        "socket-api.md",
        "windows.md",
    ]
    for page in pages:
        assert any(lang == "python" for lang, _, _ in blocks(LABS / page)), page


async def test_socket_api_lab_in_two_repls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    port = str(free_udp_port())
    namespaces: dict[str, dict] = {}
    pending: dict[str, trio.Event] = {}
    steps = [(lang, src) for lang, _, src in blocks(LABS / "socket-api.md")]
    async with trio.open_nursery() as nursery:
        for lang, src in steps:
            if lang != "python":
                continue
            terminal = re.match(r"# terminal (\d)", src)
            assert terminal, f"a REPL block must say which terminal: {src[:60]!r}"
            term = terminal[1]
            if term in pending:
                with trio.fail_after(20):
                    await pending[term].wait()
            ns = namespaces.setdefault(term, {"__name__": f"terminal{term}"})
            code = compile(
                src.replace("9000", port),
                f"socket-api.md (terminal {term})",
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            )
            result = eval(code, ns)  # our own documentation
            if inspect.iscoroutine(result):
                done = pending[term] = trio.Event()

                async def run(coro=result, done=done) -> None:
                    try:
                        await coro
                    finally:
                        done.set()

                nursery.start_soon(run)
                # Like a person at the other prompt: act once this one is idle.
                await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        with trio.fail_after(20):
            for event in pending.values():
                await event.wait()
    server, client = namespaces["1"], namespaces["2"]
    assert str(client["client"].state) == "TIME-WAIT"
    assert str(server["conn"].state) == "CLOSED"
    assert server["data"] == b"hello from client"
    for name in ("client.pcapng", "server.pcapng"):
        assert (tmp_path / name).stat().st_size > 500


def repl_steps(page: str, port: str, port2: str) -> list[tuple[str, object]]:
    """The page's ``python`` blocks as (terminal, code) in document order."""
    steps = []
    for lang, _, src in blocks(LABS / page):
        if lang != "python":
            continue
        terminal = re.match(r"# terminal (\d)", src)
        assert terminal, f"a REPL block must say which terminal: {src[:60]!r}"
        code = compile(
            src.replace("9000", port).replace("9001", port2),
            f"{page} (terminal {terminal[1]})",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )
        steps.append((terminal[1], code))
    return steps


def test_socket_api_lab_in_two_asyncio_repls(tmp_path, monkeypatch):
    """As ``python -m asyncio``: a block that blocks (``accept``) runs on as a
    task while the other terminal's blocks run; a terminal's next block waits
    for its previous one.  Like a person at the other prompt, the next block
    starts once this one is done or has been waiting a moment (the trio
    runner's ``wait_all_tasks_blocked`` cushion; asyncio has no such call)."""
    import asyncio

    monkeypatch.chdir(tmp_path)
    steps = repl_steps("socket-api-asyncio.md", str(free_udp_port()), str(free_udp_port()))
    namespaces: dict[str, dict] = {}

    async def session() -> None:
        pending: dict[str, asyncio.Task] = {}
        async with asyncio.timeout(30):
            for term, code in steps:
                if term in pending:
                    await pending.pop(term)
                ns = namespaces.setdefault(term, {"__name__": f"terminal{term}"})
                result = eval(code, ns)  # our own documentation
                if inspect.iscoroutine(result):
                    task = pending[term] = asyncio.create_task(result)
                    await asyncio.wait({task}, timeout=0.2)
            for task in pending.values():
                await task

    asyncio.run(session())
    server, client = namespaces["1"], namespaces["2"]
    assert str(client["client"].state) == "TIME-WAIT"
    assert str(server["conn"].state) == "CLOSED"
    assert server["data"] == b"hello from client"
    assert str(client["sock"].state) in {"TIME-WAIT", "FIN-WAIT-2", "CLOSED"}
    for name in ("client.pcapng", "server.pcapng"):
        assert (tmp_path / name).stat().st_size > 1000


@pytest.mark.parametrize("page", ["error-control.md", "windows.md", "congestion.md"])
def test_notebook_handouts_run(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__lab__"}
    for lang, info, src in blocks(LABS / page):
        if lang == "python":
            exec(compile(src, page, "exec"), ns)  # our own documentation
        elif lang == "sh" and info == "run":
            for line in src.replace("\\\n", " ").splitlines():
                argv = shlex.split(line)
                if argv and argv[0] == "emutcp":
                    assert main(argv[1:]) == 0, line
    out = capsys.readouterr().out
    assert out.strip()
