"""Minimal DER reader/writer for the few structures `cryptography` does not expose.

Owns: TLV encoding/decoding used to (a) write SAT-style PBES2/3DES ``.key`` files, (b) check that a
``.key`` is an EncryptedPrivateKeyInfo before trying a password, and (c) pull the exact issuer
subject and public-key bytes out of a certificate for OCSP CertID hashes. Not a general ASN.1
library: definite lengths only, no high-tag-number form.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06


class DerError(ValueError):
    """Input is not the DER structure the caller expected."""


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes
    raw: bytes  # the full encoding (tag + length + value), e.g. to hash a Name exactly as signed


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative integers are needed here")
    # +1 bit keeps the high bit clear so the value is not read as negative.
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for arc in parts[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


def read(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Decode one TLV at ``offset``; return it and the offset just past it."""
    try:
        tag = data[offset]
        first = data[offset + 1]
        pos = offset + 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise DerError("unsupported DER length form")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
    except IndexError as exc:
        raise DerError("truncated DER") from exc
    end = pos + length
    if end > len(data):
        raise DerError("truncated DER")
    return Tlv(tag, data[pos:end], data[offset:end]), end


def children(value: bytes) -> list[Tlv]:
    """Decode the concatenated TLVs inside a constructed value."""
    items: list[Tlv] = []
    offset = 0
    while offset < len(value):
        item, offset = read(value, offset)
        items.append(item)
    return items


def read_exact(data: bytes, tag: int) -> Tlv:
    """Decode ``data`` as exactly one TLV with the given tag."""
    item, end = read(data)
    if item.tag != tag or end != len(data):
        raise DerError(f"expected a single TLV with tag {tag:#x}")
    return item


def decode_oid(value: bytes) -> str:
    if not value:
        raise DerError("empty OID")
    first = value[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    acc = 0
    for byte in value[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(acc)
            acc = 0
    return ".".join(str(a) for a in arcs)


def tbs_subject_and_key(tbs_certificate: bytes) -> tuple[bytes, bytes]:
    """Return (subject Name DER, subjectPublicKey BIT STRING contents) from a TBSCertificate.

    These are exactly what RFC 6960 CertID hashes (issuerNameHash / issuerKeyHash) cover.
    """
    fields = children(read_exact(tbs_certificate, SEQUENCE).value)
    # Optional [0] EXPLICIT version comes first in v3 certificates.
    if fields and fields[0].tag == 0xA0:
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
    if len(fields) < 6:
        raise DerError("TBSCertificate too short")
    subject, spki = fields[4], fields[5]
    spki_fields = children(spki.value)
    if len(spki_fields) != 2 or spki_fields[1].tag != BIT_STRING:
        raise DerError("bad SubjectPublicKeyInfo")
    bits = spki_fields[1].value
    # First byte of a BIT STRING is the unused-bit count; keys are whole bytes.
    return subject.raw, bits[1:]
