//! Running external commands, each echoed as `$ …` first, and small checks around them.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The workspace root (commands that read `docker-compose.yml` run there).
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// `target/test-packages` (under `CARGO_TARGET_DIR` when it is set): where `cargo xtask test`
/// installs the packages of other languages the tests run.
pub(crate) fn test_packages() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("test-packages")
}

fn echo(cmd: &Command) {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains([' ', '"', '\'']) {
            line.push_str(&format!(" '{}'", arg.replace('\'', r"'\''")));
        } else {
            line.push(' ');
            line.push_str(&arg);
        }
    }
    eprintln!("$ {line}");
}

/// Runs `cmd` with its output shown on standard error (standard output is kept for what xtask
/// prints, such as the URL of `db up`); fails unless it exits with success.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    echo(cmd);
    let status =
        cmd.stdout(std::io::stderr()).status().with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd.get_program());
    }
    Ok(())
}

/// Runs `cmd` and returns its standard output; fails (showing its standard error) unless it
/// exits with success.
pub(crate) fn read(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!("{:?} failed ({}): {}", cmd.get_program(), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `cmd` with its output captured, whatever its exit status.
pub(crate) fn output(cmd: &mut Command) -> Result<Output> {
    echo(cmd);
    cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {:?}", cmd.get_program()))
}

/// Whether `cmd` exits with success (its output is discarded; a missing program is a no).
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    echo(cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Whether the server of a `postgres://` URL accepts TCP connections within `timeout`.
pub(crate) fn answers(url: &str, timeout: Duration) -> bool {
    let Some((host, port)) = host_and_port(url) else {
        // A Unix socket or a form not parsed here: let the client find out.
        return true;
    };
    let Ok(addrs) = (host.as_str(), port).to_socket_addrs() else { return false };
    addrs.into_iter().any(|addr| TcpStream::connect_timeout(&addr, timeout).is_ok())
}

/// The first host and its port in `postgres://[user[:password]@]host[:port][,…][/db][?…]`.
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let first = hosts.split(',').next()?;
    let (host, port) = match first.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match first.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (first, None),
        },
    };
    if host.is_empty() {
        return None;
    }
    let port = port.map_or(Some(5432), |p| p.parse().ok())?;
    Some((host.to_owned(), port))
}

/// Keeps xtask alive on Ctrl-C so it can stop what it started: the terminal sends the signal to
/// the child it waits for too, which ends, and xtask cleans up on its normal path.
pub(crate) fn survive_ctrl_c() {
    // Fails only when a handler is already installed, which is as good.
    let _ = ctrlc::set_handler(|| eprintln!("xtask: interrupted; stopping what it started"));
}

#[cfg(test)]
mod tests {
    use super::host_and_port;

    #[test]
    fn host_and_port_are_read_from_every_url_form() {
        let hp = |u| host_and_port(u);
        assert_eq!(hp("postgres://u:p@db.example:6543/ad"), Some(("db.example".into(), 6543)));
        assert_eq!(hp("postgresql://db.example/ad?sslmode=require"), Some(("db.example".into(), 5432)));
        assert_eq!(hp("postgres://u@[::1]:5433/ad"), Some(("::1".into(), 5433)));
        assert_eq!(hp("postgres://u:p%40ss@h1:1,h2:2/ad"), Some(("h1".into(), 1)));
        assert_eq!(hp("postgres:///ad?host=/run/postgresql"), None);
    }
}
