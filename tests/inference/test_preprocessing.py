"""Decoding uploaded bytes (formats, modes, EXIF, limits, corrupt data), array normalisation and face crops."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from factories import png_with_declared_size
from fer_core.inference.preprocessing import EQUALIZED_FLATNESS, FACE_MARGIN, ImageDecodeError, ImageTooLargeError, check_image, crop_face, crop_faces, decode_image, encode_png, equalize_crop, histogram_flatness, resize_max_side, to_bgr, to_gray, to_uint8


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def red_left_half(w: int = 40, h: int = 20) -> Image.Image:
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)  # RGB red
    a[:, w // 2:] = (0, 0, 255)  # RGB blue
    return Image.fromarray(a)


def test_jpeg_and_png_decode_to_bgr():
    for fmt in ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"):
        out = decode_image(encode(red_left_half(), fmt))
        assert out.shape == (20, 40, 3) and out.dtype == np.uint8, fmt
        b, g, r = out[10, 5].astype(int)
        assert r > 200 and b < 60, f"{fmt}: left half should be red in BGR order, got {out[10, 5]}"
        assert out[10, 35, 0] > 200, f"{fmt}: right half should be blue"


def test_gray_option_and_grayscale_images():
    gray_png = encode(Image.fromarray(np.tile(np.arange(0, 250, 10, dtype=np.uint8), (5, 1))))
    bgr = decode_image(gray_png)
    assert bgr.shape == (5, 25, 3) and np.array_equal(bgr[..., 0], bgr[..., 2])
    g = decode_image(gray_png, gray=True)
    assert g.shape == (5, 25) and g[0, 3] == 30
    assert decode_image(encode(red_left_half()), gray=True).ndim == 2


def test_rgba_transparency_is_flattened_on_white():
    a = np.zeros((10, 10, 4), np.uint8)
    a[:, :5] = (255, 0, 0, 255)  # opaque red
    a[:, 5:] = (0, 0, 0, 0)  # fully transparent
    out = decode_image(encode(Image.fromarray(a, "RGBA")))
    assert out.shape == (10, 10, 3)
    assert tuple(out[5, 2]) == (0, 0, 255)  # red in BGR
    assert tuple(out[5, 8]) == (255, 255, 255)  # transparent -> white, not black


def test_palette_images_with_and_without_transparency():
    p = red_left_half().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    out = decode_image(encode(p))
    assert out.shape == (20, 40, 3) and out[10, 5, 2] > 200
    p.info["transparency"] = 0
    assert decode_image(encode(p, transparency=0)).shape == (20, 40, 3)


def test_16_bit_grayscale_scales_to_8_bit():
    ramp = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    img = Image.fromarray(ramp)  # mode I;16
    assert img.mode.startswith("I;16")
    out = decode_image(encode(img), gray=True)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out.ravel().astype(int)) >= 0)  # order kept


def test_32_bit_and_float_modes_are_stretched():
    arr = (np.arange(64, dtype=np.int32).reshape(8, 8) * 1000)
    out = decode_image(encode(Image.fromarray(arr, "I"), "TIFF"), gray=True)
    assert out.min() == 0 and out.max() == 255
    f = Image.fromarray(np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8), "F")
    out = decode_image(encode(f, "TIFF"), gray=True)
    assert out.min() == 0 and out.max() == 255


def test_cmyk_and_one_bit_images():
    cmyk = red_left_half().convert("CMYK")
    out = decode_image(encode(cmyk, "JPEG"))
    assert out.shape == (20, 40, 3) and out[10, 5, 2] > 180
    bw = Image.fromarray(np.eye(8, dtype=bool))
    out = decode_image(encode(bw), gray=True)
    assert set(np.unique(out)) == {0, 255}


def test_exif_orientation_is_applied():
    img = red_left_half(40, 20)  # landscape, red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = decode_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.shape == (40, 20, 3)  # now portrait
    assert out[5, 10, 2] > 200 and out[35, 10, 0] > 200  # red moved to the top, blue to the bottom
    exif[0x0112] = 3  # upside down
    out = decode_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.shape == (20, 40, 3) and out[10, 35, 2] > 200  # red now on the right


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"this is a text file, not a photo", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image|corrupt"),
    (b"\xff\xd8\xff\xe0 a JPEG header and nothing else", "not an image|corrupt"),
])
def test_bad_bytes_raise_clear_errors(data, match):
    with pytest.raises(ImageDecodeError, match=match) as info:
        decode_image(data, name="holiday.jpg")
    assert "holiday.jpg" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_image_is_reported_as_corrupt():
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2], name="cut.jpg")


def test_too_many_pixels_is_refused_before_decoding():
    bomb = png_with_declared_size(10_000, 10_000)  # 100 MP: over our 50 MP limit
    assert len(bomb) < 100
    with pytest.raises(ImageDecodeError, match="too large") as info:
        decode_image(bomb, name="bomb.png")
    assert "bomb.png" in str(info.value) and "10000x10000" in str(info.value)
    assert isinstance(info.value, ImageTooLargeError)  # the API answers these with 413, other decode errors with 400
    with pytest.raises(ImageDecodeError, match="bomb.png: image too large"):  # beyond Pillow's own limit too
        decode_image(png_with_declared_size(100_000, 100_000), name="bomb.png")
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(encode(red_left_half()), max_pixels=100)


def test_to_uint8_and_check_image():
    assert to_uint8(np.array([0, 65535], np.uint16)).tolist() == [0, 255]
    assert to_uint8(np.array([0.0, 0.5, 1.0])).tolist() == [0, 128, 255]
    assert to_uint8(np.array([0.0, 300.0])).tolist() == [0, 255]
    assert to_uint8(np.array([True, False])).tolist() == [255, 0]
    assert check_image(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5)
    for bad in (np.zeros((4, 5, 2)), np.zeros(5), np.zeros((0, 5))):
        with pytest.raises(ValueError, match="Received: shape="):
            check_image(bad)


def test_colour_conversions():
    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 2] = 255
    assert to_bgr(bgra).shape == (3, 3, 3) and to_bgr(bgra)[0, 0, 2] == 255
    assert to_gray(bgra).shape == (3, 3)
    assert to_bgr(np.zeros((3, 3), np.uint8)).shape == (3, 3, 3)


def test_resize_max_side():
    img = np.zeros((1000, 2000, 3), np.uint8)
    small, scale = resize_max_side(img, 500)
    assert small.shape == (250, 500, 3) and scale == 0.25
    same, scale = resize_max_side(img, 4000)
    assert same is img and scale == 1.0


def test_crop_face_is_square_centred_with_the_training_margin():
    img = np.arange(200 * 300, dtype=np.uint32).reshape(200, 300).astype(np.uint8)
    crop = crop_face(img, (100, 50, 60, 60))
    side = round(60 * (1 + 2 * FACE_MARGIN))
    assert crop.shape == (side, side)
    assert FACE_MARGIN < 0.05  # FER2013 faces are the Haar box itself (see preprocessing's docstring)
    big = crop_face(img, (100, 50, 60, 60), margin=0.5)
    assert big.shape == (120, 120)
    assert np.array_equal(big[30:90, 30:90], img[50:110, 100:160])  # the box sits in the middle


def test_crop_face_at_the_border_replicates_edges():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :10] = 200
    crop = crop_face(img, (0, 0, 40, 40), margin=0.25)
    assert crop.shape == (60, 60, 3)
    assert crop[30, 0, 0] == 200  # padding on the left repeats the bright edge column
    with pytest.raises(ValueError, match="outside the image"):
        crop_face(img, (500, 500, 10, 10))
    with pytest.raises(ValueError, match="positive width"):
        crop_face(img, (0, 0, 0, 10))
    assert len(crop_faces(img, [(0, 0, 10, 10), (50, 50, 20, 20)])) == 2


def test_encode_png_round_trip():
    img = np.random.default_rng(1).integers(0, 255, (12, 9, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(encode_png(img)), img)


def test_crop_face_aligned_levels_the_eye_line_and_checks_its_inputs():
    import cv2

    from fer_core.inference.preprocessing import crop_face_aligned

    img = np.zeros((200, 200), np.uint8)
    cv2.circle(img, (80, 90), 4, 255, -1)  # eyes on a line falling by 20 px over 40 px
    cv2.circle(img, (120, 110), 4, 200, -1)
    crop = crop_face_aligned(img, (50, 50, 100, 100), ((80, 90), (120, 110)), margin=0.0)
    assert crop.shape == (100, 100)
    (ly, lx), (ry, rx) = (np.argwhere(crop == v).mean(axis=0) for v in (255, 200))
    assert abs(ly - ry) < 1.0 and rx - lx == pytest.approx(np.hypot(40, 20), abs=1.5)  # level, same distance
    level = crop_face_aligned(img, (50, 50, 100, 100), ((80, 100), (120, 100)), margin=0.0)
    assert np.array_equal(level, img[50:150, 50:150])  # eyes already level: the plain crop
    for box, eyes in [((0, 0, 0, 10), ((1, 1), (2, 2))), ((500, 500, 10, 10), ((1, 1), (2, 2))),
                      ((0, 0, 10, 10), ((1, float("nan")), (2, 2))), ((0, 0, 10, 10), ((1, 1),))]:
        with pytest.raises(ValueError, match="Received"):
            crop_face_aligned(img, box, eyes)


def test_histogram_flatness_tells_equalised_images_apart():
    rng = np.random.default_rng(0)
    dull = rng.normal(110, 15, (20, 48, 48)).clip(0, 255).astype(np.uint8)
    equalised = np.stack([cv2.equalizeHist(im) for im in dull])
    assert histogram_flatness(equalised) < EQUALIZED_FLATNESS < histogram_flatness(dull)
    colour = np.dstack([dull[0], dull[1], dull[2]])
    out = equalize_crop(colour)
    assert out.shape == colour.shape and out.dtype == np.uint8
    assert equalize_crop(dull[0][..., None]).shape == (48, 48, 1)
