"""Media checks: the extension names the kind, the first bytes must agree, the size must fit."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.media import (
    CAPTION_KINDS,
    LIMITS,
    SNIFF_BYTES,
    MediaCheck,
    MediaKind,
    MediaRejected,
    classify,
    shorten_media_name,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "media"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def head_of(name: str) -> bytes:
    return sample(name)[:SNIFF_BYTES]


def check(filename: str, data: bytes, size: int | None = None) -> MediaCheck:
    """What the relay does: classify from the first SNIFF_BYTES and the object's full size."""
    return classify(filename, data[:SNIFF_BYTES], len(data) if size is None else size)


def rejection(filename: str, data: bytes, size: int | None = None) -> str:
    with pytest.raises(MediaRejected) as err:
        check(filename, data, size)
    return err.value.reason


# Synthetic heads for formats without a sample file: the real leading bytes of each format.
def ftyp(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x1cftyp" + brand + b"\x00\x00\x02\x00" + brand + b"isom" + b"\x00" * 64


def webp_vp8x(flags: int) -> bytes:
    canvas_512x512 = b"\xff\x01\x00\xff\x01\x00"
    return b"RIFF\x00\x10\x00\x00WEBPVP8X\x0a\x00\x00\x00" + bytes([flags, 0, 0, 0]) + canvas_512x512


M4A = ftyp(b"M4A ")
THREE_GP = ftyp(b"3gp5")
HEIC = ftyp(b"heic")
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00" + b"\x00" * 64
ADTS = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x21\x00" * 64
AMR = b"#!AMR\n" + b"\x3c\x91\x17\x16" * 32
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
ANIMATED_WEBP = webp_vp8x(0x02)
RANDOM = bytes(range(256)) * 4


def id3(body_size: int) -> bytes:
    """An ID3v2.4 tag header declaring `body_size` bytes (syncsafe), followed by that padding."""
    syncsafe = bytes((body_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + b"\x00" * body_size


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


# --- accepted: each extension family with real bytes -------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "kind", "content_type", "detected"),
    [
        ("photo.jpg", sample("photo.jpg"), MediaKind.IMAGE, "image/jpeg", "jpeg"),
        ("PHOTO.JPEG", sample("photo.jpg"), MediaKind.IMAGE, "image/jpeg", "jpeg"),
        ("chart.png", sample("chart.png"), MediaKind.IMAGE, "image/png", "png"),
        ("anim.gif", sample("anim.gif"), MediaKind.IMAGE, "image/gif", "gif"),
        ("clip.mp4", sample("clip.mp4"), MediaKind.VIDEO, "video/mp4", "mp4"),
        ("clip.3gp", THREE_GP, MediaKind.VIDEO, "video/3gpp", "3gp"),
        ("clip.3gpp", THREE_GP, MediaKind.VIDEO, "video/3gpp", "3gp"),
        ("phone.mp4", THREE_GP, MediaKind.VIDEO, "video/mp4", "3gp"),
        ("clip.3gp", sample("clip.mp4"), MediaKind.VIDEO, "video/3gpp", "mp4"),
        ("note.mp3", sample("note.mp3"), MediaKind.AUDIO, "audio/mpeg", "mp3"),
        ("voice.ogg", sample("voice.ogg"), MediaKind.AUDIO, "audio/ogg", "ogg"),
        ("voice.opus", sample("voice.ogg"), MediaKind.AUDIO, "audio/ogg", "ogg"),
        ("tone.wav", WAV, MediaKind.AUDIO, "audio/wav", "wav"),
        ("tone.aac", ADTS, MediaKind.AUDIO, "audio/aac", "aac"),
        ("memo.amr", AMR, MediaKind.AUDIO, "audio/amr", "amr"),
        ("song.m4a", M4A, MediaKind.AUDIO, "audio/mp4", "m4a"),
        ("song.m4a", sample("clip.mp4"), MediaKind.AUDIO, "audio/mp4", "mp4"),  # isom brand
        ("sticker.webp", sample("sticker.webp"), MediaKind.STICKER, "image/webp", "webp"),
        ("invoice.pdf", sample("invoice.pdf"), MediaKind.DOCUMENT, "application/pdf", "pdf"),
        ("letter.docx", docx_bytes(), MediaKind.DOCUMENT, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "zip"),
        (
            "secret.xlsx",
            OLE2,
            MediaKind.DOCUMENT,  # password-protected OOXML lives in OLE2
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "ole",
        ),
        ("locked.docx", OLE2, MediaKind.DOCUMENT, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "ole"),
        ("old.doc", OLE2, MediaKind.DOCUMENT, "application/msword", "ole"),
        ("old.xls", OLE2, MediaKind.DOCUMENT, "application/vnd.ms-excel", "ole"),
        ("slides.odp", docx_bytes(), MediaKind.DOCUMENT, "application/vnd.oasis.opendocument.presentation", "zip"),
        ("bundle.zip", docx_bytes(), MediaKind.DOCUMENT, "application/zip", "zip"),
        ("notes.txt", "Grüße, 你好\n".encode(), MediaKind.DOCUMENT, "text/plain", "text"),
        ("rows.csv", b"number,name\n4477,Ann\n", MediaKind.DOCUMENT, "text/csv", "text"),
        ("windows.txt", "hi".encode("utf-16"), MediaKind.DOCUMENT, "text/plain", None),
        ("data.json", b'{"a": 1}', MediaKind.DOCUMENT, "application/octet-stream", "text"),
        ("book.epub", docx_bytes(), MediaKind.DOCUMENT, "application/octet-stream", "zip"),
        ("blob.bin", RANDOM, MediaKind.DOCUMENT, "application/octet-stream", None),
        ("photo.heic", HEIC, MediaKind.DOCUMENT, "application/octet-stream", None),
    ],
)
def test_given_matching_content_when_classified_then_kind_type_and_format_are_reported(filename, data, kind, content_type, detected):
    assert check(filename, data) == MediaCheck(kind, content_type, detected)


def test_given_a_key_with_folders_when_classified_then_only_the_last_segment_gives_the_extension():
    assert check("invoices.2024/march/photo.jpg", sample("photo.jpg")).kind is MediaKind.IMAGE


def test_given_a_pdf_header_after_leading_junk_within_1024_bytes_when_named_pdf_then_it_is_a_pdf():
    data = b"\r\n" + b"x" * 900 + sample("invoice.pdf")
    assert check("invoice.pdf", data).detected == "pdf"


def test_given_a_pdf_header_beyond_1024_bytes_when_named_pdf_then_it_is_not_a_valid_pdf():
    data = b"x" * 1100 + sample("invoice.pdf")
    assert rejection("invoice.pdf", data) == "content is not a valid PDF file"


def test_given_an_mp3_whose_id3_tag_is_followed_by_a_frame_when_sniffed_then_the_frame_decides():
    # Given ffmpeg's tag (45 bytes) then an MPEG-2 layer III frame
    assert sample("note.mp3").startswith(b"ID3")
    # When an ID3 tag is followed by an ADTS frame instead, Then it is AAC, not MP3
    assert check("tone.aac", id3(32) + ADTS).detected == "aac"
    assert rejection("tone.mp3", id3(32) + ADTS) == "extension .mp3 but content is AAC audio"


def test_given_an_aac_whose_id3_tag_is_longer_than_the_sniffed_head_when_classified_then_accepted():
    # The frame after an 8 KB tag (cover art) is beyond SNIFF_BYTES: the extension is trusted.
    data = id3(8192) + ADTS
    assert check("tone.aac", data).kind is MediaKind.AUDIO
    assert check("tone.mp3", data).detected == "mp3"


def test_given_utf8_text_cut_mid_character_by_the_ranged_get_when_sniffed_then_it_is_still_text():
    text = ("x" * (SNIFF_BYTES - 1) + "é").encode()  # é is 2 bytes: head ends on its first byte
    assert check("notes.txt", text).detected == "text"
    # But a complete file that ends mid-character is not valid UTF-8
    truncated = text[:SNIFF_BYTES]
    assert check("notes.txt", truncated, size=len(truncated)).detected is None


# --- rejected: content that contradicts the extension -------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("photo.jpg", sample("invoice.pdf"), "extension .jpg but content is PDF"),
        ("invoice.pdf", sample("photo.jpg"), "extension .pdf but content is JPEG image"),
        ("clip.mp4", sample("chart.png"), "extension .mp4 but content is PNG image"),
        ("chart.png", sample("sticker.webp"), "extension .png but content is WebP image"),
        ("sticker.webp", sample("anim.gif"), "extension .webp but content is GIF image"),
        ("voice.ogg", sample("note.mp3"), "extension .ogg but content is MP3 audio"),
        ("note.mp3", sample("voice.ogg"), "extension .mp3 but content is Ogg audio"),
        ("tone.wav", sample("clip.mp4"), "extension .wav but content is MP4 video"),
        ("song.mp4", M4A, "extension .mp4 but content is M4A audio"),
        ("clip.3gp", M4A, "extension .3gp but content is M4A audio"),
        ("song.m4a", THREE_GP, "extension .m4a but content is 3GP video"),
        ("tone.aac", sample("note.mp3"), "extension .aac but content is MP3 audio"),
        ("memo.amr", WAV, "extension .amr but content is WAV audio"),
        ("old.doc", docx_bytes(), "extension .doc but content is a ZIP archive"),
        ("letter.docx", sample("invoice.pdf"), "extension .docx but content is PDF"),
        ("bundle.zip", OLE2, "extension .zip but content is a legacy Office (OLE2) file"),
        ("notes.txt", sample("invoice.pdf"), "extension .txt but content is PDF"),
        ("notes.txt", b"\xef\xbb\xbf  %PDF-1.7\n", "extension .txt but content is PDF"),
        ("rows.csv", sample("photo.jpg"), "extension .csv but content is JPEG image"),
        ("data.json", sample("clip.mp4"), "extension .json but content is MP4 video"),
        ("archive.tar", sample("note.mp3"), "extension .tar but content is MP3 audio"),
        ("photo.jpg", b"just some text\n", "extension .jpg but content is text"),
    ],
)
def test_given_content_of_another_format_when_classified_then_the_reason_names_both(filename, data, reason):
    assert rejection(filename, data) == reason


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("photo.jpg", RANDOM),
        ("photo.jpg", HEIC),  # an iPhone photo renamed .jpg is not a JPEG
        ("chart.png", RANDOM),
        ("clip.mp4", RANDOM),
        ("note.mp3", RANDOM),
        ("note.mp3", b"\xff\xea\x90\x44" * 64),  # frame sync, but the reserved MPEG version
        ("voice.opus", RANDOM),
        ("sticker.webp", RANDOM),
        ("invoice.pdf", RANDOM),
        ("letter.docx", RANDOM),
        ("old.ppt", RANDOM),
        ("bundle.zip", RANDOM),
    ],
)
def test_given_unrecognised_bytes_when_the_extension_needs_a_signature_then_rejected(filename, data):
    ext = filename.rsplit(".", 1)[1]
    assert rejection(filename, data) == f"content is not a valid {ext.upper()} file"


@pytest.mark.parametrize(
    "filename",
    [
        "setup.exe",
        "run.bat",
        "run.cmd",
        "command.com",
        "install.msi",
        "deploy.sh",
        "app.js",
        "tool.jar",
        "app.apk",
        "screensaver.scr",
        "lib.dll",
        "macro.vbs",
        "SETUP.EXE",
    ],
)
def test_given_an_executable_or_script_extension_when_classified_then_unsupported(filename):
    ext = filename.rsplit(".", 1)[1].lower()
    assert rejection(filename, b"MZ\x90\x00") == f"unsupported extension .{ext}"


@pytest.mark.parametrize("filename", ["README", ".bashrc", "trailing-dot.", "dir.v2/file", ""])
def test_given_no_extension_when_classified_then_rejected(filename):
    assert rejection(filename, b"hello\n") == "file name has no extension"


def test_given_an_empty_file_when_classified_then_rejected_as_empty():
    assert rejection("invoice.pdf", b"", size=0) == "empty file"
    # the extension is judged first: an empty .exe is still an unsupported extension
    assert rejection("setup.exe", b"", size=0) == "unsupported extension .exe"


def test_given_a_rejection_when_caught_as_value_error_then_the_reason_is_the_message():
    with pytest.raises(ValueError, match="empty file"):
        classify("photo.jpg", b"", 0)


# --- size limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "limit", "what"),
    [
        ("photo.jpg", sample("photo.jpg"), 5_000_000, "image"),
        ("clip.mp4", sample("clip.mp4"), 16_000_000, "video"),
        ("note.mp3", sample("note.mp3"), 16_000_000, "audio"),
        ("invoice.pdf", sample("invoice.pdf"), 100_000_000, "document"),
        ("sticker.webp", sample("sticker.webp"), 100_000, "static sticker"),
        ("moving.webp", ANIMATED_WEBP, 500_000, "animated sticker"),
    ],
)
def test_given_a_size_at_the_limit_when_classified_then_ok_and_one_byte_over_is_rejected(filename, data, limit, what):
    assert check(filename, data, size=limit).detected is not None
    reason = rejection(filename, data, size=limit + 1)
    assert reason.startswith(f"{what} is {limit + 1:,} bytes, limit {limit:,} bytes")


def test_given_limits_when_read_then_they_match_the_vendor_table_in_decimal_units():
    assert LIMITS == {
        MediaKind.IMAGE: 5_000_000,
        MediaKind.VIDEO: 16_000_000,
        MediaKind.AUDIO: 16_000_000,
        MediaKind.DOCUMENT: 100_000_000,
        MediaKind.STICKER: 100_000,
    }


@pytest.mark.parametrize(
    ("filename", "data", "size", "reason"),
    [
        ("photo.jpg", sample("photo.jpg"), 6_200_000, "image is 6.2 MB, limit 5 MB"),
        ("clip.mp4", sample("clip.mp4"), 17_000_000, "video is 17.0 MB, limit 16 MB"),
        ("invoice.pdf", sample("invoice.pdf"), 123_456_789, "document is 123.5 MB, limit 100 MB"),
        ("sticker.webp", sample("sticker.webp"), 150_000, "static sticker is 150.0 KB, limit 100 KB"),
        ("moving.webp", ANIMATED_WEBP, 612_300, "animated sticker is 612.3 KB, limit 500 KB"),
    ],
)
def test_given_an_oversized_file_when_classified_then_the_reason_gives_size_and_limit(filename, data, size, reason):
    assert rejection(filename, data, size) == reason


def test_given_a_webp_when_only_the_animation_flag_differs_then_only_the_animated_one_may_be_400_kb():
    # Given the sample (VP8X with the alpha flag 0x10, no animation) and an animated header
    assert sample("sticker.webp")[20] & 0x10
    # When both are 400 KB, Then the animated one is within its 500 KB limit and the static is not
    assert check("moving.webp", ANIMATED_WEBP, size=400_000).kind is MediaKind.STICKER
    assert rejection("still.webp", webp_vp8x(0x10), size=400_000).startswith("static sticker")


# --- public constants ---------------------------------------------------------------------------


def test_given_the_caption_rule_when_read_then_only_images_and_videos_take_captions():
    assert CAPTION_KINDS == {MediaKind.IMAGE, MediaKind.VIDEO}
    assert SNIFF_BYTES == 4096
    assert MediaKind("sticker") is MediaKind.STICKER and MediaKind.AUDIO == "audio"


# --- shorten_media_name -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("very-long-invoice-name-2024.pdf", "very-long-invoic.pdf"),
        ("annual_report___x_final.pdf", "annual_report.pdf"),  # cut stem loses its trailing ___
        ("Rechnung-Müller-Straße-2024.pdf", "Rechnung-Müller.pdf"),
        ("請求書_2024年_株式会社サンプル.pdf", "請求書_2024年_株式会社サン.pdf"),
        ("abcdefghijklmnop.pdf", "abcdefghijklmnop.pdf"),  # exactly 20: unchanged
        ("abcdefghijklmnopq.pdf", "abcdefghijklmnop.pdf"),  # 21: one character off the stem
        ("a-name-without-any-extension", "a-name-without-any-e"),
        ("x.averyveryverylongextension", "x.averyveryverylonge"),
        ("abc.0123456789abcdefghi", "abc.0123456789abcdef"),  # ".ext" is 20: no stem fits
        ("----------------------.pdf", "----------------.pdf"),  # nothing left after stripping
    ],
)
def test_given_a_document_name_when_shortened_then_it_fits_20_characters(name, expected):
    result = shorten_media_name(name)
    assert result == expected
    assert len(result) <= 20


def test_given_a_custom_limit_when_shortened_then_that_limit_applies():
    assert shorten_media_name("quarterly-report.xlsx", limit=12) == "quarter.xlsx"


@given(name=st.text(min_size=1, max_size=60), limit=st.integers(min_value=1, max_value=40))
def test_given_any_name_when_shortened_then_it_never_exceeds_the_limit_nor_is_empty(name, limit):
    result = shorten_media_name(name, limit)
    assert 0 < len(result) <= limit
    assert result == name or len(name) > limit
    stem, dot, ext = name.rpartition(".")
    if len(name) > limit and dot and stem and ext and len(ext) + 2 <= limit:
        assert result.endswith("." + ext)
