"""C2SP signed notes and checkpoints: the published vectors of golang.org/x/mod/sumdb/note,
byte-exact signing, round trips and tampering."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from src.verifier.note import (
    Checkpoint,
    NoteError,
    Signer,
    VerifierKey,
    format_checkpoint,
    key_id,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    verifier_key,
)

# --- Published vectors -------------------------------------------------------------------------
# From golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier, TestSign, TestOpen), as in
# Debian's golang-golang-x-mod-dev (/usr/share/gocode/src/golang.org/x/mod/sumdb/note/).

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
    "fqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)

PETER = parse_verifier_key(PETER_VKEY)
ENOCH = parse_verifier_key(ENOCH_VKEY)
PETER_NOTE = TEXT + "\n" + PETER_SIG


def peter_signer() -> Signer:
    # The signer key is "PRIVATE+KEY+<name>+<key id>+base64(0x01 || Ed25519 seed)".
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert raw[0] == 0x01
    return Signer.from_seed(raw[1:], "PeterNeumann")


def test_go_verifier_keys_parse_and_print_back() -> None:
    assert PETER.name == "PeterNeumann"
    assert PETER.key_id == bytes.fromhex("c74f20a3")
    assert str(PETER) == PETER.encode() == PETER_VKEY
    assert str(ENOCH) == ENOCH_VKEY
    assert key_id(PETER.name, PETER.public_key) == PETER.key_id
    assert verifier_key(PETER.name, PETER.public_key) == PETER


KEY_PROBLEM = "verifier key is|key name|key id|base64|algorithm|32 bytes"


def test_go_verifier_key_manglings_are_refused() -> None:
    # TestNewVerifier: every proper substring, and every byte plus one, is refused.
    key = PETER_VKEY
    for i in range(len(key) + 1):
        for j in range(i + 1, len(key) + 1):
            if (i, j) != (0, len(key)):
                with pytest.raises(ValueError, match=KEY_PROBLEM):
                    parse_verifier_key(key[i:j])
    for i in range(len(key)):
        with pytest.raises(ValueError, match=KEY_PROBLEM):
            parse_verifier_key(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # TestNewVerifier's two bad keys: a wrong key length and an unknown algorithm, each
        # with a key id that matches.
        (
            # (Its base64 is not even canonical: "Y==" leaves bits set that Go ignores.)
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "not canonical base64",
        ),
        (
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "unsupported key algorithm 0x65",
        ),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lower-case hex"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not canonical"),
        ("PeterNeumann+c74f20a3", "is <name>+"),
    ],
)
def test_bad_verifier_keys_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_verifier_key(text)


def test_a_longer_key_with_a_matching_id_is_refused() -> None:
    raw = b"\x01" + PETER.public_key + b"more"
    key_hash = hashlib.sha256(b"PeterNeumann\n" + raw).digest()[:4].hex()
    text = f"PeterNeumann+{key_hash}+{base64.b64encode(raw).decode()}"
    with pytest.raises(ValueError, match="public key is 32 bytes, got 36"):
        parse_verifier_key(text)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u0085b", "a\u2003b", "a\u3000b", "a\x1fb"]
)
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid key name"):
        verifier_key(name, PETER.public_key)
    with pytest.raises(ValueError, match="invalid key name"):
        Signer(Ed25519PrivateKey.generate(), name)


def test_a_verifier_key_checks_its_parts() -> None:
    with pytest.raises(ValueError, match="does not match"):
        VerifierKey("PeterNeumann", bytes(4), PETER.public_key)
    with pytest.raises(ValueError, match="32 bytes"):
        VerifierKey("PeterNeumann", PETER.key_id, PETER.public_key[:31])


def test_signing_gives_gos_exact_bytes() -> None:
    signer = peter_signer()
    assert signer.name == "PeterNeumann"
    assert str(signer.verifier_key) == PETER_VKEY
    assert signer.sign(TEXT) == PETER_NOTE


def test_go_notes_open() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, PETER) == TEXT
    assert open_note(note, ENOCH) == TEXT  # signatures by other keys are ignored
    assert open_note(note.encode(), PETER) == TEXT
    assert open_note(TEXT + "\n" + ENOCH_SIG + PETER_SIG, PETER) == TEXT


def test_a_note_needs_a_signature_by_the_key() -> None:
    with pytest.raises(NoteError, match="no signature by PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + ENOCH_SIG, PETER)
    # TestOpen's misnamed signature and wrong key id: not this key's signatures at all.
    for sig in (
        PETER_SIG.replace("PeterNeumann", "CarmenSandiego"),
        PETER_SIG.replace("x08g", "xxxx"),
    ):
        with pytest.raises(NoteError, match="no signature by"):
            open_note(TEXT + "\n" + sig, PETER)


def test_signatures_are_capped_at_one_hundred() -> None:
    assert open_note(TEXT + "\n" + PETER_SIG * 100, PETER) == TEXT
    with pytest.raises(NoteError, match="more than 100 signatures"):
        open_note(TEXT + "\n" + PETER_SIG * 101, PETER)


def test_a_bad_signature_by_the_key_rejects_the_note() -> None:
    # TestOpen's "invalid signature": four characters spliced in at byte 60.
    sig = PETER_SIG.encode()
    spliced = (sig[:60] + b"ABCD" + sig[60:]).decode()
    with pytest.raises(NoteError, match="not valid"):
        open_note(TEXT + "\n" + spliced, PETER)
    # The spec: a failing signature by a known key rejects the note, even beside a good one
    # (Go's note.Open checks only the first signature of each key).
    with pytest.raises(NoteError, match="not valid"):
        open_note(TEXT + "\n" + PETER_SIG + spliced, PETER)


def test_go_duplicated_signatures_open() -> None:
    sig = ENOCH_SIG.encode()
    enoch_abcd = (sig[:60] + b"ABCD" + sig[60:]).decode()
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    assert open_note(note, PETER) == TEXT


@pytest.mark.parametrize(
    "note",
    [
        # TestOpen's malformed messages.
        TEXT.encode(),
        (TEXT + "\n").encode(),
        (TEXT + "\n" + PETER_SIG[:-1]).encode(),
        ("\x01" + TEXT + "\n" + PETER_SIG).encode(),
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
        (TEXT + "\n" + "\u2014 Bad Name " + PETER_SIG.split(" ")[2].rstrip("\n")).encode(),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n").encode(),
        # And more.
        (TEXT + "\n" + PETER_SIG.replace("\u2014", "-")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("\u2014 ", "\u2014")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("M=\n", "M\n")).encode(),
        (TEXT + "\n\u2014 PeterNeumann\n").encode(),
        (TEXT + "\n\u2014 PeterNeumann x08g\n").encode(),
        (TEXT.replace("\n", "\r\n", 1) + "\n" + PETER_SIG).encode(),
        "\ud800".join([TEXT, "\n" + PETER_SIG]),
    ],
)
def test_malformed_notes_are_refused(note: str | bytes) -> None:
    with pytest.raises(NoteError, match="malformed note"):
        open_note(note, PETER)


def test_every_flipped_bit_is_refused() -> None:
    note = PETER_NOTE.encode()
    for bit in range(len(note) * 8):
        changed = bytearray(note)
        changed[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(NoteError):
            open_note(bytes(changed), PETER)


def test_wrong_keys_are_refused() -> None:
    other = Signer(Ed25519PrivateKey.generate(), "PeterNeumann")
    with pytest.raises(NoteError, match="no signature by"):
        open_note(PETER_NOTE, other.verifier_key)  # same name, another key
    renamed = verifier_key("PeterNeumann2", PETER.public_key)
    with pytest.raises(NoteError, match="no signature by"):
        open_note(PETER_NOTE, renamed)  # same key, another name
    # Another key's signature under Peter's name and key id: a bad signature by Peter.
    forged = other.sign(TEXT).split(" ")[-1]
    raw = base64.b64decode(forged)
    line = "\u2014 PeterNeumann " + base64.b64encode(PETER.key_id + raw[4:]).decode() + "\n"
    with pytest.raises(NoteError, match="not valid"):
        open_note(TEXT + "\n" + line, PETER)


def test_reordered_lines_are_refused() -> None:
    first, second = TEXT.splitlines(keepends=True)
    with pytest.raises(NoteError, match="not valid"):
        open_note(second + first + "\n" + PETER_SIG, PETER)
    with pytest.raises(NoteError, match="malformed"):
        open_note(PETER_SIG + "\n" + TEXT, PETER)
    with pytest.raises(NoteError, match="malformed"):
        open_note(TEXT + PETER_SIG, PETER)
    with pytest.raises(NoteError, match="malformed"):
        open_note(first + "\n" + second + PETER_SIG, PETER)


note_texts = st.text(
    st.characters(
        exclude_categories=["Cs"],  # lone surrogates cannot be UTF-8
        exclude_characters="".join(chr(c) for c in range(0x20) if c != 0x0A),
    )
).map(lambda text: text + "\n")


@given(note_texts)
def test_signed_notes_round_trip(text: str) -> None:
    signer = peter_signer()
    note = signer.sign(text)
    assert note == text + "\n" + note.splitlines(keepends=True)[-1]
    assert open_note(note, PETER) == text
    assert open_note(note.encode(), PETER) == text


@pytest.mark.parametrize("text", ["\n", "a\n\nb\n", "ends with a blank line\n\n", "\u2014 x y\n"])
def test_blank_lines_and_dashes_are_fine_in_text(text: str) -> None:
    assert open_note(peter_signer().sign(text), PETER) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ends with a newline"),
        ("no newline", "ends with a newline"),
        ("tab\there\n", "control characters"),
        ("carriage return\r\n", "control characters"),
        ("nul\x00\n", "control characters"),
        ("lone surrogate \ud800\n", "UTF-8"),
    ],
)
def test_unsignable_texts_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        peter_signer().sign(text)


# --- Checkpoints -------------------------------------------------------------------------------

# c2sp.org/tlog-checkpoint's example.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")


def test_the_spec_checkpoint() -> None:
    checkpoint = parse_checkpoint(SPEC_CHECKPOINT)
    assert checkpoint == Checkpoint("example.com/behind-the-sofa", 20852163, SPEC_ROOT)
    assert format_checkpoint(checkpoint) == SPEC_CHECKPOINT


def test_extension_lines_are_kept() -> None:
    text = SPEC_CHECKPOINT + "first extension\nsecond one\n"
    checkpoint = parse_checkpoint(text)
    assert checkpoint.extensions == ("first extension", "second one")
    assert format_checkpoint(checkpoint) == text


checkpoints = st.builds(
    Checkpoint,
    origin=st.text(
        st.characters(
            exclude_categories=["Cs"],
            exclude_characters="".join(chr(c) for c in range(0x20)),
        ),
        min_size=1,
    ),
    size=st.integers(min_value=0, max_value=2**64),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.sampled_from(["ext", "a b c", "\u2014"]), max_size=3).map(tuple),
)


@given(checkpoints)
def test_checkpoints_round_trip_through_signed_notes(checkpoint: Checkpoint) -> None:
    text = format_checkpoint(checkpoint)
    assert parse_checkpoint(text) == checkpoint
    assert parse_checkpoint(open_note(peter_signer().sign(text), PETER)) == checkpoint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SPEC_CHECKPOINT[:-1], "newline"),
        ("example.com/log\n5\n", "want origin, tree size and root hash"),
        ("\n5\n" + SPEC_CHECKPOINT.split("\n")[2] + "\n", "origin"),
        (SPEC_CHECKPOINT.replace("20852163", "020852163"), "canonical decimal"),
        (SPEC_CHECKPOINT.replace("20852163", "+20852163"), "canonical decimal"),
        (SPEC_CHECKPOINT.replace("20852163", "-1"), "canonical decimal"),
        (SPEC_CHECKPOINT.replace("20852163", " 20852163"), "canonical decimal"),
        (SPEC_CHECKPOINT.replace("20852163", "20_852_163"), "canonical decimal"),
        (SPEC_CHECKPOINT.replace("20852163", "\u0661"), "canonical decimal"),  # Arabic-Indic 1
        (SPEC_CHECKPOINT.replace("20852163", ""), "canonical decimal"),
        (SPEC_CHECKPOINT.replace("20852163", "9" * 5000), "malformed checkpoint"),
        (SPEC_CHECKPOINT.replace("I=", "J="), "canonical base64"),  # stray low bits
        (SPEC_CHECKPOINT.replace("I=", "I"), "canonical base64"),
        (SPEC_CHECKPOINT.replace("CsUY", "CsU"), "canonical base64"),
        ("o\n1\n" + base64.b64encode(bytes(31)).decode() + "\n", "32 bytes"),
        (SPEC_CHECKPOINT + "\n", "non-empty lines"),
        (SPEC_CHECKPOINT + "ext\n\n", "non-empty lines"),
        (SPEC_CHECKPOINT.replace("example", "ex\tample"), "control characters"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_checkpoint(text)


def test_a_checkpoint_checks_its_fields() -> None:
    root = bytes(32)
    for origin in ("", "two\nlines", "nul\x00"):
        with pytest.raises(ValueError, match="origin"):
            Checkpoint(origin, 0, root)
    with pytest.raises(ValueError, match="non-negative"):
        Checkpoint("o", -1, root)
    with pytest.raises(ValueError, match="32 bytes"):
        Checkpoint("o", 0, root[:31])
    with pytest.raises(ValueError, match="extensions"):
        Checkpoint("o", 0, root, ("",))
