"""A real HTTP proxy for tests: Debian's tinyproxy on 127.0.0.1 (an ephemeral port), CONNECT allowed to every
port, optionally with Basic authentication. `.ci/run` installs it; tests that need it skip where it is missing.

Test support only. `requests()` lists the request lines the proxy received (from its log), so a test can tell
whether a GET or a CONNECT went through it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

TINYPROXY = shutil.which("tinyproxy") or ("/usr/bin/tinyproxy" if Path("/usr/bin/tinyproxy").exists() else None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tinyproxy:
    """`with Tinyproxy(tmp) as proxy:` runs tinyproxy in the foreground; `proxy.url` is `http://127.0.0.1:PORT`."""

    def __init__(self, tmp: Path, basic_auth: tuple[str, str] | None = None) -> None:
        assert TINYPROXY is not None, "tinyproxy is not installed (apt-get install tinyproxy)"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"tinyproxy-{self.port}.log"
        config = tmp / f"tinyproxy-{self.port}.conf"
        lines = [f"Port {self.port}", "Listen 127.0.0.1", "Timeout 30", "MaxClients 50", "LogLevel Connect",
                 f'LogFile "{self.log}"', "Allow 127.0.0.1"]  # no ConnectPort line: CONNECT to any port
        if basic_auth:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.chmod(0o777)  # tinyproxy may write its log as another user
        self._args = [TINYPROXY, "-d", "-c", str(config)]
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Tinyproxy:
        self._process = subprocess.Popen(self._args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"tinyproxy did not start: {self.log.read_text() if self.log.exists() else ''}")
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def requests(self) -> list[str]:
        """The request lines received so far ('GET http://... HTTP/1.1', 'CONNECT host:443 HTTP/1.1')."""
        if not self.log.exists():
            return []
        marker = "]: Request (file descriptor "
        return [line.split("): ", 1)[1].strip() for line in self.log.read_text(errors="replace").splitlines()
                if marker in line]
