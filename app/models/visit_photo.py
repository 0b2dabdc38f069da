"""A visit's photo (现场照片): checked before it is decoded, kept under instance/photos/ as a
file only its owner reads. Split from visit.py, which writes the visit that carries it."""
import io
import os

from flask_babel import lazy_gettext as _l

from app.files import private_folder, private_open

PHOTO_MAX_BYTES = 300 * 1024               # the phone sends ≤ 200 KB; room for a PNG fallback
PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# A phone's camera gives at most ~50 million pixels; a small file declaring more is a
# decompression bomb (48 KB of PNG can declare 20000 × 20000), refused before it is decoded.
PHOTO_MAX_PIXELS = 64_000_000


def check_photo(data, problems):
    """The file extension of an acceptable photo, or None with the problem added (too big,
    or not an image)."""
    if len(data) > PHOTO_MAX_BYTES:
        problems.add("photo", _l("The photo is too large (at most %(kb)s KB).", kb=PHOTO_MAX_BYTES // 1024))
        return None
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its own limit raises) on huge images: both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > PHOTO_MAX_PIXELS:
                    raise Image.DecompressionBombError(f"{width}x{height}")
                image.verify()
                kind = image.format
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        problems.add("photo", _l("The photo declares more pixels than a phone's camera takes: take it again."))
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        kind = None
    if kind not in PHOTO_FORMATS:
        problems.add("photo", _l("The photo is not a JPEG, PNG or WebP image."))
        return None
    return PHOTO_FORMATS[kind]


def photo_root():
    from flask import current_app

    return current_app.config.get("PHOTO_DIR") or os.path.join(current_app.instance_path, "photos")


def store_photo(visit, client_uuid, data, ext):
    """Write the photo under instance/photos/; (path relative to that folder, absolute path)."""
    relative = f"{visit.made_at:%Y%m}/{visit.id}-{client_uuid[:8]}.{ext}"
    absolute = os.path.join(photo_root(), relative)
    private_folder(photo_root())
    private_folder(os.path.dirname(absolute))
    with private_open(absolute, "wb") as out:
        out.write(data)
    return relative, absolute


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
