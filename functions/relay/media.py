"""Media rules for WhatsApp pushes: what a file is, whether it may be sent, and its display name.

Pure logic, stdlib only. The kind comes from the file extension and must agree with the file's
first bytes (the caller fetches `SNIFF_BYTES` of them with a ranged GET); the size must fit the
kind's limit (see /work/shared/picky-assist-api.md, "Media limits").
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import StrEnum


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"


#: How many leading bytes the caller fetches for `classify`.
SNIFF_BYTES: int = 4096

#: Only these kinds may carry a caption (`message` / `globalmessage`).
CAPTION_KINDS: frozenset[MediaKind] = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})

#: Maximum size in bytes (decimal units). The sticker entry is the static limit.
LIMITS: dict[MediaKind, int] = {
    MediaKind.IMAGE: 5_000_000,
    MediaKind.VIDEO: 16_000_000,
    MediaKind.AUDIO: 16_000_000,
    MediaKind.DOCUMENT: 100_000_000,
    MediaKind.STICKER: 100_000,
}
ANIMATED_STICKER_LIMIT: int = 500_000


class MediaRejected(ValueError):
    """The file cannot be sent; `.reason` is short, specific and safe to show to a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MediaCheck:
    kind: MediaKind
    #: the MIME type to serve the file with
    content_type: str
    #: short format id sniffed from the bytes (see `_LABELS`), None when not recognised
    detected: str | None


@dataclass(frozen=True)
class _Rule:
    kind: MediaKind
    content_type: str
    #: sniffed formats that agree with the extension
    accepts: frozenset[str]
    #: True: content that is not recognised is rejected too (the signature is required)
    required: bool = True


def _rule(kind: MediaKind, content_type: str, *accepts: str, required: bool = True) -> _Rule:
    return _Rule(kind, content_type, frozenset(accepts), required)


_I, _V, _A, _D, _S = (MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO, MediaKind.DOCUMENT, MediaKind.STICKER)
_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."

_RULES: dict[str, _Rule] = {
    "jpg": _rule(_I, "image/jpeg", "jpeg"),
    "jpeg": _rule(_I, "image/jpeg", "jpeg"),
    "png": _rule(_I, "image/png", "png"),
    "gif": _rule(_I, "image/gif", "gif"),
    # a 3GP brand in an .mp4 (and the reverse) is still an ISO-BMFF video the phone plays
    "mp4": _rule(_V, "video/mp4", "mp4", "3gp"),
    "3gp": _rule(_V, "video/3gpp", "3gp", "mp4"),
    "3gpp": _rule(_V, "video/3gpp", "3gp", "mp4"),
    "mp3": _rule(_A, "audio/mpeg", "mp3"),
    "wav": _rule(_A, "audio/wav", "wav"),
    "aac": _rule(_A, "audio/aac", "aac"),
    # many encoders write a generic `isom`/`mp42` brand for audio-only files
    "m4a": _rule(_A, "audio/mp4", "m4a", "mp4"),
    "amr": _rule(_A, "audio/amr", "amr"),
    "ogg": _rule(_A, "audio/ogg", "ogg"),
    "opus": _rule(_A, "audio/ogg", "ogg"),
    "webp": _rule(_S, "image/webp", "webp"),
    "pdf": _rule(_D, "application/pdf", "pdf"),
    "doc": _rule(_D, "application/msword", "ole"),
    "xls": _rule(_D, "application/vnd.ms-excel", "ole"),
    "ppt": _rule(_D, "application/vnd.ms-powerpoint", "ole"),
    # password-protected OOXML files are stored inside an OLE2 container
    "docx": _rule(_D, _OOXML + "wordprocessingml.document", "zip", "ole"),
    "xlsx": _rule(_D, _OOXML + "spreadsheetml.sheet", "zip", "ole"),
    "pptx": _rule(_D, _OOXML + "presentationml.presentation", "zip", "ole"),
    "odt": _rule(_D, _ODF + "text", "zip"),
    "ods": _rule(_D, _ODF + "spreadsheet", "zip"),
    "odp": _rule(_D, _ODF + "presentation", "zip"),
    "zip": _rule(_D, "application/zip", "zip"),
    # text in another encoding (UTF-16, Latin-1) is not recognised, and is fine
    "txt": _rule(_D, "text/plain", "text", required=False),
    "csv": _rule(_D, "text/csv", "text", required=False),
    "rtf": _rule(_D, "application/rtf", "text", required=False),
}
#: any other extension is a document; containers and text are fine, media formats are not
_OTHER_DOCUMENT = _rule(_D, "application/octet-stream", "pdf", "zip", "ole", "text", required=False)

_BLOCKED = frozenset(
    {
        "exe",
        "bat",
        "cmd",
        "com",
        "msi",
        "msp",
        "sh",
        "bash",
        "ps1",
        "psm1",
        "js",
        "jse",
        "mjs",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "hta",
        "jar",
        "apk",
        "xapk",
        "ipa",
        "scr",
        "dll",
        "cpl",
        "pif",
        "lnk",
        "reg",
        "app",
        "dmg",
        "pkg",
        "deb",
        "rpm",
    }
)

_LABELS = {
    "jpeg": "JPEG image",
    "png": "PNG image",
    "gif": "GIF image",
    "webp": "WebP image",
    "mp4": "MP4 video",
    "3gp": "3GP video",
    "m4a": "M4A audio",
    "mp3": "MP3 audio",
    "wav": "WAV audio",
    "aac": "AAC audio",
    "amr": "AMR audio",
    "ogg": "Ogg audio",
    "pdf": "PDF",
    "zip": "a ZIP archive",
    "ole": "a legacy Office (OLE2) file",
    "text": "text",
}

# ISO-BMFF brands that are HEIF/AVIF still images, not MP4 video
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis"})
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PDF_WINDOW = 1024


def classify(filename: str, head: bytes, size: int) -> MediaCheck:
    """Check a file before it is sent: kind from its extension, agreeing with `head` (its first
    bytes), `size` within the kind's limit. Raises `MediaRejected` with a user-facing reason."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    ext, rule = _rule_for(filename)
    if size == 0:
        raise MediaRejected("empty file")

    detected = _sniff(head, complete=size <= len(head))
    if detected not in rule.accepts:
        detected = _tolerated(ext, head, detected)
    if detected not in rule.accepts and (rule.required or detected is not None):
        if detected is None:
            raise MediaRejected(f"content is not a valid {ext.upper()} file")
        raise MediaRejected(f"extension .{ext} but content is {_LABELS[detected]}")

    limit = LIMITS[rule.kind]
    what = str(rule.kind)
    if rule.kind is MediaKind.STICKER:
        animated = _webp_animated(head)
        limit = ANIMATED_STICKER_LIMIT if animated else limit
        what = "animated sticker" if animated else "static sticker"
    if size > limit:
        raise MediaRejected(f"{what} is {_size_text(size, limit)}")
    return MediaCheck(rule.kind, rule.content_type, detected)


def classify_by_name(filename: str) -> MediaCheck:
    """What a file named so would be, without its bytes (media given as a URL the vendor fetches
    itself). Raises `MediaRejected` for a missing or blocked extension."""
    _ext, rule = _rule_for(filename)
    return MediaCheck(rule.kind, rule.content_type, None)


def _rule_for(filename: str) -> tuple[str, _Rule]:
    ext = _extension(filename)
    if not ext:
        raise MediaRejected("file name has no extension")
    if ext in _BLOCKED:
        raise MediaRejected(f"unsupported extension .{ext}")
    return ext, _RULES.get(ext, _OTHER_DOCUMENT)


def extension_for(content_type: str | None) -> str | None:
    """The extension a file served as `content_type` would carry (`application/pdf` → `pdf`), or
    None: names a download whose URL has no extension; `classify` still checks its bytes."""
    wanted = (content_type or "").split(";", 1)[0].strip().lower()
    return next((ext for ext, rule in _RULES.items() if rule.content_type == wanted), None) if wanted else None


def shorten_media_name(name: str, limit: int = 20) -> str:
    """A document name for recipients in at most `limit` characters, keeping the extension:
    "very-long-invoice-name-2024.pdf" → "very-long-invoic.pdf". Pass a file name, not a path."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext:
        return _cut(name, limit)
    room = limit - len(ext) - 1
    if room < 1:  # the extension alone does not fit: keep the start of the name
        return name[:limit]
    return _cut(stem, room) + "." + ext


def _cut(text: str, limit: int) -> str:
    cut = text[:limit]
    return cut.rstrip(" .-_") or cut


def _extension(filename: str) -> str:
    base = filename.strip().rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem and ext else ""


def _size_text(size: int, limit: int) -> str:
    unit, name = (1_000_000, "MB") if limit >= 1_000_000 else (1_000, "KB")
    cap = f"{limit / unit:g} {name}"
    if round(size / unit, 1) <= limit / unit:  # one decimal would hide the overshoot
        return f"{size:,} bytes, limit {limit:,} bytes ({cap})"
    return f"{size / unit:.1f} {name}, limit {cap}"


def _sniff(head: bytes, complete: bool) -> str | None:
    """Short format id of the bytes (a key of `_LABELS`), None when not recognised."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"WEBP"):
        return "wav" if head[8:12] == b"WAVE" else "webp"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return None
        if brand.startswith(b"3g"):
            return "3gp"
        return "m4a" if brand in (b"M4A ", b"M4B ") else "mp4"
    if head.startswith(b"ID3"):
        end = _id3_end(head)
        after = _sniff_audio_frame(head[end : end + 4]) if end + 4 <= len(head) else None
        return after or "mp3"
    if frame := _sniff_audio_frame(head):
        return frame
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(_OLE2):
        return "ole"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n\f\x00").startswith(b"%PDF-"):
        return "pdf"
    return "text" if _is_utf8_text(head, complete) else None


def _sniff_audio_frame(head: bytes) -> str | None:
    """An ADTS (AAC) or MPEG-1/2 layer III (MP3) frame header at the start of `head`."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    if head[1] & 0xF6 == 0xF0:  # 12-bit sync, layer 00: ADTS (0xFFF1 MPEG-4, 0xFFF9 MPEG-2)
        return "aac"
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    if version != 0b01 and layer == 0b01 and bitrate != 0xF and rate != 0b11:
        return "mp3"
    return None


def _id3_end(head: bytes) -> int:
    """Offset just past an ID3v2 tag at the start of `head` (may be beyond `head`)."""
    if len(head) < 10:
        return len(head)
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _tolerated(ext: str, head: bytes, detected: str | None) -> str | None:
    """Cases a plain signature match misses, resolved to the format the extension names."""
    if ext == "pdf" and detected in (None, "text") and b"%PDF-" in head[: _PDF_WINDOW + 5]:
        return "pdf"  # PDF readers accept the header anywhere in the first 1024 bytes
    if ext == "aac" and head.startswith(b"ID3") and _id3_end(head) + 4 > len(head):
        return "aac"  # an ID3 tag longer than `head` hides which frames follow
    return detected


def _is_utf8_text(head: bytes, complete: bool) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def _webp_animated(head: bytes) -> bool:
    return head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)
