//! Reading certificates, private keys and CRLs from PEM files. Every error names
//! the file and what is wrong with it; none ever shows key bytes.

use std::path::Path;

use rustls_pki_types::pem::PemObject;

use super::TlsFileError;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// Every certificate in a PEM file (a chain: the end-entity first). Empty is an error.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(content(path, "no CERTIFICATE section found"));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let bytes = read(path)?;
    // The parser's error never quotes the file's content.
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| content(path, format!("no usable private key: {e}")))
}

/// Every CRL in a PEM file (`X509 CRL` sections) or one DER-encoded CRL.
pub fn revocation_lists(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsFileError> {
    let bytes = read(path)?;
    if bytes.first() == Some(&0x30) {
        // A DER SEQUENCE: the file is one binary CRL.
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(path, format!("not a PEM CRL file: {e}")))?;
    if crls.is_empty() {
        return Err(content(path, "no X509 CRL section found"));
    }
    Ok(crls)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn content(path: &Path, problem: impl Into<String>) -> TlsFileError {
    TlsFileError::Content {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("tls-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        assert!(certificates(&missing)
            .unwrap_err()
            .to_string()
            .contains("missing.pem"));
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not pem at all\n").unwrap();
        let e = certificates(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no CERTIFICATE"),
            "{e}"
        );
        let e = private_key(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.pem") && e.contains("private key"), "{e}");
        let e = revocation_lists(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.pem") && e.contains("CRL"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
