//! README's "A secured broker, end to end" run as written: its openssl commands make the
//! certificates, its `secure.properties` starts `josefine broker` (on port 0, advertising
//! what it bound), its Python admin client grants ACLs, and its kcat lines produce and consume
//! as `alice` and are refused as `bob`.

use std::path::Path;
use std::process::Command;

use crate::broker_process::BrokerProcess;
use crate::watchdog;

/// The fenced blocks of `language` in README's section `heading`, in order.
fn blocks(readme: &str, heading: &str, language: &str) -> anyhow::Result<Vec<String>> {
    let start = readme
        .find(heading)
        .ok_or_else(|| anyhow::anyhow!("README has no {heading}"))?;
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n### ").unwrap_or(section.len())];
    let fence = format!("```{language}\n");
    let mut out = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find(&fence) {
        let body = &rest[open + fence.len()..];
        let close = body
            .find("```")
            .ok_or_else(|| anyhow::anyhow!("unclosed block"))?;
        out.push(body[..close].to_string());
        rest = &body[close..];
    }
    Ok(out)
}

fn run(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<(String, String)> {
    let output = Command::new(program).args(args).current_dir(dir).output()?;
    Ok((
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[test]
fn the_secured_broker_of_the_readme_works_as_written() -> anyhow::Result<()> {
    let _watchdog = watchdog::guard();
    for (tool, probe) in [("openssl", "version"), ("kcat", "-V")] {
        anyhow::ensure!(
            Command::new(tool).arg(probe).output().is_ok(),
            "{tool} is needed (bash .ci/run installs it)"
        );
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let heading = "### A secured broker, end to end";
    let shell = blocks(&readme, heading, "sh")?;
    let properties = blocks(&readme, heading, "properties")?;
    let python = blocks(&readme, heading, "python")?;
    anyhow::ensure!(shell.len() == 3 && properties.len() == 1 && python.len() == 1);

    let dir = tempfile::tempdir()?;
    let (_, stderr) = run(dir.path(), "bash", &["-ec", &shell[0]])?;
    anyhow::ensure!(
        dir.path().join("broker-store.pem").exists(),
        "the openssl commands made no store: {stderr}"
    );
    // Port 0 instead of 9093, and the bound address advertised instead of localhost:9093.
    let secure = properties[0]
        .replace("127.0.0.1:9093", "127.0.0.1:0")
        .lines()
        .filter(|line| !line.starts_with("advertised.listeners"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("secure.properties"), secure)?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_josefine"));
    command
        .args(["broker", "secure.properties"])
        .current_dir(dir.path());
    let broker = BrokerProcess::spawn(command, None)?;
    let at = |text: &str| text.replace("localhost:9093", &broker.bootstrap);

    let (stdout, stderr) = run(dir.path(), "python3", &["-c", &at(&python[0])])?;
    assert!(stdout.contains("orders is alice's"), "{stdout}\n{stderr}");

    let (stdout, stderr) = run(dir.path(), "bash", &["-c", &at(&shell[2])])?;
    assert_eq!(stdout.trim(), "order 1", "{stderr}");
    assert!(
        stderr.contains("Topic authorization failed"),
        "bob was not refused: {stderr}"
    );
    Ok(())
}
