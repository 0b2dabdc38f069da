"""Personal data kept safe: ID numbers (GB 11643) encrypted at rest, hashed for
duplicate look-ups, and masked with phones wherever a list shows them.

The key comes from config `ID_NUMBER_KEY` (a Fernet key); the look-up hash is an
HMAC under a key derived from it, so a leaked table cannot be matched against a
list of ID numbers without the key.
"""
import datetime as dt
import hashlib
import hmac
import operator
import re

from cryptography.fernet import Fernet
from flask import current_app

from app import clock

# GB 11643-1999: weights of the first 17 digits, and the check character for sum mod 11.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
ID_PATTERN = re.compile(r"^\d{17}[\dX]$")
PHONE_PATTERN = re.compile(r"^1\d{10}$")


class InvalidIdNumber(ValueError):
    """Why an ID number was refused; the message is an English msgid for the form."""


def check_digit(first17):
    """The GB 11643 check character of the first 17 digits."""
    return CHECK_CHARS[sum(map(operator.mul, map(int, first17), WEIGHTS)) % 11]


def normalise_id(text):
    return (text or "").strip().upper().replace(" ", "")


def validate_id_number(text, today=None):
    """The normalised ID number, or InvalidIdNumber saying what is wrong with it."""
    number = normalise_id(text)
    if not ID_PATTERN.match(number):
        raise InvalidIdNumber("An ID number has 18 digits (the last may be X).")
    if check_digit(number[:17]) != number[17]:
        raise InvalidIdNumber("The check digit of this ID number is wrong.")
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("The birth date in this ID number does not exist.") from None
    if born > (today or clock.today()):
        raise InvalidIdNumber("The birth date in this ID number is in the future.")
    return number


def _key():
    return current_app.config["ID_NUMBER_KEY"].encode()


def encrypt_id(number, fernet=None):
    """The ID number encrypted; a bulk caller passes its own Fernet (see id_cipher) to build it once."""
    return (fernet or Fernet(_key())).encrypt(number.encode()).decode()


def id_cipher():
    """A Fernet under the ID number key, for callers encrypting many numbers."""
    return Fernet(_key())


def decrypt_id(cipher):
    return Fernet(_key()).decrypt(cipher.encode()).decode() if cipher else ""


def hash_id(number, key=None):
    """A keyed hash of a normalised ID number: equal numbers, equal hashes; no key, no match.

    A bulk caller passes lookup_key() once instead of deriving it for every number.
    """
    return hmac.new(key or lookup_key(), normalise_id(number).encode(), hashlib.sha256).hexdigest()


def lookup_key():
    """The key of the look-up hash, derived from the ID number key."""
    return hmac.new(_key(), b"zerentian id-number lookup", hashlib.sha256).digest()


def mask_phone(phone):
    """138****5678: what lists show of a phone number."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_reference(reference):
    """****0001: what pages show of an account or contract number, only its last four characters.

    Separators are dropped, so the mask does not tell how the number is grouped; four
    characters or fewer show nothing at all.
    """
    text = "".join(ch for ch in (reference or "") if ch.isalnum())
    if not text:
        return ""
    return "****" + text[-4:] if len(text) > 4 else "****"


def mask_id(number):
    """5201**********1234: the region's first four digits and the last four."""
    if not number:
        return ""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
