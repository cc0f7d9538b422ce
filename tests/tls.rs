//! SSL listeners with real clients: librdkafka over TLS against certificates made here with
//! rcgen, stores in every format Kafka reads (PEM files and inline values, encrypted PKCS#8
//! keys, JKS and PKCS12 made with keytool), client authentication none / requested /
//! required, and a PLAINTEXT + SSL listener pair.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rdkafka::producer::BaseRecord;
use rdkafka::producer::Producer;

use crate::common::*;
use crate::watchdog;

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, as PEM
/// files in a temporary directory.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

impl Pki {
    pub(crate) fn new() -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "josefine test CA");
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params.distinguished_name = rcgen::DistinguishedName::new();
        client_params
            .distinguished_name
            .push(DnType::CountryName, "US");
        client_params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        client_params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "eng");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "alice");
        let client_cert = client_params.signed_by(&client_key, &issuer)?;

        let pki = Self {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            dir,
        };
        std::fs::write(pki.path("ca.pem"), &pki.ca_pem)?;
        std::fs::write(pki.path("server.pem"), &pki.server_cert_pem)?;
        std::fs::write(pki.path("server.key"), &pki.server_key_pem)?;
        std::fs::write(
            pki.path("server-store.pem"),
            format!("{}{}", pki.server_key_pem, pki.server_cert_pem),
        )?;
        std::fs::write(pki.path("client.pem"), client_cert.pem())?;
        std::fs::write(pki.path("client.key"), client_key.serialize_pem())?;
        Ok(pki)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Broker properties of one SSL listener on 127.0.0.1:0 with the server certificate as a
    /// PEM key store; with `client_auth`, also `ssl.client.auth` and the CA as trust store.
    pub(crate) fn ssl_broker(&self, client_auth: Option<&str>) -> Vec<(&'static str, String)> {
        let mut properties = vec![
            ssl_listener(),
            ("ssl.keystore.type", "PEM".into()),
            ("ssl.keystore.location", self.file("server-store.pem")),
        ];
        if let Some(client_auth) = client_auth {
            properties.push(("ssl.truststore.type", "PEM".into()));
            properties.push(("ssl.truststore.location", self.file("ca.pem")));
            properties.push(("ssl.client.auth", client_auth.into()));
        }
        properties
    }

    /// librdkafka settings of a TLS client trusting the CA; with the client certificate when
    /// `with_certificate`.
    pub(crate) fn client(&self, with_certificate: bool) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("security.protocol", "ssl".to_string()),
            ("ssl.ca.location", self.file("ca.pem")),
        ];
        if with_certificate {
            out.push(("ssl.certificate.location", self.file("client.pem")));
            out.push(("ssl.key.location", self.file("client.key")));
        }
        out
    }
}

fn start(properties: &[(&str, String)]) -> TestResult<josefine::BlockingBroker> {
    let mut builder = josefine::Broker::builder();
    for (key, value) in properties {
        builder = builder.property(*key, value.clone());
    }
    Ok(builder.start_blocking()?)
}

fn refs<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Produces `count` records to a new topic and consumes them back over `client` settings.
pub(crate) fn round_trip(
    bootstrap: &str,
    client: &[(&'static str, String)],
    topic: &str,
) -> TestResult {
    let count = 200;
    let mut settings = refs(client);
    let (producer, deliveries) = producer(bootstrap, &settings)?;
    for i in 0..count {
        let payload = format!("secret record {i}");
        enqueue(
            &producer,
            BaseRecord::to(topic).key("k").payload(payload.as_bytes()),
        )?;
    }
    let reports = flush(&producer, &deliveries)?;
    assert_eq!(reports.len(), count);
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    settings.push(("group.id", "tls-tests"));
    let consumer = consumer(bootstrap, &settings)?;
    assign_from_beginning(&consumer, topic, 1)?;
    let records = consume(&consumer, count)?;
    assert_eq!(
        records.last().and_then(|r| r.payload.clone()),
        Some(format!("secret record {}", count - 1).into_bytes())
    );
    Ok(())
}

/// Whether a client with `client` settings gets metadata from `bootstrap`.
fn can_connect(bootstrap: &str, client: &[(&'static str, String)]) -> TestResult<bool> {
    let (producer, _) = producer(bootstrap, &refs(client))?;
    Ok(producer
        .client()
        .fetch_metadata(None, Duration::from_secs(5))
        .is_ok())
}

fn ssl_listener() -> (&'static str, String) {
    ("listeners", "SSL://127.0.0.1:0".to_string())
}

#[test]
fn ssl_round_trip_with_a_pem_key_store_file() -> TestResult {
    let _watchdog = watchdog::guard();
    let pki = Pki::new()?;
    let broker = start(&pki.ssl_broker(None))?;
    round_trip(
        &broker.bootstrap_servers(),
        &pki.client(false),
        "tls-pem-file",
    )
}

#[test]
fn client_auth_required_refuses_a_client_without_a_certificate() -> TestResult {
    let _watchdog = watchdog::guard();
    let pki = Pki::new()?;
    // Inline PEM values, per listener.
    let broker = start(&[
        ssl_listener(),
        ("listener.name.ssl.ssl.keystore.type", "PEM".into()),
        (
            "listener.name.ssl.ssl.keystore.key",
            pki.server_key_pem.clone(),
        ),
        (
            "listener.name.ssl.ssl.keystore.certificate.chain",
            pki.server_cert_pem.clone(),
        ),
        ("listener.name.ssl.ssl.truststore.type", "PEM".into()),
        (
            "listener.name.ssl.ssl.truststore.certificates",
            pki.ca_pem.clone(),
        ),
        ("listener.name.ssl.ssl.client.auth", "required".into()),
    ])?;
    let bootstrap = broker.bootstrap_servers();
    assert!(
        !can_connect(&bootstrap, &pki.client(false))?,
        "no certificate, no service"
    );
    round_trip(&bootstrap, &pki.client(true), "tls-required")?;
    Ok(())
}

#[test]
fn client_auth_requested_accepts_clients_with_and_without_certificates() -> TestResult {
    let _watchdog = watchdog::guard();
    let pki = Pki::new()?;
    let broker = start(&pki.ssl_broker(Some("requested")))?;
    let bootstrap = broker.bootstrap_servers();
    assert!(can_connect(&bootstrap, &pki.client(false))?);
    assert!(can_connect(&bootstrap, &pki.client(true))?);
    Ok(())
}

/// Runs `program args`, failing with its output when it fails.
fn run(program: &str, args: &[&str]) -> TestResult {
    let output = Command::new(program).args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn have(program: &str, probe: &str) -> bool {
    Command::new(program)
        .arg(probe)
        .output()
        .is_ok_and(|o| o.status.success() || !o.stderr.is_empty() || !o.stdout.is_empty())
}

/// Encrypted PKCS#8 keys as `openssl pkcs8 -topk8` writes them: PBES2 (AES-256-CBC) and
/// the legacy PBE-SHA1-3DES, inline with `ssl.key.password`.
#[test]
fn encrypted_pkcs8_keys_pbes2_and_legacy_3des() -> TestResult {
    let _watchdog = watchdog::guard();
    if !have("openssl", "version") {
        println!("skipped: the openssl command is not installed");
        return Ok(());
    }
    let pki = Pki::new()?;
    for (name, scheme) in [
        ("pbes2", &["-v2", "aes-256-cbc"][..]),
        ("3des", &["-v1", "PBE-SHA1-3DES"][..]),
    ] {
        let out = pki.file(&format!("server-{name}.key"));
        let mut args = vec!["pkcs8", "-topk8", "-in"];
        let input = pki.file("server.key");
        args.push(&input);
        args.extend_from_slice(&["-out", &out, "-passout", "pass:key-secret"]);
        args.extend_from_slice(scheme);
        run("openssl", &args)?;
        let encrypted = std::fs::read_to_string(&out)?;
        assert!(encrypted.contains("ENCRYPTED PRIVATE KEY"), "{encrypted}");
        let broker = start(&[
            ssl_listener(),
            ("ssl.keystore.type", "PEM".into()),
            ("ssl.keystore.key", encrypted.clone()),
            (
                "ssl.keystore.certificate.chain",
                pki.server_cert_pem.clone(),
            ),
            ("ssl.key.password", "key-secret".into()),
        ])?;
        assert!(
            can_connect(&broker.bootstrap_servers(), &pki.client(false))?,
            "{name}"
        );
        drop(broker);
        let wrong = josefine::Broker::builder()
            .property("listeners", "SSL://127.0.0.1:0")
            .property("ssl.keystore.type", "PEM")
            .property("ssl.keystore.key", encrypted)
            .property(
                "ssl.keystore.certificate.chain",
                pki.server_cert_pem.clone(),
            )
            .property("ssl.key.password", "not-the-password")
            .start_blocking()
            .map(|_| ())
            .unwrap_err();
        assert!(
            wrong.to_string().contains("ssl.keystore.key"),
            "{name}: {wrong}"
        );
    }
    Ok(())
}

/// Builds the broker's stores with keytool from the PEM files: `server.<ext>` holding the key
/// (alias `server`) and `trust.<ext>` holding the CA, of `store_type`.
fn keytool_stores(
    pki: &Pki,
    store_type: &str,
    ext: &str,
    store_password: &str,
    key_password: &str,
) -> TestResult<(PathBuf, PathBuf)> {
    let p12 = pki.file("server-openssl.p12");
    run(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-in",
            &pki.file("server.pem"),
            "-inkey",
            &pki.file("server.key"),
            "-name",
            "server",
            "-out",
            &p12,
            "-passout",
            "pass:transfer",
        ],
    )?;
    let keystore = pki.path(&format!("server.{ext}"));
    let truststore = pki.path(&format!("trust.{ext}"));
    let keystore_name = keystore.display().to_string();
    let truststore_name = truststore.display().to_string();
    let mut import = vec![
        "-importkeystore",
        "-noprompt",
        "-srckeystore",
        &p12,
        "-srcstoretype",
        "PKCS12",
        "-srcstorepass",
        "transfer",
        "-srcalias",
        "server",
        "-destalias",
        "server",
        "-destkeystore",
        &keystore_name,
        "-deststoretype",
        store_type,
        "-deststorepass",
        store_password,
    ];
    if store_type == "JKS" {
        import.extend_from_slice(&["-destkeypass", key_password]);
    }
    run("keytool", &import)?;
    run(
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-alias",
            "CARoot",
            "-file",
            &pki.file("ca.pem"),
            "-keystore",
            &truststore_name,
            "-storetype",
            store_type,
            "-storepass",
            store_password,
        ],
    )?;
    Ok((keystore, truststore))
}

fn keytool_available() -> bool {
    let ok = have("keytool", "-help") && have("openssl", "version");
    if !ok {
        println!("skipped: keytool (Java) and openssl are needed to make JKS and PKCS12 stores");
    }
    ok
}

/// RudderStack's broker set-up, verbatim where it is broker configuration: JKS stores made
/// with keytool, a key password different from the store password, client certificates
/// required, and TLSv1/TLSv1.1 listed (served as TLS 1.2 and 1.3, with a warning).
#[test]
fn keytool_jks_stores_with_rudderstack_broker_lines() -> TestResult {
    let _watchdog = watchdog::guard();
    if !keytool_available() {
        return Ok(());
    }
    let pki = Pki::new()?;
    let (keystore, truststore) = keytool_stores(&pki, "JKS", "jks", "store-secret", "key-secret")?;
    let properties = [
        ssl_listener(),
        ("ssl.keystore.location", keystore.display().to_string()),
        ("ssl.keystore.password", "store-secret".to_string()),
        ("ssl.key.password", "key-secret".to_string()),
        ("ssl.truststore.location", truststore.display().to_string()),
        ("ssl.truststore.password", "store-secret".to_string()),
        ("ssl.client.auth", "required".to_string()),
        ("ssl.enabled.protocols", "TLSv1.2,TLSv1.1,TLSv1".to_string()),
        ("ssl.keystore.type", "JKS".to_string()),
        ("ssl.truststore.type", "JKS".to_string()),
        ("ssl.endpoint.identification.algorithm", String::new()),
    ];
    let broker = start(&properties)?;
    let bootstrap = broker.bootstrap_servers();
    assert!(!can_connect(&bootstrap, &pki.client(false))?);
    round_trip(&bootstrap, &pki.client(true), "tls-jks")?;
    drop(broker);

    // A wrong key password fails the start, naming the store.
    let mut wrong = properties.to_vec();
    wrong[3].1 = "not-the-key-password".into();
    let err = start(&wrong).map(|_| ()).unwrap_err();
    assert!(
        err.to_string().contains(&keystore.display().to_string()),
        "{err}"
    );
    let mut wrong = properties.to_vec();
    wrong[2].1 = "not-the-store-password".into();
    let err = start(&wrong).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("password was incorrect"), "{err}");
    Ok(())
}

/// PKCS12 stores as Java 17's keytool writes them (PBES2 with AES, HMAC-SHA256).
#[test]
fn keytool_pkcs12_stores() -> TestResult {
    let _watchdog = watchdog::guard();
    if !keytool_available() {
        return Ok(());
    }
    let pki = Pki::new()?;
    let (keystore, truststore) =
        keytool_stores(&pki, "PKCS12", "p12", "store-secret", "store-secret")?;
    let broker = start(&[
        ssl_listener(),
        ("ssl.keystore.type", "PKCS12".into()),
        ("ssl.keystore.location", keystore.display().to_string()),
        ("ssl.keystore.password", "store-secret".into()),
        ("ssl.truststore.type", "PKCS12".into()),
        ("ssl.truststore.location", truststore.display().to_string()),
        ("ssl.truststore.password", "store-secret".into()),
        ("ssl.client.auth", "required".into()),
    ])?;
    let bootstrap = broker.bootstrap_servers();
    assert!(!can_connect(&bootstrap, &pki.client(false))?);
    round_trip(&bootstrap, &pki.client(true), "tls-pkcs12")
}

/// A client speaking plaintext Kafka to the SSL port is closed; the broker serves others.
#[test]
fn plaintext_client_on_the_ssl_port_is_closed_and_others_are_served() -> TestResult {
    let _watchdog = watchdog::guard();
    use std::io::{Read, Write};
    let pki = Pki::new()?;
    let broker = start(&pki.ssl_broker(None))?;
    let address = broker.local_addrs()[0];
    let mut socket = std::net::TcpStream::connect(address)?;
    socket.set_read_timeout(Some(PATIENCE))?;
    // An ApiVersions v0 request: size, api key 18, version 0, correlation id 1, no client id.
    socket.write_all(&[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff])?;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    // At most a TLS alert record (content type 21), never a Kafka response.
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");
    round_trip(
        &broker.bootstrap_servers(),
        &pki.client(false),
        "tls-after-garbage",
    )
}

/// PLAINTEXT and SSL listeners in one broker: Metadata advertises the listener the client
/// connected to.
#[test]
fn metadata_advertises_the_listener_connected_to() -> TestResult {
    let _watchdog = watchdog::guard();
    let pki = Pki::new()?;
    let broker = start(&[
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string(),
        ),
        ("ssl.keystore.type", "PEM".into()),
        ("ssl.keystore.location", pki.file("server-store.pem")),
    ])?;
    let addrs = broker.local_addrs();
    for (address, client) in [(addrs[0], Vec::new()), (addrs[1], pki.client(false))] {
        let (producer, _) = producer(&address.to_string(), &refs(&client))?;
        let metadata = producer.client().fetch_metadata(None, PATIENCE)?;
        let ports: Vec<i32> = metadata.brokers().iter().map(|b| b.port()).collect();
        assert_eq!(ports, vec![i32::from(address.port())]);
    }
    Ok(())
}

/// Bad TLS settings fail before any socket opens, naming the key.
#[test]
fn bad_tls_settings_fail_the_start() -> TestResult {
    let _watchdog = watchdog::guard();
    let err = start(&[ssl_listener()]).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("ssl.keystore.location"), "{err}");
    let pki = Pki::new()?;
    let err = start(&pki.ssl_broker(Some("always")))
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("ssl.client.auth"), "{err}");
    let missing: &Path = &pki.path("missing.jks");
    let err = start(&[
        ssl_listener(),
        ("ssl.keystore.location", missing.display().to_string()),
        ("ssl.keystore.password", "x".into()),
    ])
    .map(|_| ())
    .unwrap_err();
    assert!(err.to_string().contains("missing.jks"), "{err}");
    Ok(())
}

/// Python's confluent-kafka (its own librdkafka and OpenSSL) over SSL with a client
/// certificate the broker requires.
#[test]
fn confluent_kafka_python_over_ssl_with_a_client_certificate() -> TestResult {
    let _watchdog = watchdog::guard();
    let pki = Pki::new()?;
    let broker = start(&pki.ssl_broker(Some("required")))?;
    run_python(
        "confluent_kafka",
        "confluent-kafka",
        "tls.py",
        &[
            &broker.bootstrap_servers(),
            &pki.file("ca.pem"),
            &pki.file("client.pem"),
            &pki.file("client.key"),
        ],
        "python tls ok: 500 records",
    )?;
    Ok(())
}
