"""Test PKI for the admin API tests, generated at test time (STYLE §c40): tenant CAs,
verification certificates for registration codes (SPEC §4.4), device certificates and
x5c JWTs (SPEC §4.1), with the `cryptography` package (Debian python3-cryptography)."""

import base64
import datetime
import json
import time
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

AUDIENCE = "MQTTBroker"
SCHEMAS = ["urn:siemens:mindsphere:v1"]
USERNAME = "_CertificateBearer"


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portcullis tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _validity(builder: x509.CertificateBuilder, hours: int = 2) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(hours=hours))


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


class CA:
    """A self-signed tenant CA (basicConstraints CA:TRUE unless is_ca=False)."""

    def __init__(self, cn: str | None = None, is_ca: bool = True, bits: int = 2048, key_cert_sign: bool = True):
        self.key = new_key(bits)
        self.name = _name(cn or f"Test CA {uuid.uuid4().hex[:8]}")
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        b = _validity(x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                      .public_key(self.key.public_key()).serial_number(x509.random_serial_number()), 24)
        b = b.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        b = b.add_extension(ski, critical=False)
        if is_ca:
            b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                              key_encipherment=False, data_encipherment=False,
                                              key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=True,
                                              encipher_only=False, decipher_only=False), critical=True)
        self.cert = b.sign(self.key, hashes.SHA256())

    @property
    def pem(self) -> str:
        return pem(self.cert)

    def verification(self, code: str, signing_key=None, valid_from_hours: float | None = None) -> str:
        """A verification certificate with subject CN = code, issued by this CA (signed by
        `signing_key`, default the CA key: proof of possession). valid_from_hours: notBefore
        that many hours from now, valid for one hour (default: valid now)."""
        key = new_key()
        b = x509.CertificateBuilder().subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, code)])).issuer_name(self.name)\
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
        if valid_from_hours is None:
            b = _validity(b)
        else:
            start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=valid_from_hours)
            b = b.not_valid_before(start).not_valid_after(start + datetime.timedelta(hours=1))
        return pem(b.sign(signing_key or self.key, hashes.SHA256()))

    def device(self, client_id: str):
        """(key, cert): a v3 device certificate with keyUsage digitalSignature and AKI."""
        key = new_key()
        b = _validity(x509.CertificateBuilder().subject_name(_name(client_id)).issuer_name(self.name)
                      .public_key(key.public_key()).serial_number(x509.random_serial_number()))
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=False, crl_sign=False,
                                          encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                            critical=False)
        return key, b.sign(self.key, hashes.SHA256())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(device_key, device_cert, ca: CA, client_id: str, tenant: str = "", lifetime: int = 600) -> str:
    """An RS256 x5c JWT as SPEC §4.1 wants it (chain: device, CA)."""
    header = {"alg": "RS256", "typ": "JWT", "x5c": [der_b64(device_cert), der_b64(ca.cert)]}
    iat = int(time.time())
    claims = {"jti": uuid.uuid4().hex, "iss": client_id, "sub": client_id, "aud": [AUDIENCE],
              "iat": iat, "exp": iat + lifetime, "schemas": SCHEMAS, "ten": tenant}
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = device_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(sig)
