"""The server secret: where a process gets it, and the sealed check value that makes every process hold the same.

Auth Tokens and SMPP passwords are sealed with the secret and every credential is looked up by a digest keyed
with it, so all processes of one database need the same one. It comes from `MYCPAAS_SECRET` (the value, hex),
or the file `MYCPAAS_SECRET_FILE` names (a mounted secret on each machine), or else `<data dir>/secret.key`,
which only `serve` and `migrate` create, and only when the database holds nothing sealed yet.

The database keeps a value sealed with the secret (`platform_state.secret_check`), written once by the first
process that starts on it. Every process unseals it at start and refuses to go on if it cannot: a process
with another secret would otherwise accept no credential and seal new tokens no other process can read. A
database from before the check value gets it only from a secret that unseals what is already stored.

Messages name where the secret came from, never its value.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

from mycpaas.domain.clock import utcnow
from mycpaas.domain.credentials import SERVER_SECRET_BYTES, SecretBox, new_server_secret
from mycpaas.services.carriers import sealing_context
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import migrate
from mycpaas.storage import platform_state as store
from mycpaas.storage.database import Database

CHECK = "secret_check"
_CHECK_CONTEXT = "platform:secret_check"
_CHECK_TEXT = "mycpaas server secret check v1"
HEX_DIGITS = 2 * SERVER_SECRET_BYTES
_SHARE = (
    "Every process of one database needs the same secret: give this one the secret of the processes that "
    "already use it (MYCPAAS_SECRET, the file MYCPAAS_SECRET_FILE names, or the secret.key of their data "
    "directory)."
)


class SecretRefused(Exception):
    """This process has no usable server secret, or not the database's: it must not start."""


def source(settings: Settings) -> str:
    """Where the secret comes from, for messages: the variable's name or the file's path, never the value."""
    if settings.secret:
        return "MYCPAAS_SECRET"
    path = settings.secret_path.resolve()
    return f"{path} (MYCPAAS_SECRET_FILE)" if settings.secret_file else str(path)


def read(settings: Settings) -> bytes:
    """The secret's bytes, or SecretRefused saying what is missing or malformed and what to do."""
    if settings.secret and settings.secret_file:
        raise SecretRefused(
            "mycpaas: both MYCPAAS_SECRET and MYCPAAS_SECRET_FILE are set: give the server secret one way only."
        )
    if settings.secret:
        return _parse(settings.secret, source(settings))
    path = settings.secret_path
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SecretRefused(_missing(settings)) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not text"
        raise SecretRefused(f"mycpaas: cannot read the server secret {source(settings)}: {reason}") from None
    if not settings.secret_file and os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)  # ours: readable by its owner only
    return _parse(text, source(settings))


def validate(settings: Settings) -> None:
    """Before anything is created: refuse (SecretRefused) a secret that is given but missing or malformed. Only
    the default file may be absent, for `establish` to create."""
    if settings.secret or settings.secret_file or settings.secret_path.exists():
        read(settings)


async def check(platform: Platform) -> None:
    """Refuse (SecretRefused) a process whose secret does not unseal the database's check value; write the
    check value if the database has none yet."""
    await _check(platform.db, platform.secrets, platform.settings)


async def establish(settings: Settings) -> Path | None:
    """First start (`serve`, `migrate`, on a migrated database): create `<data dir>/secret.key` if no secret
    is given and none exists and the database holds nothing sealed, then `check`. Returns the file created."""
    db = Database(settings.effective_database_url)
    try:
        created = None
        if not settings.secret and not settings.secret_file and not settings.secret_path.exists():
            if await _holds_sealed_data(db):
                raise SecretRefused(
                    f"{_missing(settings)}\nThe database at {_where(settings)} was set up with a server secret "
                    "already (it holds values sealed with it), so no new one was created."
                )
            if _create(settings.secret_path):
                created = settings.secret_path.resolve()
        await _check(db, SecretBox(read(settings)), settings)
        return created
    finally:
        await db.dispose()


def _parse(text: str, where: str) -> bytes:
    text = text.strip()
    if len(text) != HEX_DIGITS or any(c not in string.hexdigits for c in text):
        raise SecretRefused(
            f"mycpaas: the server secret from {where} is not {HEX_DIGITS} hexadecimal digits "
            f"({SERVER_SECRET_BYTES} bytes); its value is not shown. A new installation can make one with "
            f"`openssl rand -hex {SERVER_SECRET_BYTES}`. {_SHARE}"
        )
    return bytes.fromhex(text)


def _missing(settings: Settings) -> str:
    path = settings.secret_path.resolve()
    if settings.secret_file:
        return (
            f"mycpaas: no server secret at {path} (named by MYCPAAS_SECRET_FILE). Put there the secret that "
            "every mycpaas process of this database shares, or correct MYCPAAS_SECRET_FILE."
        )
    return (
        f"mycpaas: no server secret at {path}. The database's tokens and passwords are sealed with the secret "
        "that `mycpaas serve` created in its data directory (secret.key): point --data-dir or MYCPAAS_DATA_DIR "
        "at that directory, or give the secret with MYCPAAS_SECRET or MYCPAAS_SECRET_FILE."
    )


def _where(settings: Settings) -> str:
    return migrate.describe(settings.effective_database_url)


def _create(path: Path) -> bool:
    """Write a new secret to `path` (mode 0600) unless a file appears there first: whole or not at all, so a
    process starting beside this one never reads a half-written file. False if another process won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(new_server_secret().hex().encode())
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(draft, path)
    except FileExistsError:
        return False
    finally:
        draft.unlink()
    return True


def _opens(box: SecretBox, sealed: str, context: str) -> str | None:
    try:
        return box.decrypt(sealed, context)
    except Exception:  # InvalidTag, or not base64: either way this secret does not open it
        return None


async def _holds_sealed_data(db: Database) -> bool:
    async with db.read() as conn:
        return (
            await store.get(conn, CHECK) is not None
            or await store.one_sealed_token(conn) is not None
            or await store.one_sealed_carrier_password(conn) is not None
        )


async def _check(db: Database, box: SecretBox, settings: Settings) -> None:
    async with db.read() as conn:
        sealed = await store.get(conn, CHECK)
    if sealed is None:
        await _first_check_value(db, box, settings)
        async with db.read() as conn:  # ours, or the one a process starting at the same time wrote first
            sealed = await store.get(conn, CHECK)
        assert sealed is not None
    if _opens(box, sealed, _CHECK_CONTEXT) != _CHECK_TEXT:
        raise SecretRefused(
            f"mycpaas: the server secret from {source(settings)} is not the one of the database at "
            f"{_where(settings)}: its tokens and passwords are sealed with another. {_SHARE} Nothing was changed."
        )


async def _first_check_value(db: Database, box: SecretBox, settings: Settings) -> None:
    """Write the check value, if what the database holds already (a database from before the check value)
    opens with this secret."""
    async with db.read() as conn:
        token = await store.one_sealed_token(conn)
        password = await store.one_sealed_carrier_password(conn)
    samples = []
    if token is not None:
        samples.append((token[1], token[0]))
    if password is not None:
        samples.append((password[1], sealing_context(password[0])))
    if any(_opens(box, sealed, context) is None for sealed, context in samples):
        raise SecretRefused(
            f"mycpaas: the server secret from {source(settings)} cannot unseal the tokens or passwords stored "
            f"in the database at {_where(settings)}: they were sealed with another secret. {_SHARE} "
            "Nothing was changed."
        )
    try:
        async with db.write() as conn:
            await store.insert_new(conn, CHECK, box.encrypt(_CHECK_TEXT, _CHECK_CONTEXT), utcnow())
    except store.AlreadySet:
        pass  # another process starting at the same time wrote it first; the caller reads the one that stands
