"""C2SP signed notes with Ed25519 keys (c2sp.org/signed-note) and checkpoints
(c2sp.org/tlog-checkpoint), byte for byte as golang.org/x/mod/sumdb/note writes them.

A signed note is a text ending in a newline, a blank line, then signature lines:

    <text>
    (blank line)
    — <key name> base64(4-byte key id || signature)

A verifier key is `<name>+<8 hex digits of key id>+base64(0x01 || 32-byte public key)`.
"""

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM_ED25519 = 0x01
KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
HASH_SIZE = 32

# The spec asks verifiers to cap signatures (accepting at least 16); Go's note.Open allows 100.
MAX_SIGNATURES = 100

_SIGNATURE_PREFIX = "\u2014 "  # em dash, space

# ASCII control characters other than newline: a signed note must contain none.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_KEY_ID_HEX = re.compile("[0-9a-f]{8}")
_DECIMAL = re.compile("0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note or checkpoint that is malformed, unsigned by the expected key or badly signed."""


# --- Keys --------------------------------------------------------------------------------------


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    data = name.encode() + b"\n" + bytes([ALGORITHM_ED25519]) + public_key
    return hashlib.sha256(data).digest()[:KEY_ID_SIZE]


def _name_problem(name: str) -> str | None:
    """Why `name` cannot be a key name, or None if it can."""
    if not name:
        return "a key name is not empty"
    # str.isspace is Unicode White_Space (what Go's unicode.IsSpace tests) plus U+001C..U+001F,
    # control characters that are refused anyway.
    if "+" in name or any(c.isspace() for c in name):
        return "a key name contains no space and no '+'"
    # Not in the spec's rule for names, but a note may not hold control characters, so a
    # name holding one could never sign a valid note.
    if _CONTROL.search(name):
        return "a key name contains no control characters"
    if not _is_utf8(name):
        return "a key name is valid UTF-8"
    return None


def _check_name(name: str) -> None:
    problem = _name_problem(name)
    if problem is not None:
        raise ValueError(f"invalid key name {name!r}: {problem}")


@dataclass(frozen=True)
class VerifierKey:
    """A public Ed25519 note key with its name and key id (checked to match)."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != PUBLIC_KEY_SIZE:
            raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
        if self.key_id != key_id(self.name, self.public_key):
            raise ValueError(f"key id {self.key_id.hex()} does not match the name and key")

    def encode(self) -> str:
        """`<name>+<8 lower-case hex digits of key id>+<base64(0x01 || public key)>`."""
        key = b64encode(bytes([ALGORITHM_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{key}"

    def __str__(self) -> str:
        return self.encode()


def verifier_key(name: str, public_key: bytes) -> VerifierKey:
    """The verifier key for an Ed25519 public key (32 raw bytes) under `name`."""
    _check_name(name)
    return VerifierKey(name, key_id(name, public_key), public_key)


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse `<name>+<key id>+<base64 key>`; ValueError saying what is wrong otherwise."""
    # The name has no '+', but base64 may: split at the first two only.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ValueError("a verifier key is <name>+<8 hex digit key id>+<base64 key>")
    name, id_hex, key_text = parts
    _check_name(name)
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise ValueError(f"a key id is 8 lower-case hex digits, got {id_hex!r}")
    raw = b64decode(key_text)
    if not raw:
        raise ValueError("the key is not canonical base64")
    if raw[0] != ALGORITHM_ED25519:
        raise ValueError(f"unsupported key algorithm {raw[0]:#04x}, only Ed25519 (0x01)")
    if len(raw) != 1 + PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(raw) - 1}")
    if bytes.fromhex(id_hex) != key_id(name, raw[1:]):
        raise ValueError(f"key id {id_hex} does not match the name and key")
    return VerifierKey(name, bytes.fromhex(id_hex), raw[1:])


# --- Signing and opening notes -----------------------------------------------------------------


class Signer:
    """Signs notes with an Ed25519 private key under a key name."""

    __slots__ = ("_private_key", "verifier_key")

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier_key = verifier_key(name, public_key)
        self._private_key = private_key

    @classmethod
    def from_seed(cls, seed: bytes, name: str) -> "Signer":
        """A signer from a 32-byte Ed25519 seed (RFC 8032 private key)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed), name)

    @property
    def name(self) -> str:
        """The key name."""
        return self.verifier_key.name

    def sign(self, text: str) -> str:
        """The signed note: `text`, a blank line and this key's signature line.

        The text must end with a newline and hold no ASCII control character but newline
        (it may hold blank lines: the last blank line of a note separates the signatures).
        """
        problem = _text_problem(text)
        if problem is not None:
            raise ValueError(f"cannot sign this text: {problem}")
        signature = self._private_key.sign(text.encode())
        key = self.verifier_key
        encoded = b64encode(key.key_id + signature)
        return f"{text}\n{_SIGNATURE_PREFIX}{key.name} {encoded}\n"


def _text_problem(text: str) -> str | None:
    """Why `text` cannot be a note's text, or None if it can."""
    if not text.endswith("\n"):
        return "a note's text ends with a newline"
    if _CONTROL.search(text):
        return "a note holds no control characters but newline"
    if not _is_utf8(text):
        return "a note is valid UTF-8"
    return None


@dataclass(frozen=True)
class _SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def open_note(note: str | bytes, key: VerifierKey) -> str:
    """The text of a signed note after checking `key` signed it; NoteError otherwise.

    At least one signature line must be by `key` (its name and key id), and every one by it
    must verify. Signatures by other keys are ignored, as the spec requires.
    """
    text, lines = _split_note(note)
    message = text.encode()
    public_key = Ed25519PublicKey.from_public_bytes(key.public_key)
    signed = False
    for line in lines:
        if line.name != key.name or line.key_id != key.key_id:
            continue
        if not _verifies(public_key, line.signature, message):
            raise NoteError(f"the signature by {key.name}+{key.key_id.hex()} is not valid")
        signed = True
    if not signed:
        raise NoteError(f"the note has no signature by {key.name}+{key.key_id.hex()}")
    return text


def _verifies(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _split_note(note: str | bytes) -> tuple[str, list[_SignatureLine]]:
    """The text and the signature lines of a note; NoteError if it is malformed."""
    if isinstance(note, bytes):
        try:
            note = note.decode()
        except UnicodeDecodeError:
            raise NoteError("malformed note: not valid UTF-8") from None
    elif not _is_utf8(note):
        raise NoteError("malformed note: not valid UTF-8")
    if _CONTROL.search(note):
        raise NoteError("malformed note: it holds a control character other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed note: it does not end with a signature line")
    raw_lines = block[:-1].split("\n")
    if len(raw_lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature_line(line) for line in raw_lines]


def _parse_signature_line(line: str) -> _SignatureLine:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError(f"malformed note: {line!r} is not '— <key name> <signature>'")
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    problem = _name_problem(name)
    if problem is not None:
        raise NoteError(f"malformed note: bad key name in a signature line: {problem}")
    raw = b64decode(encoded)
    if raw is None or len(raw) <= KEY_ID_SIZE:
        raise NoteError("malformed note: a signature is not canonical base64 of id + signature")
    return _SignatureLine(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


# --- Checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A transparency log checkpoint: the log's origin, its tree size and root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _is_line(self.origin):
            raise ValueError("a checkpoint origin is a non-empty line with no control characters")
        if type(self.size) is not int or self.size < 0:
            raise ValueError(f"a tree size is a non-negative integer, got {self.size!r}")
        if len(self.root_hash) != HASH_SIZE:
            raise ValueError(f"a root hash is {HASH_SIZE} bytes, got {len(self.root_hash)}")
        if not all(_is_line(line) for line in self.extensions):
            raise ValueError("checkpoint extensions are non-empty lines")


def _is_line(text: str) -> bool:
    return bool(text) and "\n" not in text and not _CONTROL.search(text) and _is_utf8(text)


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The checkpoint's note text: origin, decimal size, base64 root hash, extensions."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        b64encode(checkpoint.root_hash),
        *checkpoint.extensions,
    ]
    return "".join(f"{line}\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint's note text, strictly; NoteError if it is not one."""
    if not text.endswith("\n"):
        raise NoteError("malformed checkpoint: it does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("malformed checkpoint: want origin, tree size and root hash lines")
    origin, size_text, hash_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError(f"malformed checkpoint: tree size {size_text!r} is not canonical decimal")
    root_hash = b64decode(hash_text)
    if root_hash is None or len(root_hash) != HASH_SIZE:
        raise NoteError("malformed checkpoint: the root hash is not canonical base64 of 32 bytes")
    try:
        return Checkpoint(origin, int(size_text), root_hash, tuple(extensions))
    except ValueError as error:  # includes int() refusing a number too long to convert
        raise NoteError(f"malformed checkpoint: {error}") from None


# --- Encoding helpers --------------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    """Standard, padded base64: how signed notes, proofs and bundles spell bytes."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes | None:
    """Standard base64 in its one canonical form, or None.

    Canonical only (padding present, unused bits zero), so every changed character of an
    encoding changes what it decodes to.
    """
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII string
        return None
    return data if b64encode(data) == text else None


def _is_utf8(text: str) -> bool:
    """Whether `text` can be UTF-8 (a str may hold lone surrogates, which cannot)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
