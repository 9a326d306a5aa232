"""WeCom / WeChat callback crypto (WXBizMsgCrypt): AES-256-CBC with 32-byte PKCS#7, the SHA1 msg_signature, and
the XML / JSON envelopes around them. Written on ``cryptography`` and ``defusedxml``; every failure is a CryptoError."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import struct
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

SIGNATURE_INVALID = -40001
PARSE_ERROR = -40002
COMPUTE_SIGNATURE = -40003
ILLEGAL_AES_KEY = -40004
RECEIVE_ID_MISMATCH = -40005
ENCRYPT_FAILED = -40006
DECRYPT_FAILED = -40007
ILLEGAL_BUFFER = -40008
ENCODE_BASE64 = -40009
DECODE_BASE64 = -40010
GENERATE_XML = -40011

_BLOCK = 32  # the protocol pads to 32 bytes, not AES's 16: pad values 17..32 occur on the wire
_RANDOM = 16
_KEY = re.compile(r"[A-Za-z0-9]{43}")


class CryptoError(Exception):
    """A callback that cannot be trusted or read; ``code`` is the library's documented error code."""

    code: int
    reason: str

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)  # both in args, so the error survives pickling between processes
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} ({self.code})"


def _bytes(text: str) -> bytes:
    # surrogatepass: a hostile query string must give a mismatch, never a UnicodeEncodeError
    return text.encode("utf-8", "surrogatepass")


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1(b"".join(_bytes(p) for p in sorted(parts))).hexdigest()  # noqa: S324 — the protocol's hash


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """msg_signature: lowercase hex SHA1 of the four strings sorted and joined."""
    return _sha1_sorted(token, timestamp, nonce, encrypted)


def plain_signature(token: str, timestamp: str, nonce: str) -> str:
    """公众号 server-URL signature: SHA1 of the three strings sorted (echostr not included)."""
    return _sha1_sorted(token, timestamp, nonce)


def _check(expected: str, given: str) -> None:
    if not hmac.compare_digest(expected.encode("ascii"), _bytes(given)):
        raise CryptoError(SIGNATURE_INVALID, "signature mismatch")


def verify_plain_url(token: str, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """公众号 GET verification: checks the 3-item signature (constant-time) and returns echostr unchanged;
    CryptoError(-40001) otherwise."""
    _check(plain_signature(token, timestamp, nonce), signature)
    return echostr


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside one CDATA section: close it and open another between "]]" and ">"
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class MsgCrypt:
    """One callback configuration: Token, EncodingAESKey and the ReceiveId (corpid, suite_id or appid)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        """encoding_aes_key: 43 chars [A-Za-z0-9]; anything else → CryptoError(-40004)."""
        if not isinstance(encoding_aes_key, str) or not _KEY.fullmatch(encoding_aes_key):
            raise CryptoError(ILLEGAL_AES_KEY, "EncodingAESKey must be 43 characters of [A-Za-z0-9]")
        self.token = token
        self.receive_id = receive_id
        self._key = base64.b64decode(encoding_aes_key + "=")
        self._receive_id = receive_id.encode("utf-8")

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, plaintext: str | bytes, *, random: bytes | None = None) -> str:
        """base64 ciphertext; random = 16 bytes (default os.urandom-based)."""
        random = os.urandom(_RANDOM) if random is None else random
        if len(random) != _RANDOM:
            raise CryptoError(ENCRYPT_FAILED, "random must be 16 bytes")
        try:
            msg = plaintext.encode("utf-8") if isinstance(plaintext, str) else bytes(plaintext)
            framed = random + struct.pack(">I", len(msg)) + msg + self._receive_id
        except (UnicodeError, struct.error) as exc:
            raise CryptoError(ENCRYPT_FAILED, "message is not UTF-8 encodable or too long") from exc
        pad = _BLOCK - len(framed) % _BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(framed + bytes([pad]) * pad) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        """The message bytes; checks pad 1..32, msg_len bounds and that ReceiveId equals receive_id (-40005)."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError; non-ASCII str is one too
            raise CryptoError(DECODE_BASE64, "ciphertext is not base64") from exc
        if not data or len(data) % 16:
            raise CryptoError(DECRYPT_FAILED, "ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError(ILLEGAL_BUFFER, "bad padding")
        content = plain[_RANDOM:-pad]
        if len(content) < 4:
            raise CryptoError(ILLEGAL_BUFFER, "buffer too short for msg_len")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CryptoError(ILLEGAL_BUFFER, "msg_len exceeds the buffer")
        if content[4 + length :] != self._receive_id:
            raise CryptoError(RECEIVE_ID_MISMATCH, "ReceiveId mismatch")
        return content[4 : 4 + length]

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """WeCom GET URL verification: signature over echostr, decrypt, return the plaintext to echo.
        Tolerates a '+' that a framework turned into ' '."""
        echostr = echostr.replace(" ", "+")  # base64 has no spaces: any here was a '+' decoded as form data
        _check(signature(self.token, timestamp, nonce, echostr), msg_signature)
        try:
            return self.decrypt(echostr).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError(ILLEGAL_BUFFER, "echostr plaintext is not UTF-8") from exc

    def _open(self, encrypted: object, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        if not isinstance(encrypted, str) or not encrypted:
            raise CryptoError(PARSE_ERROR, "no Encrypt in the callback body")
        _check(signature(self.token, timestamp, nonce, encrypted), msg_signature)
        return self.decrypt(encrypted)

    def decrypt_message(self, body: bytes | str, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        """POST callback: parse the XML envelope with defusedxml (no DTD/entities → -40002), take <Encrypt>,
        check the signature (constant time, hmac.compare_digest), decrypt; returns the inner XML bytes."""
        return self._open(parse_xml(body).get("Encrypt"), msg_signature, timestamp, nonce)

    def decrypt_json_message(self, body: bytes | str, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        """The JSON flavour (key "encrypt")."""
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise CryptoError(PARSE_ERROR, "callback body is not JSON") from exc
        encrypted = doc.get("encrypt") if isinstance(doc, dict) else None
        return self._open(encrypted, msg_signature, timestamp, nonce)

    def encrypt_reply(self, plaintext: str | bytes, timestamp: str, nonce: str, *, random: bytes | None = None) -> str:
        """The passive encrypted reply XML (<Encrypt>, <MsgSignature>, <TimeStamp>, <Nonce>) — what the stand-in
        also uses to build callback bodies (see envelope below)."""
        encrypted = self.encrypt(plaintext, random=random)
        return (
            "<xml>\n"
            f"<Encrypt>{_cdata(encrypted)}</Encrypt>\n"
            f"<MsgSignature>{_cdata(signature(self.token, timestamp, nonce, encrypted))}</MsgSignature>\n"
            f"<TimeStamp>{escape(timestamp)}</TimeStamp>\n"
            f"<Nonce>{_cdata(nonce)}</Nonce>\n"
            "</xml>"
        )

    def envelope(
        self,
        plaintext: str | bytes,
        to_user: str,
        agent_id: str | None,
        timestamp: str,
        nonce: str,
        *,
        random: bytes | None = None,
    ) -> tuple[str, str]:
        """What WeCom POSTs: returns (xml_body, msg_signature) with body
        ``<xml><ToUserName><![CDATA[to_user]]></ToUserName><Encrypt><![CDATA[...]]></Encrypt>``
        ``<AgentID><![CDATA[agent_id]]></AgentID></xml>`` on one line (AgentID omitted when None)."""
        encrypted = self.encrypt(plaintext, random=random)
        agent = "" if agent_id is None else f"<AgentID>{_cdata(agent_id)}</AgentID>"
        body = f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt>{agent}</xml>"
        return body, signature(self.token, timestamp, nonce, encrypted)


def _leaf(element: Element) -> str:
    return element.text or ""


def parse_xml(data: bytes | str) -> dict[str, str]:
    """A flat callback XML (<xml><A>..</A>…</xml>) → {tag: text}; nested elements with <Item> children
    (MemChangeList) become the items joined by "," under their tag; hardened parser (defusedxml);
    bad XML → CryptoError(-40002).

    Other nested elements (公众号 ScanCodeInfo, SendLocationInfo) add their leaf children under their own tags.
    A repeated tag keeps its first value."""
    try:
        root = safe_fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, LookupError, TypeError) as exc:
        # ValueError covers unencodable str input; LookupError an unknown encoding declaration
        raise CryptoError(PARSE_ERROR, "callback body is not acceptable XML") from exc
    fields: dict[str, str] = {}
    for child in root:
        if len(child) == 0:
            fields.setdefault(child.tag, _leaf(child))
        elif any(item.tag == "Item" for item in child):
            fields.setdefault(child.tag, ",".join(_leaf(item) for item in child if item.tag == "Item"))
        else:
            for leaf in child.iter():
                if leaf is not child and len(leaf) == 0:
                    fields.setdefault(leaf.tag, _leaf(leaf))
    return fields
