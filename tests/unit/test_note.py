"""C2SP signed notes, cosignatures and checkpoints, checked against an independent verifier."""

from __future__ import annotations

import base64
import hashlib

import nacl.exceptions
import nacl.signing
import pytest

from audit.checkpoint import (
    Checkpoint,
    open_checkpoint,
    origin_for,
    parse_checkpoint,
    sign_checkpoint,
)
from audit.errors import VerificationError
from audit.merkle import EMPTY_ROOT, leaf_hash
from audit.note import open_note, parse_note, sign_note
from audit.note_keys import (
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    parse_vkey,
)

# --- An independent verifier, written from https://c2sp.org/signed-note and
# https://c2sp.org/tlog-cosignature with PyNaCl; it shares no code with audit/. ---------------


def indep_verify_note(note: str, vkey: str) -> str:
    """Return the note text if ``vkey`` (name+hexid+base64(type||key)) signed it, else raise."""
    name, hex_id, material = vkey.split("+")
    raw = base64.b64decode(material, validate=True)
    sig_type, public_key = raw[0], raw[1:]
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == hex_id
    cut = note.rindex("\n\n")
    text, sig_lines = note[: cut + 1], note[cut + 2 :].splitlines()
    for line in sig_lines:
        dash, sig_name, blob = line.split(" ")
        assert dash == "\u2014"
        sig = base64.b64decode(blob, validate=True)
        if sig_name != name or sig[:4].hex() != hex_id:
            continue  # unknown key: ignored
        if sig_type == 0x01:
            message, signature = text.encode(), sig[4:]
        elif sig_type == 0x04:
            timestamp = int.from_bytes(sig[4:12], "big")
            message = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text.encode()
            signature = sig[12:]
        else:
            raise AssertionError("unsupported type")
        nacl.signing.VerifyKey(public_key).verify(message, signature)  # raises if bad
        return text
    raise AssertionError("no signature from that key")


# --- The reference vector of golang.org/x/mod/sumdb/note (note_test.go), the
# implementation the signed-note spec was extracted from. --------------------------------------

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# Examples from the spec texts themselves (no public keys are published for them).
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlr"
    "DJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)

ORIGIN = origin_for("test")


def test_go_reference_vector() -> None:
    signer = Ed25519Signer.from_skey(GO_SKEY)
    assert signer.vkey() == GO_VKEY
    assert signer.skey() == GO_SKEY
    assert sign_note(GO_TEXT, signer) == GO_NOTE  # Ed25519 is deterministic
    verifier = parse_vkey(GO_VKEY)
    assert isinstance(verifier, Ed25519Verifier)
    assert open_note(GO_NOTE, [verifier]).text == GO_TEXT
    assert indep_verify_note(GO_NOTE, GO_VKEY) == GO_TEXT
    with pytest.raises(VerificationError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), [verifier])


def test_key_id_is_sha256_of_name_newline_type_key() -> None:
    signer = Ed25519Signer.from_seed(ORIGIN, bytes(range(32)))
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + signer.public_key).digest()[:4]
    assert signer.key_id == expected
    assert signer.vkey() == (
        f"{ORIGIN}+{expected.hex()}+" + base64.b64encode(b"\x01" + signer.public_key).decode()
    )
    cosigner = CosignatureSigner.from_seed("w.example/1", bytes(range(32)))
    expected4 = hashlib.sha256(b"w.example/1\n\x04" + cosigner.public_key).digest()[:4]
    assert cosigner.key_id == expected4
    assert isinstance(parse_vkey(cosigner.vkey()), CosignatureVerifier)
    assert CosignatureSigner.from_skey(cosigner.skey()).vkey() == cosigner.vkey()


def test_vkey_manglings_are_rejected() -> None:
    parse_vkey(GO_VKEY)
    b = GO_VKEY.encode()
    for i in range(len(b)):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(ValueError):
                    parse_vkey(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(ValueError):
            parse_vkey(mangled.decode())


def test_hub_checkpoint_verifies_independently() -> None:
    signer = Ed25519Signer.from_seed(ORIGIN, b"\x07" * 32)
    cp = Checkpoint(ORIGIN, 3, leaf_hash(b"x"))
    note = sign_checkpoint(cp, signer)
    assert note.startswith(f"{ORIGIN}\n3\n{base64.b64encode(cp.root_hash).decode()}\n\n— {ORIGIN} ")
    assert indep_verify_note(note, signer.vkey()) == cp.to_text()
    assert open_checkpoint(note, signer.verifier(), origin=ORIGIN) == cp
    assert open_checkpoint(note, [parse_vkey(signer.vkey())]) == cp


def test_tampered_notes_fail() -> None:
    signer = Ed25519Signer.from_seed(ORIGIN, b"\x07" * 32)
    other = Ed25519Signer.from_seed(ORIGIN, b"\x08" * 32)
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"x")), signer)
    v = signer.verifier()
    text_tampered = note.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(VerificationError) as info:
        open_note(text_tampered, [v])
    assert info.value.reason == "bad_signature"
    with pytest.raises(nacl.exceptions.BadSignatureError):
        indep_verify_note(text_tampered, signer.vkey())

    line = note.split("\n")[-2]
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[10] ^= 1
    sig_tampered = note.replace(line.split(" ")[2], base64.b64encode(bytes(blob)).decode())
    with pytest.raises(VerificationError):
        open_note(sig_tampered, [v])

    # Same name, other key: the signature is from an unknown key and is ignored.
    with pytest.raises(VerificationError) as info:
        open_note(note, [other.verifier()])
    assert info.value.reason == "unknown_signer"
    # A good signature does not rescue a bad one from another known key.
    both = sign_note(Checkpoint(ORIGIN, 3, leaf_hash(b"x")).to_text(), signer, other)
    other_blob = both.split("\n")[-2].split(" ")[2]
    raw = bytearray(base64.b64decode(other_blob))
    raw[20] ^= 1
    forged = both.replace(other_blob, base64.b64encode(bytes(raw)).decode())
    assert open_note(both, [v, other.verifier()]).sigs
    with pytest.raises(VerificationError):
        open_note(forged, [v, other.verifier()])
    with pytest.raises(VerificationError):
        open_checkpoint(note, v, origin="elsewhere.linkage-hub/ledger")


@pytest.mark.parametrize(
    "bad",
    [
        "text\n",  # no signature block
        "text\n\n",  # empty signature block
        "text\n\n— name AAAAAAA=",  # no final newline
        "text\n\nname AAAAAAAA\n",  # no em dash
        "text\n\n— name AAAA\n",  # signature shorter than 5 bytes
        "text\n\n— na+me AAAAAAAA\n",  # '+' in key name
        "text\n\n— name AAAA AAAA\n",  # space in base64
        "text\n\n— name AAAAAA-_\n",  # URL-safe alphabet
        "te\x01xt\n\n— name AAAAAAAA\n",  # control character
        "text\n\n" + "— name AAAAAAAA\n" * 101,  # too many signatures
    ],
)
def test_malformed_notes_are_rejected(bad: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_note(bad)
    assert info.value.reason == "malformed_note"


def test_spec_examples_parse() -> None:
    note = parse_note(SPEC_CHECKPOINT)
    cp = parse_checkpoint(note.text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert cp.to_text() == note.text
    cosig = note.unverified_sigs[1]
    assert cosig.name == "witness.example.com/w1"
    # The spec's cosigned message example uses "time 1679315147".
    assert CosignatureVerifier.timestamp(cosig.signature) == 1679315147
    quasimodo = parse_note(
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
        "\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJK"
        "ONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
    )
    assert quasimodo.text.endswith("\n\ned è subito sera.\n")  # split at the last blank line


def test_cosignature_v1_verifies_independently() -> None:
    signer = Ed25519Signer.from_seed(ORIGIN, b"\x07" * 32)
    cosigner = CosignatureSigner.from_seed("witness.example/w1", b"\x09" * 32, clock=lambda: 1)
    cp = Checkpoint(ORIGIN, 5, leaf_hash(b"y"))
    note = sign_checkpoint(cp, signer)
    cosigned = note + sign_note(cp.to_text(), cosigner).split("\n\n", 1)[1]
    sig = open_note(cosigned, [cosigner.verifier()]).sigs[0]
    assert CosignatureVerifier.timestamp(sig.signature) == 1
    assert indep_verify_note(cosigned, cosigner.vkey()) == cp.to_text()
    assert indep_verify_note(cosigned, signer.vkey()) == cp.to_text()
    # The 0x04 key does not verify as a plain note key, nor the other way round.
    plain = Ed25519Verifier("witness.example/w1", cosigner.public_key)
    with pytest.raises(VerificationError):
        open_note(cosigned, [plain])
    at = cosigner.sign_at(cp.to_text(), 1_700_000_000)
    assert cosigner.verifier().verify(cp.to_text(), at)
    assert not cosigner.verifier().verify(cp.to_text(), (1_700_000_001).to_bytes(8, "big") + at[8:])


def test_checkpoint_text_round_trip() -> None:
    root = bytes.fromhex("fb" * 32)  # base64 with '+' and '/'
    cp = Checkpoint(ORIGIN, 1234, root, ("ext one",))
    text = cp.to_text()
    assert text == f"{ORIGIN}\n1234\n{base64.b64encode(root).decode()}\next one\n"
    assert parse_checkpoint(text) == cp == Checkpoint.parse(text)
    assert Checkpoint(ORIGIN, 0, EMPTY_ROOT).to_text() == (
        f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    )
    assert ORIGIN == "test.linkage-hub/ledger"


@pytest.mark.parametrize(
    "bad",
    [
        "o\n1\n" + base64.b64encode(b"\x01" * 32).decode(),  # no trailing newline
        "o\n01\n" + base64.b64encode(b"\x01" * 32).decode() + "\n",  # leading zero
        "o\n+1\n" + base64.b64encode(b"\x01" * 32).decode() + "\n",
        "o\n1 \n" + base64.b64encode(b"\x01" * 32).decode() + "\n",
        "o\n١\n" + base64.b64encode(b"\x01" * 32).decode() + "\n",  # non-ASCII digit
        "o\n1\n" + base64.b64encode(b"\x01" * 31).decode() + "\n",  # short root
        "o\n1\n" + base64.urlsafe_b64encode(b"\xfb" * 32).decode() + "\n",
        "o\n1\n" + base64.b64encode(b"\x01" * 32).decode().rstrip("=") + "\n",  # no padding
        "o\n1\n" + base64.b64encode(b"\x01" * 32).decode() + "\n\n",  # empty extension
        "\n1\n" + base64.b64encode(b"\x01" * 32).decode() + "\n",  # empty origin
        "o\n1\n",  # too few lines
        "o\n0\n" + base64.b64encode(b"\x01" * 32).decode() + "\n",  # empty tree, wrong root
        "o\n18446744073709551616\n" + base64.b64encode(b"\x01" * 32).decode() + "\n",
    ],
)
def test_strict_checkpoint_parsing(bad: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_checkpoint(bad)
    assert info.value.reason == "malformed_checkpoint"
