//! The principal of a TLS client: its certificate's subject distinguished name as Java's
//! `X500Principal.getName()` writes it (RFC 2253: the last RDN first, `CN=alice,OU=eng,O=Acme,C=US`),
//! mapped by `ssl.principal.mapping.rules`; `User:ANONYMOUS` without a certificate.
//!
//! References: Kafka's `DefaultKafkaPrincipalBuilder` and `SslPrincipalMapper` (KIP-371);
//! RFC 2253 section 2; Java's `X500Principal.getName(RFC2253)`.

use x509_parser::prelude::FromDer;

use crate::config::ssl::PrincipalMappingRules;
use crate::security::KafkaPrincipal;

/// Why a client certificate gives no principal.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrincipalError {
    /// The certificate does not parse.
    #[error("cannot read the client certificate: {0}")]
    Certificate(String),
    /// No mapping rule applies (Kafka's `NoMatchingRule`).
    #[error("No rules apply to {0}")]
    NoMatchingRule(String),
}

/// The principal of a client whose certificate chain (leaf first) is `peer_certificates`
/// (`None` or empty without a certificate): `User:<mapped DN>` or `User:ANONYMOUS`.
///
/// Errors: a certificate that does not parse, or a DN no rule applies to.
pub(crate) fn ssl_principal(
    peer_certificates: Option<&[rustls_pki_types::CertificateDer<'_>]>,
    rules: &PrincipalMappingRules,
) -> Result<KafkaPrincipal, PrincipalError> {
    let Some(leaf) = peer_certificates.and_then(|c| c.first()) else {
        return Ok(KafkaPrincipal::anonymous());
    };
    let dn = subject_distinguished_name(leaf.as_ref())?;
    let name = rules.apply(&dn).ok_or(PrincipalError::NoMatchingRule(dn))?;
    Ok(KafkaPrincipal {
        principal_type: "User".into(),
        name,
    })
}

/// The subject of the DER certificate `certificate` in RFC 2253 form, as Java's
/// `X500Principal.getName()`: RDNs last first, separated by `,`; attributes of one RDN by
/// `+`; known types by keyword (CN, C, L, ST, O, OU, STREET, DC, UID), others as
/// `<oid>=#<hex of the DER value>`.
///
/// Errors: a certificate that does not parse.
pub(crate) fn subject_distinguished_name(certificate: &[u8]) -> Result<String, PrincipalError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(certificate)
        .map_err(|e| PrincipalError::Certificate(e.to_string()))?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let attributes: Vec<String> = rdn
            .iter()
            .map(|attribute| {
                let oid = attribute.attr_type().to_id_string();
                let value = attribute.attr_value();
                let keyword = keyword(&oid);
                let text = match keyword {
                    Some(_) => string_value(value.header.tag().0, value.data),
                    None => None,
                };
                match (keyword, text) {
                    (Some(keyword), Some(text)) => format!("{keyword}={}", escape(&text)),
                    (name, _) => {
                        let mut der = Vec::with_capacity(value.data.len() + 4);
                        der.push(
                            value
                                .header
                                .raw_tag()
                                .and_then(|t| t.first().copied())
                                .unwrap_or(value.header.tag().0 as u8),
                        );
                        push_length(&mut der, value.data.len());
                        der.extend_from_slice(value.data);
                        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                        format!("{}=#{hex}", name.unwrap_or(&oid))
                    }
                }
            })
            .collect();
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The text of a DirectoryString (or IA5String) value, by its universal tag number.
fn string_value(tag: u32, data: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, NumericString, PrintableString, TeletexString, IA5String, VisibleString
        12 | 18 | 19 | 20 | 22 | 26 => Some(String::from_utf8_lossy(data).into_owned()),
        // BMPString: UTF-16BE.
        30 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        // UniversalString: UTF-32BE.
        28 => Some(
            data.chunks_exact(4)
                .filter_map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        _ => None,
    }
}

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    out.push(0x80 | bytes.len() as u8);
    out.extend_from_slice(&bytes);
}

/// RFC 2253 escaping as Java does it: `,=+<>#;"\` get a backslash (`#` only first), and so do
/// a leading and a trailing space.
fn escape(value: &str) -> String {
    let count = value.chars().count();
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = match c {
            ',' | '=' | '+' | '<' | '>' | ';' | '"' | '\\' => true,
            '#' => i == 0,
            ' ' => i == 0 || i + 1 == count,
            _ => false,
        };
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_rfc_2253() {
        assert_eq!(escape("Acme, Inc."), "Acme\\, Inc.");
        assert_eq!(escape("#1 a+b "), "\\#1 a\\+b\\ ");
        assert_eq!(escape("plain name"), "plain name");
    }

    #[test]
    fn subject_is_formatted_as_java_x500_principal() -> Result<(), Box<dyn std::error::Error>> {
        use rcgen::{CertificateParams, DnType, KeyPair};
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (ty, value) in [
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Acme, Inc."),
            (DnType::OrganizationalUnitName, "eng"),
            (DnType::CommonName, "alice"),
        ] {
            params.distinguished_name.push(ty, value);
        }
        params.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            rcgen::DnValue::Ia5String("a@b.c".try_into()?),
        );
        let cert = params.self_signed(&key)?;
        assert_eq!(
            subject_distinguished_name(cert.der())?,
            "1.2.840.113549.1.9.1=#16056140622e63,CN=alice,OU=eng,O=Acme\\, Inc.,C=US"
        );
        let rules = PrincipalMappingRules::parse("RULE:^.*CN=([^,]*),.*$/$1/U")?;
        let principal = ssl_principal(Some(std::slice::from_ref(cert.der())), &rules)?;
        assert_eq!(principal.to_string(), "User:ALICE");
        Ok(())
    }

    #[test]
    fn no_certificate_is_anonymous() -> Result<(), PrincipalError> {
        let principal = ssl_principal(None, &PrincipalMappingRules::default())?;
        assert_eq!(principal.to_string(), "User:ANONYMOUS");
        Ok(())
    }
}
