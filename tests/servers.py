"""Throwaway Redis, PostgreSQL and MariaDB servers, the emulator and gunicorn as processes, on loopback, for
end-to-end tests and benchmarks; and the one way to run a helper process that answers in JSON.

Each server lives in a temporary folder and dies with its context manager. When a binary is missing
the caller gets :class:`ServerUnavailable`; tests skip on it locally, but under ``CI=true`` a missing
server fails the run instead, so CI cannot pass by testing less.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class ServerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise ServerUnavailable(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yield ``redis://127.0.0.1:<port>/0`` for a Redis that keeps nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="noojee-redis-") as folder:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                folder,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def _pg_binary(name: str) -> str:
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise ServerUnavailable(f"PostgreSQL's {name} is not installed")
    return found


@contextlib.contextmanager
def postgres_server(*, max_connections: int = 200) -> Iterator[str]:
    """Yield ``postgres://postgres@127.0.0.1:<port>/postgres`` for a fresh cluster with trust auth.

    PostgreSQL refuses to run as root; as root, the cluster is created and run as the ``postgres`` user.
    """
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise ServerUnavailable("running as root without runuser: cannot start PostgreSQL")
        as_user = [runuser, "-u", "postgres", "--"]
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="noojee-pg-"))
    data = folder / "data"
    try:
        if as_user:
            shutil.chown(folder, "postgres", "postgres")
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            f" -c max_connections={max_connections}"
        )
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    except subprocess.CalledProcessError as exc:
        raise ServerUnavailable(
            f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-500:]}"
        ) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _mariadb_binary(*names: str) -> str:
    for name in names:
        for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
            if (Path(folder) / name).exists():
                return str(Path(folder) / name)
        found = shutil.which(name)
        if found is not None:
            return found
    raise ServerUnavailable(f"MariaDB's {names[0]} is not installed (apt-get install mariadb-server)")


@contextlib.contextmanager
def mariadb_server(*, max_connections: int = 200, database: str = "noojee") -> Iterator[str]:
    """Yield ``mysql://root@127.0.0.1:<port>/<database>`` for a fresh MariaDB with no access control.

    The server runs with ``--skip-grant-tables`` (anyone on loopback is root: it lives only for the
    test) and the character set and collation Debian configures by default, ``utf8mb4`` with
    ``utf8mb4_general_ci``: the collation that ignores case and trailing spaces, which the app must
    not be fooled by. MariaDB refuses to run as root; as root, it runs as the ``mysql`` user.
    """
    install_db = _mariadb_binary("mariadb-install-db", "mysql_install_db")
    server = _mariadb_binary("mariadbd", "mysqld")
    try:
        import MySQLdb
    except ImportError as exc:
        raise ServerUnavailable("mysqlclient is not installed (pip install noojee-django[mysql])") from exc
    as_user = ["--user=mysql"] if os.geteuid() == 0 else []
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="noojee-mariadb-"))
    data, log_path = folder / "data", folder / "error.log"
    if as_user:
        shutil.chown(folder, "mysql", "mysql")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        try:
            subprocess.run(
                [install_db, "--no-defaults", f"--datadir={data}", *as_user, "--skip-test-db"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except subprocess.CalledProcessError as exc:
            said = exc.stderr.decode(errors="replace")[-500:]
            raise ServerUnavailable(f"mariadb-install-db failed: {said}") from exc
        log = cleanup.enter_context(open(log_path, "ab"))
        process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={data}",
                *as_user,
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={folder / 'mariadb.sock'}",
                f"--pid-file={folder / 'mariadb.pid'}",
                "--skip-grant-tables",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                f"--max-connections={max_connections}",
                # Throwaway data: durability buys nothing here and costs the tests time.
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--innodb-buffer-pool-size=64M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        cleanup.callback(process.wait, 10)
        cleanup.callback(process.kill)  # its data is thrown away: no shutdown to wait for
        try:
            _wait_for_port(port, process, timeout=60)
        except ServerUnavailable as exc:
            said = log_path.read_text(errors="replace")[-500:]
            raise ServerUnavailable(f"MariaDB did not start ({exc}): {said}") from exc
        connection = MySQLdb.connect(host="127.0.0.1", port=port, user="root")
        try:
            connection.cursor().execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        finally:
            connection.close()
        yield f"mysql://root@127.0.0.1:{port}/{database}"


def require(reason: str) -> None:
    """Skip the calling test, or fail it under CI=true where every server must be there."""
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required server unavailable under CI: {reason}")
    pytest.skip(reason)


def start_emulator(api_key: str, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """The emulator in its own process on a free loopback port, so its threads do not compete with a
    benchmark's for the GIL; returns the process and its base URL (its first line of output).

    ``options`` are the emulator's command-line options (``"--latency", "0.05"``). Stop it with
    ``terminate()``.
    """
    command = [sys.executable, "-m", "noojee_django.emulator", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--api-key", api_key, "--quiet", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    if not url.startswith("http"):
        process.kill()
        raise ServerUnavailable(f"the emulator did not start (it said {url!r})")
    return process, url


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workdir: Path, *, workers: int, threads: int) -> Iterator[str]:
    """Yield the base URL of gunicorn serving the example CRM; its log goes to ``workdir``."""
    port = free_port()
    log = open(workdir / "gunicorn.log", "ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "example_project.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {process.returncode}; see {workdir / 'gunicorn.log'}"
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(base + "/accounts/login/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def run_for_json(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    show_stderr: bool = False,
) -> Any:
    """Run a helper process (a driver, a drill, a seeding step) to its end; its last line of output is
    JSON. ``show_stderr`` lets its progress through to the terminal instead of keeping it for the error."""
    result = subprocess.run(
        list(command),
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=None if show_stderr else subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace")[-4000:] if result.stderr else ""
        raise RuntimeError(f"{' '.join(command[1:4])} failed with exit status {result.returncode}:\n{said}")
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """Yield ``http://127.0.0.1:<port>`` for moto's S3 API server, in its own process, keeping nothing.

    moto answers the S3 API as boto3 calls it (signatures checked for presence, not against keys), and
    refuses an anonymous GET of an object whose ACL is not public, as S3 does.
    """
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise ServerUnavailable("moto's S3 server is not installed (pip install 'moto[server]')")
    port = free_port()
    env = {**os.environ, "MOTO_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
