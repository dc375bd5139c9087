#!/usr/bin/env python3
"""Write a throwaway certificate authority and a server certificate for 127.0.0.1 and localhost.

Run it with the venv's python (scripts/setup-test-env makes it; `cryptography` comes with moto):

    .venv/bin/python scripts/tls-test-cert.py --dir DIR

Writes DIR/ca.pem (the authority's certificate, what a client is told to trust), DIR/server.pem
(the server's certificate) and DIR/server-key.pem (its private key), for a local moto server
started with `--ssl-cert` and `--ssl-key`. Both keys are made fresh on every run and the
authority's key is never written: nothing here is worth keeping.
"""

import argparse
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="directory to write the three files into")
    args = parser.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc)
    # A day either side: clocks of a test machine and its containers may disagree a little.
    not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("ses-dkim test authority")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    os.makedirs(args.dir, exist_ok=True)
    pem = serialization.Encoding.PEM
    with open(os.path.join(args.dir, "ca.pem"), "wb") as out:
        out.write(ca.public_bytes(pem))
    with open(os.path.join(args.dir, "server.pem"), "wb") as out:
        out.write(server.public_bytes(pem))
    key_path = os.path.join(args.dir, "server-key.pem")
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(
            server_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
