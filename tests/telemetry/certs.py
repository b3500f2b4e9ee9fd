"""A throwaway PKI for the TLS tests: a CA, a broker certificate for 127.0.0.1, client certs."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    broker_cert: Path
    broker_key: Path
    directory: Path

    def client(self, common_name: str) -> tuple[Path, Path]:
        """A client certificate and key whose CN is `common_name`, signed by the CA."""
        return _signed(self.directory, common_name, self.ca_cert, san=None)


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("openssl is not installed (Debian: apt-get install openssl)")
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True)


def _signed(directory: Path, name: str, ca_cert: Path, san: str | None) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    _openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={name}",
        cwd=directory,
    )
    extensions = directory / f"{name}.ext"
    extensions.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_cert),
        "-CAkey",
        str(directory / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(extensions),
        cwd=directory,
    )
    return cert, key


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    _openssl(
        "req",
        "-x509",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_cert),
        "-days",
        "2",
        "-subj",
        "/CN=test fleet CA",
        cwd=directory,
    )
    broker_cert, broker_key = _signed(directory, "broker", ca_cert, san="IP:127.0.0.1")
    return Pki(ca_cert, broker_cert, broker_key, directory)
