"""siyu.wechat.crypto against the official WXBizMsgCrypt vectors (reference §1.3, A–E), round-trip properties and
the error code of every kind of bad input."""

from __future__ import annotations

import base64
import contextlib
import json
import struct
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from siyu.wechat.crypto import (
    DECODE_BASE64,
    DECRYPT_FAILED,
    ILLEGAL_AES_KEY,
    ILLEGAL_BUFFER,
    PARSE_ERROR,
    RECEIVE_ID_MISMATCH,
    SIGNATURE_INVALID,
    CryptoError,
    MsgCrypt,
    parse_xml,
    plain_signature,
    signature,
    verify_plain_url,
)

# Vector A — WeCom's official Python sample (Sample.py).
A_TOKEN, A_KEY, A_CORP = (
    "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "ww1436e0e65a779aee",
)
A1_ECHOSTR = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
A2_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkY"
    "cD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka"
    "7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49H"
    "KYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
A2_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n"
    f"<Encrypt><![CDATA[{A2_ENCRYPT}]]></Encrypt>\n"
    "<AgentID><![CDATA[1000002]]></AgentID>\n"
    "</xml>"
)
A2_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId>"
    "<AgentID>1000002</AgentID></xml>"
)

# Vector B — the legacy 企业号 example of 加解密方案说明 and Tencent's C# sample.
B_TOKEN, B_KEY, B_CORP = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
B1_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
B1_WIRE = "P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
B2_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gs"
    "ijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUa"
    "x5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIG"
    "HBZZIs2pDBS8R07+qN+E7Q=="
)
B2_PLAIN = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
)

# Vector C / D — the 公众号 official samples (cryptoDemo, Python and Java).
MP_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
C_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXp"
    "bUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlp"
    "Kn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD"
    "1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
C_PLAIN = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n"
    "<MsgId>6054768590064713728</MsgId>\n</xml>"
)
D_CRYPT = MsgCrypt("pamtest", MP_KEY, "wxb11529c136998cb6")
D_XML = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName>"
    "<FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime>"
    "<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3"
    "ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyV"
    "ideo]]></Description></Video></xml>"
)
D_XML_ENCRYPT = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0"
    "GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7"
    "CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzs"
    "YjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+"
    "RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8a"
    "CMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
)

# Vector E — wechatpy's test suite (not official; generated by its author, independently re-verified).
E_CRYPT = MsgCrypt("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a")
E_ECHOSTR = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
E_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6y"
    "dJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/T"
    "ywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5"
    "t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
E_REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesE"
    "l5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsD"
    "f03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nT"
    "YjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
E_REPLY_PLAIN = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
)

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
tokens = st.text(ALNUM, min_size=3, max_size=32)
aes_keys = st.text(ALNUM, min_size=43, max_size=43)
receive_ids = st.text(PRINTABLE, max_size=40)
randoms = st.binary(min_size=16, max_size=16)
messages = st.one_of(st.text(), st.binary())


def _raw_decrypt(key: str, encrypted: str) -> bytes:
    aes = base64.b64decode(key + "=")
    decryptor = Cipher(algorithms.AES(aes), modes.CBC(aes[:16])).decryptor()
    return decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()


def _raw_encrypt(key: str, buffer: bytes) -> str:
    """AES-CBC of a buffer we framed and padded ourselves, to reach the checks after decryption."""
    aes = base64.b64decode(key + "=")
    encryptor = Cipher(algorithms.AES(aes), modes.CBC(aes[:16])).encryptor()
    return base64.b64encode(encryptor.update(buffer) + encryptor.finalize()).decode()


def _framed(msg: bytes, receive_id: bytes, *, length: int | None = None) -> bytes:
    return b"r" * 16 + struct.pack(">I", len(msg) if length is None else length) + msg + receive_id


def _padded(buffer: bytes) -> bytes:
    pad = 32 - len(buffer) % 32
    return buffer + bytes([pad]) * pad


def _code(exc: pytest.ExceptionInfo[CryptoError]) -> int:
    return exc.value.code


# ---- official vectors -------------------------------------------------------------------------------------------


def test_vector_a1_url_verification() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    assert signature(A_TOKEN, "1476416373", "47744683", A1_ECHOSTR) == "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb"
    reply = crypt.verify_url("012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "1476416373", "47744683", A1_ECHOSTR)
    assert reply == "1288432023552776189"
    plain = _raw_decrypt(A_KEY, A1_ECHOSTR)
    assert plain[:16] == b"8908d0ff052afda0"
    assert plain[-1] == 7


def test_vector_a1_tolerates_plus_decoded_as_space() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    mangled = A1_ECHOSTR.replace("+", " ")
    assert mangled != A1_ECHOSTR
    assert crypt.verify_url("012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "1476416373", "47744683", mangled) == (
        "1288432023552776189"
    )


def test_vector_a2_decrypts_the_post_body_as_given() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    assert "\n" in A2_BODY
    plain = crypt.decrypt_message(A2_BODY, "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914")
    assert plain == A2_PLAIN.encode()
    assert parse_xml(plain)["Content"] == "你好"
    raw = _raw_decrypt(A_KEY, A2_ENCRYPT)
    assert raw[:16] == b"694ce5a83ae07fe3"
    assert raw[-1] == 22
    assert (
        crypt.decrypt_message(A2_BODY.encode(), "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914")
        == A2_PLAIN.encode()
    )


def test_vector_a2_reencrypts_to_the_same_ciphertext() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    assert crypt.encrypt(A2_PLAIN, random=b"694ce5a83ae07fe3") == A2_ENCRYPT
    assert crypt.encrypt(A2_PLAIN.encode(), random=b"694ce5a83ae07fe3") == A2_ENCRYPT


def test_vector_a_sample_comment_block_belongs_to_b() -> None:
    # Sample.py's comment shows vector B's GET; with vector A's token it signs differently.
    assert signature(A_TOKEN, "1409659589", "263014780", B1_ECHOSTR) == "0a0e97529eaef1b21bb08d9355da85e8dc08c2e1"


def test_vector_b1_url_verification() -> None:
    crypt = MsgCrypt(B_TOKEN, B_KEY, B_CORP)
    reply = crypt.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", B1_ECHOSTR)
    assert reply == "1616140317555161061"
    plain = _raw_decrypt(B_KEY, B1_ECHOSTR)
    assert (plain[:16], plain[-1]) == (b"c41b64491c2468d0", 7)


def test_vector_b1_wire_form_unquotes_to_the_same_echostr() -> None:
    assert unquote(B1_WIRE) == B1_ECHOSTR
    crypt = MsgCrypt(B_TOKEN, B_KEY, B_CORP)
    assert crypt.verify_url(
        "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", unquote(B1_WIRE)
    ) == ("1616140317555161061")


def test_vector_b2_pad_30_decrypts() -> None:
    crypt = MsgCrypt(B_TOKEN, B_KEY, B_CORP)
    body = (
        f"<xml><ToUserName><![CDATA[{B_CORP}]]></ToUserName><Encrypt><![CDATA[{B2_ENCRYPT}]]></Encrypt>"
        "<AgentID><![CDATA[218]]></AgentID></xml>"
    )
    assert signature(B_TOKEN, "1409659813", "1372623149", B2_ENCRYPT) == "477715d11cdb4164915debcba66cb864d751f3e6"
    plain = crypt.decrypt_message(body, "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149")
    assert plain == B2_PLAIN.encode()
    raw = _raw_decrypt(B_KEY, B2_ENCRYPT)
    assert (raw[:16], raw[-1]) == (b"0960688932c47ef1", 30)  # > 16: a stock AES PKCS7 unpadder would refuse it


def test_vector_b2_reencrypts_to_the_same_ciphertext() -> None:
    crypt = MsgCrypt(B_TOKEN, B_KEY, B_CORP)
    assert crypt.encrypt(B2_PLAIN, random=b"0960688932c47ef1") == B2_ENCRYPT


def test_vector_c_official_account_decrypt_and_plain_signature() -> None:
    crypt = MsgCrypt("spamtest", MP_KEY, "wx2c2769f8efd9abc2")
    body = f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{C_ENCRYPT}]]></Encrypt></xml>"
    plain = crypt.decrypt_message(body, "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132")
    assert plain == C_PLAIN.encode()
    raw = _raw_decrypt(MP_KEY, C_ENCRYPT)
    assert (raw[:16], raw[-1]) == (b"89465c840c5f116f", 2)
    assert plain_signature("spamtest", "1409735669", "1320562132") == "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
    assert (
        verify_plain_url("spamtest", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a", "1409735669", "1320562132", "e+c/h")
        == "e+c/h"
    )


def test_vector_c_plain_url_with_wrong_signature_fails() -> None:
    with pytest.raises(CryptoError) as exc:
        verify_plain_url("spamtest", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1b", "1409735669", "1320562132", "x")
    assert _code(exc) == SIGNATURE_INVALID
    with pytest.raises(CryptoError) as exc:
        verify_plain_url("spamtest", "非十六进制", "1409735669", "1320562132", "x")
    assert _code(exc) == SIGNATURE_INVALID


def test_vector_d_deterministic_encrypts() -> None:
    short = D_CRYPT.encrypt("我是中文abcd123", random=b"aaaabbbbccccdddd")
    assert short == "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    assert D_CRYPT.encrypt(D_XML, random=b"aaaabbbbccccdddd") == D_XML_ENCRYPT
    assert D_CRYPT.decrypt(short) == "我是中文abcd123".encode()
    assert D_CRYPT.decrypt(D_XML_ENCRYPT) == D_XML.encode()


def test_vector_d_derived_signatures() -> None:
    short = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    assert signature("pamtest", "1409304348", "xxxxxx", short) == "82c962d39941aa48552f90ef55aa323dc620cc10"
    assert signature("pamtest", "1409304348", "xxxxxx", D_XML_ENCRYPT) == "ea88b765074e41eb8c7a75b449db34fa2fd560d5"
    reply = parse_xml(D_CRYPT.encrypt_reply(D_XML, "1409304348", "xxxxxx", random=b"aaaabbbbccccdddd"))
    assert reply == {
        "Encrypt": D_XML_ENCRYPT,
        "MsgSignature": "ea88b765074e41eb8c7a75b449db34fa2fd560d5",
        "TimeStamp": "1409304348",
        "Nonce": "xxxxxx",
    }


def test_vector_e_check_signature() -> None:
    sig = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
    assert E_CRYPT.verify_url(sig, "1411443780", "437374425", E_ECHOSTR) == "5927782489442352469"
    with pytest.raises(CryptoError) as exc:
        E_CRYPT.verify_url(sig, "1411443780", "437374424", E_ECHOSTR)
    assert _code(exc) == SIGNATURE_INVALID


def test_vector_e_decrypt() -> None:
    body = (
        f"<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName><Encrypt><![CDATA[{E_ENCRYPT}]]></Encrypt></xml>"
    )
    plain = E_CRYPT.decrypt_message(body, "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294")
    fields = parse_xml(plain)
    assert (fields["Content"], fields["FromUserName"]) == ("test", "messense")
    assert _raw_decrypt("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", E_ENCRYPT)[-1] == 1


def test_vector_e_encrypt_reply() -> None:
    reply = E_CRYPT.encrypt_reply(E_REPLY_PLAIN, "1411525903", "461056294", random=b"1234567890123456")
    fields = parse_xml(reply)
    assert fields["Encrypt"] == E_REPLY_ENCRYPT
    assert fields["MsgSignature"] == "407518b7649e86ef23978113f92d27afa9296533"
    assert (fields["TimeStamp"], fields["Nonce"]) == ("1411525903", "461056294")
    assert reply.startswith("<xml>\n<Encrypt><![CDATA[")


# ---- envelopes ----------------------------------------------------------------------------------------------------


def test_envelope_is_what_wecom_posts() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    body, sig = crypt.envelope(A2_PLAIN, A_CORP, "1000002", "1476422779", "1597212914", random=b"694ce5a83ae07fe3")
    assert body == (
        f"<xml><ToUserName><![CDATA[{A_CORP}]]></ToUserName><Encrypt><![CDATA[{A2_ENCRYPT}]]></Encrypt>"
        "<AgentID><![CDATA[1000002]]></AgentID></xml>"
    )
    assert sig == "0c3914025cb4b4d68103f6bfc8db550f79dcf48e"
    body, _ = crypt.envelope(A2_PLAIN, A_CORP, None, "1476422779", "1597212914")
    assert "AgentID" not in body


def test_json_flavour() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    body = json.dumps({"tousername": A_CORP, "encrypt": A2_ENCRYPT, "agentid": 1000002})
    sig = "0c3914025cb4b4d68103f6bfc8db550f79dcf48e"
    assert crypt.decrypt_json_message(body, sig, "1476422779", "1597212914") == A2_PLAIN.encode()
    assert crypt.decrypt_json_message(body.encode(), sig, "1476422779", "1597212914") == A2_PLAIN.encode()
    for bad in ("{", "[]", '{"encrypt": 1}', '{"Encrypt": "x"}', "[" * 100_000):
        with pytest.raises(CryptoError) as exc:
            crypt.decrypt_json_message(bad, sig, "1476422779", "1597212914")
        assert _code(exc) == PARSE_ERROR


def test_parse_xml_items_and_nested() -> None:
    xml = (
        "<xml><ChangeType><![CDATA[update]]></ChangeType><MemChangeList><Item>a</Item><Item>b</Item></MemChangeList>"
        "<LastMemVer>v1</LastMemVer><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
        "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo><Empty/></xml>"
    )
    assert parse_xml(xml) == {
        "ChangeType": "update",
        "MemChangeList": "a,b",
        "LastMemVer": "v1",
        "ScanType": "qrcode",
        "ScanResult": "1",
        "Empty": "",
    }


def test_empty_receive_id_is_allowed() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, "")
    assert crypt.decrypt(crypt.encrypt("x")) == b"x"


# ---- properties ---------------------------------------------------------------------------------------------------


@given(token=tokens, key=aes_keys, receive_id=receive_ids, message=messages, random=randoms)
def test_encrypt_decrypt_round_trip(token: str, key: str, receive_id: str, message: str | bytes, random: bytes) -> None:
    crypt = MsgCrypt(token, key, receive_id)
    expected = message.encode() if isinstance(message, str) else message
    assert crypt.decrypt(crypt.encrypt(message, random=random)) == expected
    assert crypt.decrypt(crypt.encrypt(message)) == expected


@given(
    token=tokens,
    key=aes_keys,
    receive_id=receive_ids,
    message=messages,
    random=randoms,
    to_user=st.text(PRINTABLE, max_size=40),
    agent_id=st.none() | st.text(PRINTABLE, max_size=12),
    timestamp=st.integers(0, 2**40).map(str),
    nonce=st.text(ALNUM, min_size=1, max_size=12),
)
def test_envelope_decrypt_message_round_trip(
    token: str,
    key: str,
    receive_id: str,
    message: str | bytes,
    random: bytes,
    to_user: str,
    agent_id: str | None,
    timestamp: str,
    nonce: str,
) -> None:
    crypt = MsgCrypt(token, key, receive_id)
    expected = message.encode() if isinstance(message, str) else message
    body, sig = crypt.envelope(message, to_user, agent_id, timestamp, nonce, random=random)
    assert crypt.decrypt_message(body, sig, timestamp, nonce) == expected
    assert parse_xml(body)["ToUserName"] == to_user
    reply = crypt.encrypt_reply(message, timestamp, nonce, random=random)
    assert crypt.decrypt_message(reply, parse_xml(reply)["MsgSignature"], timestamp, nonce) == expected


@given(text=st.text())
def test_arbitrary_strings_raise_only_crypto_error(text: str) -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    attempts: list[Callable[[], object]] = [
        lambda: crypt.decrypt(text),
        lambda: crypt.decrypt_message(text, text, text, text),
        lambda: crypt.decrypt_message(text.encode("utf-8", "surrogatepass"), "0" * 40, "1", "2"),
        lambda: crypt.decrypt_json_message(text, text, text, text),
        lambda: crypt.verify_url(text, text, text, text),
        lambda: verify_plain_url(text, text, text, text, text),
        lambda: parse_xml(text),
    ]
    for attempt in attempts:
        with contextlib.suppress(CryptoError):
            attempt()


@given(data=st.binary(max_size=40).map(lambda b: b * 16))
def test_arbitrary_ciphertexts_raise_only_crypto_error(data: bytes) -> None:
    # whole AES blocks get past base64 and length checks, to the padding and framing checks
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    with pytest.raises(CryptoError) as exc:
        crypt.decrypt(base64.b64encode(data).decode())
    assert _code(exc) in (DECRYPT_FAILED, ILLEGAL_BUFFER, RECEIVE_ID_MISMATCH)


@given(body=st.binary())
def test_arbitrary_bytes_bodies_raise_only_crypto_error(body: bytes) -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    attempts: list[Callable[[], object]] = [
        lambda: crypt.decrypt_message(body, "0" * 40, "1", "2"),
        lambda: crypt.decrypt_json_message(body, "0" * 40, "1", "2"),
    ]
    for attempt in attempts:
        with contextlib.suppress(CryptoError):
            attempt()


# ---- bad inputs ---------------------------------------------------------------------------------------------------


def test_wrong_signature() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    with pytest.raises(CryptoError) as exc:
        crypt.decrypt_message(A2_BODY, "0c3914025cb4b4d68103f6bfc8db550f79dcf48f", "1476422779", "1597212914")
    assert _code(exc) == SIGNATURE_INVALID
    with pytest.raises(CryptoError) as exc:
        crypt.decrypt_message(A2_BODY, "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422780", "1597212914")
    assert _code(exc) == SIGNATURE_INVALID
    assert str(exc.value) == "signature mismatch (-40001)"


def test_wrong_receive_id() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, "ww0000000000000000")
    with pytest.raises(CryptoError) as exc:
        crypt.decrypt_message(A2_BODY, "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914")
    assert _code(exc) == RECEIVE_ID_MISMATCH


def test_truncated_ciphertext() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    data = base64.b64decode(A2_ENCRYPT)
    with pytest.raises(CryptoError) as exc:  # one AES block short: the last byte is now message text, not padding
        crypt.decrypt(base64.b64encode(data[:-16]).decode())
    assert _code(exc) == ILLEGAL_BUFFER
    with pytest.raises(CryptoError) as exc:
        crypt.decrypt("")
    assert _code(exc) == DECRYPT_FAILED


def test_ciphertext_not_a_multiple_of_16() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    data = base64.b64decode(A2_ENCRYPT)
    with pytest.raises(CryptoError) as exc:
        crypt.decrypt(base64.b64encode(data[:-5]).decode())
    assert _code(exc) == DECRYPT_FAILED


@pytest.mark.parametrize("garbage", ["not base64!", "Kl7kjoSf6DMD1zh7rtrHjFaDapSC=kaO", "abc", "中文", "Kl7k jo=="])
def test_garbage_base64(garbage: str) -> None:
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt(garbage)
    assert _code(exc) == DECODE_BASE64


@pytest.mark.parametrize("pad", [0, 33, 255])
def test_pad_byte_out_of_range(pad: int) -> None:
    buffer = _framed(b"hello", A_CORP.encode())
    buffer += b"\x00" * (-len(buffer) % 32 + 31) + bytes([pad])
    assert len(buffer) % 32 == 0
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt(_raw_encrypt(A_KEY, buffer))
    assert _code(exc) == ILLEGAL_BUFFER


def test_pad_bytes_must_all_equal_the_pad() -> None:
    buffer = _padded(_framed(b"hello", A_CORP.encode()))
    assert buffer[-1] > 1
    tampered = buffer[:-2] + b"\x00" + buffer[-1:]
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt(_raw_encrypt(A_KEY, tampered))
    assert _code(exc) == ILLEGAL_BUFFER
    assert MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt(_raw_encrypt(A_KEY, buffer)) == b"hello"


@pytest.mark.parametrize("length", [6 + len(A_CORP), 10_000, 2**32 - 1])
def test_msg_len_larger_than_the_buffer(length: int) -> None:
    buffer = _padded(_framed(b"hello", A_CORP.encode(), length=length))
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt(_raw_encrypt(A_KEY, buffer))
    assert _code(exc) == ILLEGAL_BUFFER


def test_buffer_too_short_for_msg_len() -> None:
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt(_raw_encrypt(A_KEY, _padded(b"r" * 18)))
    assert _code(exc) == ILLEGAL_BUFFER


def test_echostr_plaintext_not_utf8() -> None:
    crypt = MsgCrypt(A_TOKEN, A_KEY, A_CORP)
    echostr = crypt.encrypt(b"\xff\xfe")
    with pytest.raises(CryptoError) as exc:
        crypt.verify_url(signature(A_TOKEN, "1", "2", echostr), "1", "2", echostr)
    assert _code(exc) == ILLEGAL_BUFFER


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<xml><Encrypt>&d;</Encrypt></xml>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'
)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, "<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>"])
def test_xml_with_dtd_or_entities(body: str) -> None:
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt_message(body, "0" * 40, "1", "2")
    assert _code(exc) == PARSE_ERROR
    with pytest.raises(CryptoError) as exc:
        parse_xml(body.encode())
    assert _code(exc) == PARSE_ERROR


@pytest.mark.parametrize(
    "body",
    [
        "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName></xml>",
        "<xml><Encrypt></Encrypt></xml>",
        "<xml><Encrypt><Item>a</Item></Encrypt>",
        "",
        "<xml>",
        "not xml",
    ],
)
def test_xml_without_encrypt(body: str) -> None:
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, A_KEY, A_CORP).decrypt_message(body, "0" * 40, "1", "2")
    assert _code(exc) == PARSE_ERROR


@pytest.mark.parametrize(
    "key",
    [
        A_KEY[:-1],
        A_KEY + "a",
        "",
        A_KEY[:-1] + "=",
        A_KEY[:-1] + "+",
        A_KEY[:-1] + "/",
        A_KEY[:-1] + "é",
        A_KEY[:-1] + "\n",
        A_KEY[:-1] + "０",  # full-width digit: \w would take it, the key alphabet does not
    ],
)
def test_bad_encoding_aes_key(key: str) -> None:
    with pytest.raises(CryptoError) as exc:
        MsgCrypt(A_TOKEN, key, A_CORP)
    assert _code(exc) == ILLEGAL_AES_KEY
