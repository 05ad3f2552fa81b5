"""The checkpoint signing key: read from settings, made once for development, and the identity
(origin, signer, verifier key) it gives each tenant's log."""

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from src.config import Settings
from src.verifier import note

logger = logging.getLogger(__name__)

DEVELOPMENT_KEY_FILE = Path(__file__).resolve().parents[2] / ".data" / "log-signing-key"


class SigningKeyError(ValueError):
    """The configured signing key cannot be used (the message says why)."""


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def encode_seed(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(
        key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    ).decode()


def keygen() -> str:
    """A new signing key as the one JSON object `log keygen` prints (both halves base64)."""
    key = Ed25519PrivateKey.generate()
    return json.dumps(
        {
            "signing_key": encode_seed(key),
            "public_key": base64.b64encode(public_key_bytes(key)).decode(),
        }
    )


def parse_seed(text: str) -> Ed25519PrivateKey:
    """An Ed25519 key from the base64 of its 32-byte seed (surrounding white space ignored)."""
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise SigningKeyError("the log signing key is not base64") from None
    if len(seed) != 32:
        raise SigningKeyError("the log signing key must be the base64 of a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _development_key(path: Path) -> Ed25519PrivateKey:
    """The development key under `.data/`, made on first use and kept (mode 600)."""
    if path.exists():
        return parse_seed(path.read_text())
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name, then linked into place (which fails if the file
    # exists): two processes starting at once keep one key, and none reads a half-written one.
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(encode_seed(key) + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        return parse_seed(path.read_text())
    finally:
        draft.unlink()
    logger.info("made a development log signing key", extra={"path": str(path)})
    return key


def load_signing_key(
    settings: Settings, development_key_file: Path = DEVELOPMENT_KEY_FILE
) -> Ed25519PrivateKey:
    """The key from LOG_SIGNING_KEY or LOG_SIGNING_KEY_FILE; outside production, the
    development key kept under `.data/` (production settings cannot lack one)."""
    if settings.log_signing_key is not None:
        return parse_seed(settings.log_signing_key.get_secret_value())
    if settings.log_signing_key_file is not None:
        try:
            text = settings.log_signing_key_file.read_text()
        except OSError as error:
            raise SigningKeyError(f"cannot read LOG_SIGNING_KEY_FILE: {error.strerror}") from None
        return parse_seed(text)
    return _development_key(development_key_file)


@dataclass(frozen=True, slots=True)
class LogIdentity:
    """Who signs: one Ed25519 key; per tenant, the origin `<LOG_ORIGIN>/<tenant>` names it."""

    origin_prefix: str
    key: Ed25519PrivateKey

    def origin(self, tenant: str) -> str:
        return f"{self.origin_prefix}/{tenant}"

    def signer(self, tenant: str) -> note.Signer:
        return note.Signer(self.key, self.origin(tenant))

    def verifier_key(self, tenant: str) -> note.VerifierKey:
        return note.verifier_key(self.origin(tenant), public_key_bytes(self.key))


def log_identity(settings: Settings) -> LogIdentity:
    return LogIdentity(origin_prefix=settings.log_origin, key=load_signing_key(settings))
